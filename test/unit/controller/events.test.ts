import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../../src/common/log.ts';
import { EventRecorder } from '../../../src/controller/events.ts';

test('a backlog beyond its bound drops the oldest events and reports each drop', async () => {
  // A port that accepts and never answers: writes stay in flight, the backlog fills up.
  const sockets = new Set<import('node:net').Socket>();
  const sink = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const { port } = sink.address() as { port: number };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}` }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  let reported = 0;
  const rec = new EventRecorder(kc, 'test', createLogger('test', 'silent'), {
    maxPending: 2,
    concurrency: 1,
    onDrop: () => reported++,
  });
  const obj = { apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'default', uid: 'u1' };
  for (let i = 0; i < 6; i++) rec.record(obj, 'Normal', 'Test', `event ${i}`);
  // One in flight, two waiting: three dropped.
  assert.equal(rec.dropped, 3);
  assert.equal(reported, 3);
  for (const s of sockets) s.destroy();
  sink.close();
});
