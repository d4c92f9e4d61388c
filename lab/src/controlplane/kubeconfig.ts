// Kubeconfig files with the certificates embedded, so they keep working when copied.
import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { CertPaths } from './pki.ts';

export async function writeKubeconfig(
  path: string,
  opts: { server: string; caFile: string; client: CertPaths; user: string; clusterName?: string },
): Promise<void> {
  const b64 = async (p: string) => (await readFile(p)).toString('base64');
  const cluster = opts.clusterName ?? 'egressgateway-lab';
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: { server: opts.server, 'certificate-authority-data': await b64(opts.caFile) },
      },
    ],
    users: [
      {
        name: opts.user,
        user: {
          'client-certificate-data': await b64(opts.client.cert),
          'client-key-data': await b64(opts.client.key),
        },
      },
    ],
    contexts: [{ name: cluster, context: { cluster, user: opts.user } }],
    'current-context': cluster,
  };
  await writeFile(path, stringify(doc), { mode: 0o600 });
}
