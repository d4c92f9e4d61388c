// Admission cost with 100 gateways each holding a /16 IPv4 and a /64 IPv6 pool (goal: p99
// ≤ 10 ms). Side by side, the same 100 gateways holding one address each: a ratio near 1
// shows the cost does not grow with pool size (upstream listed every address, §8.20).
// Measured on the pure rules and through the HTTPS server on loopback.

import { mkdtemp } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pki } from '../lab/src/controlplane/pki.ts';
import { validate } from '../src/api/admission.ts';
import type { EgressGateway } from '../src/api/types.generated.ts';
import type { AdmissionContext } from '../src/api/validation/context.ts';
import { startWebhookServer } from '../src/controller/webhook/server.ts';
import { type BenchResult, ratioResult, sideBySide } from './lib.ts';

const sel = { selector: { matchLabels: { egw: 'x' } } };

function gateways(big: boolean): EgressGateway[] {
  return Array.from({ length: 100 }, (_, i) => ({
    metadata: { name: `gw-${i}` },
    spec: {
      ippools: big
        ? { ipv4: [`10.${i}.0.0/16`], ipv6: [`fd00:${i.toString(16)}::/64`] }
        : { ipv4: [`10.${i}.0.1`], ipv6: [`fd00:${i.toString(16)}::1`] },
      nodeSelector: sel,
    },
  }));
}

function context(gws: EgressGateway[]): AdmissionContext {
  return {
    enableIPv4: true,
    enableIPv6: true,
    listGateways: async () => gws,
    getGateway: async (n) => gws.find((g) => g.metadata?.name === n),
    namespaceLabels: async () => ({}),
  };
}

// A new gateway that passes every rule: its own /16 and an IPv6 range of the same size.
const candidate = {
  uid: 'bench',
  kind: { group: 'egressgateway.spidernet.io', version: 'v1beta1', kind: 'EgressGateway' },
  operation: 'CREATE' as const,
  name: 'candidate',
  object: {
    metadata: { name: 'candidate' },
    spec: { ippools: { ipv4: ['10.200.0.0/16'], ipv6: ['fd99::1-fd99::fffe'] }, nodeSelector: sel },
  },
};

export default async function (): Promise<BenchResult[]> {
  const bigCtx = context(gateways(true));
  const smallCtx = context(gateways(false));
  const check = await validate(candidate, bigCtx);
  if (!check.allowed) throw new Error(`benchmark object refused: ${check.message}`);

  const rules = await sideBySide(
    () => validate(candidate, bigCtx),
    () => validate(candidate, smallCtx),
    { rounds: 5, iterations: 200 },
  );

  const pki = new Pki(join(await mkdtemp(join(tmpdir(), 'egw-bench-')), 'pki'));
  await pki.ensureCa();
  const cert = await pki.issue({ file: 'w', commonName: 'w', ips: ['127.0.0.1'], usage: 'server' });
  const { readFileSync } = await import('node:fs');
  const ca = readFileSync(pki.ca.cert);
  const servers = await Promise.all(
    [bigCtx, smallCtx].map((context) =>
      startWebhookServer({ certFile: cert.cert, keyFile: cert.key, port: 0, host: '127.0.0.1', context }),
    ),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: candidate,
  });
  const post = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/validate',
          method: 'POST',
          ca,
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const https = await sideBySide(
    () => post(servers[0]!.port),
    () => post(servers[1]!.port),
    { rounds: 5, iterations: 200 },
  );
  agent.destroy();
  await Promise.all(servers.map((s) => s.close()));

  const base = (t: { p99: number }) => ({ name: '100 gateways with single-address pools', value: t.p99 });
  return [
    ratioResult(
      'webhook rules p99, 100 gateways (/16 + /64 each)',
      'ms',
      rules.a.p99,
      base(rules.b),
      `p50 ${rules.a.p50.toFixed(3)} ms`,
    ),
    ratioResult(
      'webhook HTTPS /validate p99, 100 gateways (/16 + /64 each)',
      'ms',
      https.a.p99,
      base(https.b),
      `p50 ${https.a.p50.toFixed(3)} ms; loopback, keep-alive, one client`,
    ),
  ];
}
