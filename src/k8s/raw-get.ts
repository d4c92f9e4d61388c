// A plain JSON GET against the apiserver with the kubeconfig's credentials. The generated
// clients turn every object of a list into class instances (dates parsed, every field
// copied), which for 30,000 pods costs seconds of CPU and hundreds of MiB before a cache
// can slim them; this returns the apiserver's JSON as parsed, nothing more.
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class ApiStatusError extends Error {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, body: string) {
    super(`apiserver answered HTTP ${statusCode}: ${body.slice(0, 300)}`);
    this.statusCode = statusCode;
    this.body = body;
  }
}

export async function getJson<T>(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('kubeconfig has no current cluster');
  const url = new URL(server + path);
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const opts: Parameters<typeof request>[1] & { headers: Record<string, string> } = {
    method: 'GET',
    headers: { Accept: 'application/json' },
    timeout: timeoutMs,
  };
  await kc.applyToHTTPSOptions(opts);
  return new Promise<T>((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new ApiStatusError(res.statusCode ?? 0, text));
        else {
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(err);
          }
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
