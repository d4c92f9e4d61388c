// Controller at scale against a real (private) apiserver: Nodes, Pods and policies created as
// objects, then the controller started cold. Measures time to converge (every policy has
// its EIP and its endpoint slice), the controller process's RSS, and the lag from a pod
// label change to the endpoint-slice update under a steady stream of changes.
// Scale from EGW_SCALE_NODES/PODS/POLICIES/GATEWAYS (defaults: the 1000/30000/1000/10).
// Goals: converge ≤ 30 s, RSS ≤ 300 MiB, p99 lag ≤ 500 ms at 100 changes/s.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { destroyControlPlane, startControlPlane } from '../lab/src/index.ts';
import { toolBinary } from '../lab/src/paths.ts';
import { GROUP, VERSION } from '../src/api/schema/json-schema.ts';
import { run } from '../src/common/exec.ts';
import { createLogger } from '../src/common/log.ts';
import { Informer } from '../src/k8s/informer.ts';
import type { BenchResult } from './lib.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = Number(process.env['EGW_SCALE_NODES'] ?? 1000);
const P = Number(process.env['EGW_SCALE_PODS'] ?? 30000);
const POL = Number(process.env['EGW_SCALE_POLICIES'] ?? 1000);
const G = Number(process.env['EGW_SCALE_GATEWAYS'] ?? 10);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

export default async function (): Promise<BenchResult[]> {
  const dir = join(ROOT, '.bench-scale-cp');
  const cp = await startControlPlane({
    dir,
    apiserverArgs: ['--max-requests-inflight=2000', '--max-mutating-requests-inflight=1000'],
  });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await run(toolBinary('kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'apply',
      '-f',
      join(ROOT, 'charts/egressgateway/crds'),
    ]);
    await run(toolBinary('kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'wait',
      '--for=condition=Established',
      'crd',
      '--all',
    ]);
    const t0 = Date.now();
    const nodes = Array.from({ length: N }, (_, i) => i);
    await pool(nodes, 32, async (i) => {
      const name = `node-${i}`;
      await core.createNode({ body: { metadata: { name, labels: { gw: `g${i % G}` } } } });
      const now = new Date();
      await core.patchNodeStatus(
        {
          name,
          body: {
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Bench',
                  lastHeartbeatTime: now,
                  lastTransitionTime: now,
                },
              ],
              addresses: [{ type: 'InternalIP', address: `10.${Math.floor(i / 250)}.${i % 250}.1` }],
            },
          },
        },
        merge,
      );
    });
    await pool(
      Array.from({ length: G }, (_, g) => g),
      8,
      (g) =>
        custom.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egressgateways',
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'EgressGateway',
            metadata: { name: `gw-${g}` },
            spec: {
              ippools: { ipv4: [`100.${64 + g}.0.0/16`] },
              nodeSelector: { selector: { matchLabels: { gw: `g${g}` } } },
            },
          },
        }),
    );
    await pool(
      Array.from({ length: POL }, (_, p) => p),
      32,
      (p) =>
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egresspolicies',
          namespace: 'default',
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'EgressPolicy',
            metadata: { name: `p-${p}` },
            spec: {
              egressGatewayName: `gw-${p % G}`,
              egressIP: { useNodeIP: false, allocatorPolicy: 'rr' },
              appliedTo: { podSelector: { matchLabels: { app: `a${p}` } } },
            },
          },
        }),
    );
    await pool(
      Array.from({ length: P }, (_, i) => i),
      48,
      async (i) => {
        const name = `pod-${i}`;
        await core.createNamespacedPod({
          namespace: 'default',
          body: {
            metadata: { name, labels: { app: `a${i % POL}` } },
            spec: { nodeName: `node-${i % N}`, containers: [{ name: 'c', image: 'x' }] },
          },
        });
        const ip = `172.${16 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
        await core.patchNamespacedPodStatus(
          { name, namespace: 'default', body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
          merge,
        );
      },
    );
    const seeded = (Date.now() - t0) / 1000;

    // The controller in its own process (as in production), so its RSS is its own.
    // Tunnels are marked Ready by the bench, standing in for agents.
    const runner = join(dir, 'run-controller.ts');
    await writeFile(
      runner,
      `import { KubeConfig } from '@kubernetes/client-node';
import { parseConfig } from '${join(ROOT, 'src/common/config.ts')}';
import { createLogger } from '${join(ROOT, 'src/common/log.ts')}';
import { createControllers } from '${join(ROOT, 'src/controller/controller.ts')}';
const kc = new KubeConfig(); kc.loadFromFile(${JSON.stringify(cp.kubeconfigPath)});
const c = createControllers(kc, parseConfig({}, 'enableIPv4: true\\ntunnelIpv4Subnet: 192.200.0.0/16\\n'), createLogger('scale', 'error'));
c.start(); void c.lead(new AbortController().signal);
setInterval(() => process.send?.({ rss: process.memoryUsage().rss }), 1000);
`,
    );
    const tStart = Date.now();
    const child = spawn(process.execPath, [runner], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let rss = 0;
    child.on('message', (m: { rss: number }) => {
      rss = Math.max(rss, m.rss);
    });
    const log = createLogger('bench', 'error');
    const slices = new Informer<KubernetesObject & { endpoints?: { pod: string }[] }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressEndpointSlice',
      path: `/apis/${GROUP}/${VERSION}/egressendpointslices`,
      log,
    });
    const policies = new Informer<KubernetesObject & { status?: { eip?: { ipv4?: string } } }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressPolicy',
      path: `/apis/${GROUP}/${VERSION}/egresspolicies`,
      log,
    });
    const tunnels = new Informer<KubernetesObject & { status?: { phase?: string } }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressTunnel',
      path: `/apis/${GROUP}/${VERSION}/egresstunnels`,
      log,
    });
    const reported = new Set<string>();
    tunnels.onChange((_e, t) => {
      const name = t.metadata!.name!;
      if (t.status?.phase === 'Init' && !reported.has(name)) {
        reported.add(name);
        void custom
          .patchClusterCustomObjectStatus(
            {
              group: GROUP,
              version: VERSION,
              plural: 'egresstunnels',
              name,
              body: { status: { tunnel: { parent: { name: 'eth0' } } } },
            },
            merge,
          )
          .catch(() => reported.delete(name));
      }
    });
    for (const i of [slices, policies, tunnels]) void i.run();
    const endpointsByPod = () =>
      new Map(slices.list().flatMap((s) => (s.endpoints ?? []).map((e) => [e.pod, s.metadata!.name!])));
    let converged = Number.NaN;
    while (Date.now() - tStart < 300_000) {
      const placed = policies.list().filter((p) => p.status?.eip?.ipv4).length;
      if (placed === POL && endpointsByPod().size === P) {
        converged = (Date.now() - tStart) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }

    // Steady churn: move pods between policies at 100 changes/s; lag = change → slice update.
    const pending = new Map<string, number>();
    const lags: number[] = [];
    slices.onChange((_e, s) => {
      for (const e of s.endpoints ?? []) {
        const t = pending.get(`${e.pod}@${s.metadata?.labels?.['spidernet.io/policy-name']}`);
        if (t !== undefined) {
          lags.push(Date.now() - t);
          pending.delete(`${e.pod}@${s.metadata?.labels?.['spidernet.io/policy-name']}`);
        }
      }
    });
    const changes = 1000;
    const tChurn = Date.now();
    for (let k = 0; k < changes; k++) {
      const i = (k * 7919) % P;
      const target = (i + 1 + k) % POL;
      const due = tChurn + k * 10;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.set(`pod-${i}@p-${target}`, Date.now());
      void core.patchNamespacedPod(
        { name: `pod-${i}`, namespace: 'default', body: { metadata: { labels: { app: `a${target}` } } } },
        merge,
      );
    }
    const deadline = Date.now() + 30_000;
    while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const lost = pending.size;
    child.kill('SIGTERM');
    for (const i of [slices, policies, tunnels]) i.stop();
    const notes = `${N} nodes, ${P} pods, ${POL} policies, ${G} gateways; seeding took ${seeded.toFixed(0)} s`;
    return [
      {
        name: 'controller cold start to converged (EIPs + endpoint slices)',
        unit: 's',
        value: converged,
        baseline: { name: 'goal', value: 30 },
        ratio: converged / 30,
        notes,
      },
      {
        name: 'controller peak RSS',
        unit: 'MiB',
        value: Math.round(rss / 2 ** 20),
        baseline: { name: 'goal', value: 300 },
        ratio: rss / 2 ** 20 / 300,
        notes,
      },
      {
        name: 'p99 lag pod label change → endpoint slice update at 100 changes/s',
        unit: 'ms',
        value: percentile(lags, 99),
        baseline: { name: 'goal', value: 500 },
        ratio: percentile(lags, 99) / 500,
        notes: `p50 ${percentile(lags, 50)} ms; ${lags.length}/${changes} observed, ${lost} not seen within 30 s`,
      },
    ];
  } finally {
    await destroyControlPlane(dir);
  }
}
