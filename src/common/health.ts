// /healthz (the process is alive and its loops turn) and /readyz (it can do its job now),
// each the conjunction of named checks; failing checks are listed in the body, as the
// kubelet's probe logs show it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BindAddress } from './config.ts';

export type Check = () => boolean | Promise<boolean>;

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(
  bind: BindAddress,
  checks: { healthz: Record<string, Check>; readyz: Record<string, Check> },
): Promise<HealthServer> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const set = path === '/healthz' ? checks.healthz : path === '/readyz' ? checks.readyz : undefined;
    if (!set) {
      res.writeHead(404).end('not found: use /healthz or /readyz\n');
      return;
    }
    const failed: string[] = [];
    for (const [name, check] of Object.entries(set)) {
      try {
        if (!(await check())) failed.push(name);
      } catch {
        failed.push(name);
      }
    }
    res.writeHead(failed.length ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(failed.length ? `failed: ${failed.join(', ')}\n` : 'ok\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host || '::', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
