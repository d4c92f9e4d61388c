import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestContext } from '@kubernetes/client-node';
import { loadKubeConfig, PooledKubeConfig } from '../../../src/k8s/kubeconfig.ts';

function config(server: string, user = 'admin'): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'lab', server, caData: Buffer.from('not a real CA').toString('base64') }],
    users: [{ name: user, token: 'secret' }],
    contexts: [{ name: 'ctx', cluster: 'lab', user }],
    currentContext: 'ctx',
  });
  return kc;
}

async function dispatcherOf(kc: PooledKubeConfig) {
  const ctx = new RequestContext('https://127.0.0.1:6443/api', 'GET' as never);
  await kc.applySecurityAuthentication(ctx);
  return { dispatcher: ctx.getDispatcher(), headers: ctx.getHeaders() };
}

test('every request of one kubeconfig goes through one connection pool', async () => {
  const kc = config('https://127.0.0.1:6443');
  const a = await dispatcherOf(kc);
  const b = await dispatcherOf(kc);
  assert.ok(a.dispatcher, 'a TLS cluster needs a dispatcher');
  assert.equal(a.dispatcher, b.dispatcher, 'a second request must reuse the first one’s pool');
  // Credentials still go on every request.
  assert.equal(b.headers['Authorization'], 'Bearer secret');
  await kc.closeConnections();
});

test('a different cluster or user gets its own pool; closing starts afresh', async () => {
  const one = config('https://127.0.0.1:6443');
  const other = config('https://127.0.0.1:6443', 'agent');
  const a = await dispatcherOf(one);
  const b = await dispatcherOf(other);
  assert.notEqual(a.dispatcher, b.dispatcher);
  await one.closeConnections();
  const c = await dispatcherOf(one);
  assert.notEqual(c.dispatcher, a.dispatcher, 'a closed pool must not be handed out again');
  await Promise.all([one.closeConnections(), other.closeConnections()]);
});

test('loadKubeConfig reads a file into a pooled config', async () => {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'kc-'));
  const path = join(dir, 'config');
  await writeFile(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  const kc = loadKubeConfig(path);
  assert.ok(kc instanceof PooledKubeConfig);
  assert.equal(kc.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
});

test('a rotated client certificate gets a new pool; the old one is closed', async () => {
  const kc = new PooledKubeConfig();
  const load = (cert: string) =>
    kc.loadFromOptions({
      clusters: [
        { name: 'lab', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64') },
      ],
      users: [{ name: 'admin', certData: Buffer.from(cert).toString('base64'), keyData: 'a2V5' }],
      contexts: [{ name: 'ctx', cluster: 'lab', user: 'admin' }],
      currentContext: 'ctx',
    });
  load('cert one');
  const a = await dispatcherOf(kc);
  assert.equal((await dispatcherOf(kc)).dispatcher, a.dispatcher);
  load('cert two');
  const b = await dispatcherOf(kc);
  assert.notEqual(b.dispatcher, a.dispatcher, 'new credentials must not ride on the old connections');
  assert.equal((a.dispatcher as unknown as { closed: boolean }).closed, true, 'the old pool is closed');
  await kc.closeConnections();
});
