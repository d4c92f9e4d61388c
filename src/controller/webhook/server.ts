// The admission webhook's HTTPS server: /validate and /mutate speak admission.k8s.io/v1
// AdmissionReview. The certificate is re-read when its files change (cert-manager and the
// chart's rotation replace them in place), so a rotation needs no restart.
import { readFileSync, watch } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type AdmissionDecision, type AdmissionRequestLite, mutate, validate } from '../../api/admission.ts';
import type { AdmissionContext } from '../../api/validation/context.ts';
import type { Logger } from '../../common/log.ts';

export interface WebhookServerOptions {
  certFile: string;
  keyFile: string;
  port: number;
  host?: string;
  context: AdmissionContext;
  log?: Logger;
  /** observe each admission's duration, e.g. into a histogram */
  observe?: (path: string, kind: string, allowed: boolean, seconds: number) => void;
}

export interface WebhookServer {
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

export function reviewResponse(uid: string, d: AdmissionDecision): Record<string, unknown> {
  const response: Record<string, unknown> = { uid, allowed: d.allowed };
  if (!d.allowed) response['status'] = { code: 403, reason: 'Forbidden', message: d.message ?? 'denied' };
  if (d.patch?.length) {
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(d.patch)).toString('base64');
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export async function handleReview(
  path: string,
  body: unknown,
  ctx: AdmissionContext,
): Promise<{ code: number; body: Record<string, unknown> }> {
  const review = body as { request?: AdmissionRequestLite } | undefined;
  const req = review?.request;
  if (!req?.uid || !req.kind || !req.operation) {
    return { code: 400, body: { error: 'expected an admission.k8s.io/v1 AdmissionReview with a request' } };
  }
  const decide = path === '/mutate' ? mutate : validate;
  try {
    return { code: 200, body: reviewResponse(req.uid, await decide(req, ctx)) };
  } catch (err) {
    // A lookup failed (apiserver unreachable…): deny with the reason rather than guess.
    const message = `admission could not be decided: ${err instanceof Error ? err.message : String(err)}`;
    return { code: 200, body: reviewResponse(req.uid, { allowed: false, message }) };
  }
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  const load = () => ({ cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) });
  const server = https.createServer({ ...load(), minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if (req.method !== 'POST' || (path !== '/validate' && path !== '/mutate')) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":"use POST /validate or /mutate"}');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', async () => {
      const t0 = process.hrtime.bigint();
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"body is not JSON"}');
        return;
      }
      const out = await handleReview(path, parsed, o.context);
      res.writeHead(out.code, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
      const resp = out.body['response'] as { allowed?: boolean } | undefined;
      const kind = (parsed as { request?: { kind?: { kind?: string } } }).request?.kind?.kind ?? '';
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      o.observe?.(path, kind, resp?.allowed ?? false, seconds);
      if (resp && !resp.allowed) o.log?.info({ path, kind }, 'admission denied');
    });
  });
  const watchers = [o.certFile, o.keyFile].map((f) =>
    watch(f, () => {
      try {
        server.setSecureContext(load());
        o.log?.info({ file: f }, 'webhook certificate reloaded');
      } catch (err) {
        o.log?.warn({ err: String(err) }, 'webhook certificate reload failed; keeping the old one');
      }
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '::', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const w of watchers) w.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
