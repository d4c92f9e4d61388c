// Direct access to a test control plane's etcd, for fault injection.
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';

/** etcd's v3 JSON gateway, with the apiserver's client certificate: compact up to now. */
export async function compactEtcd(dir: string, port: number): Promise<void> {
  const pki = join(dir, 'pki');
  const [ca, cert, key] = await Promise.all(
    ['ca.crt', 'apiserver-etcd-client.crt', 'apiserver-etcd-client.key'].map((f) => readFile(join(pki, f))),
  );
  const call = (path: string, body: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca, cert, key }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(text))
            : reject(new Error(`${path}: ${res.statusCode} ${text}`)),
        );
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const head = (await call('/v3/kv/range', { key: Buffer.from('/').toString('base64') })) as {
    header: { revision: string };
  };
  await call('/v3/kv/compaction', { revision: head.header.revision, physical: true });
}
