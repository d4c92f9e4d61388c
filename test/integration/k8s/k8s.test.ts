// The Kubernetes plumbing on a real apiserver: the informer sees every change, resumes
// after its watch drops and relists after a 410; leader election never has two leaders,
// a standby takes over within one lease duration of a crash, at once after a release.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { createLogger } from '../../../src/common/log.ts';
import { Informer } from '../../../src/k8s/informer.ts';
import { LeaderElector } from '../../../src/k8s/leader-election.ts';
import { exitSoonAfterTests, privateControlPlane, testCluster, uniqueName } from '../../support/cluster.ts';
import { compactEtcd } from '../../support/etcd.ts';
import { eventually } from '../../support/lab.ts';

const log = createLogger('k8s-test', 'error');
let kc: KubeConfig;
let core: CoreV1Api;
const ns = uniqueName('k8s');

before(async () => {
  kc = (await testCluster()).kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

after(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  exitSoonAfterTests();
});

test('informer: changes arrive in order; a dropped watch resumes; a 410 after etcd compaction relists', async (t) => {
  // Private: compacting etcd under other tests' watches would disturb them. Without the
  // watch cache, watches read etcd directly, so a compacted revision really is gone.
  const cp = await privateControlPlane({ apiserverArgs: ['--watch-cache=false'] });
  const kc = cp.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const label = uniqueName('inf');
  const inf = new Informer<V1ConfigMap>(kc, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: '/api/v1/configmaps',
    labelSelector: `t=${label}`,
    log,
  });
  t.after(() => inf.stop());
  const seen: string[] = [];
  inf.onChange((e, o) => seen.push(`${e}:${o.metadata?.name}:${o.data?.['v'] ?? ''}`));
  void inf.run();
  await inf.synced;
  const mk = (name: string, v: string) =>
    core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name, labels: { t: label } }, data: { v } },
    });
  await mk('a', '1');
  await core.patchNamespacedConfigMap({
    name: 'a',
    namespace: ns,
    body: [{ op: 'replace', path: '/data/v', value: '2' }],
  });
  await core.deleteNamespacedConfigMap({ name: 'a', namespace: ns });
  await eventually('three events', async () => (seen.length >= 3 ? true : undefined), 10_000);
  assert.deepEqual(seen.slice(0, 3), ['add:a:1', 'update:a:2', 'delete:a:2']);

  // Compact etcd, then drop the watch and resume from a compacted resourceVersion.
  for (let i = 0; i < 50; i++) await mk(`filler-${i}`, 'x');
  await compactEtcd(cp.state.dir, cp.state.ports.etcdClient);
  const relists = inf.stats.relistsOnGone;
  inf.resumeFrom('2');
  await mk('b', 'after-410');
  await eventually('b seen after the relist', async () => (inf.get(`${ns}/b`) ? true : undefined), 15_000);
  assert.ok(inf.stats.relistsOnGone > relists, `relisted after 410 (${JSON.stringify(inf.stats)})`);
  assert.equal(inf.list().length, 51);
});

test('leader election: one leader at a time; crash takeover within a lease duration; release hands over at once', async (t) => {
  const name = uniqueName('lease');
  const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
  const leaders = new Set<string>();
  let overlap = false;
  const make = (identity: string) =>
    new LeaderElector(kc, {
      name,
      namespace: ns,
      identity,
      log,
      ...timing,
      onStartedLeading: () => {
        leaders.add(identity);
        if (leaders.size > 1) overlap = true;
      },
      onStoppedLeading: () => leaders.delete(identity),
    });
  const a = make('a');
  const all = [a];
  t.after(() => Promise.all(all.map((e) => e.stop(false))));
  void a.run();
  await eventually('a leads', async () => (a.isLeader() ? true : undefined), 10_000);
  const b = make('b');
  all.push(b);
  void b.run();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(b.isLeader(), false, 'the standby waits');

  const t0 = Date.now();
  await a.stop(false); // a crash: the lease is not released
  await eventually('b takes over', async () => (b.isLeader() ? true : undefined), 15_000);
  const takeover = Date.now() - t0;
  assert.ok(
    takeover <= timing.leaseDurationMs + 2 * timing.retryPeriodMs + 500,
    `takeover after ${takeover} ms`,
  );

  const c = make('c');
  all.push(c);
  void c.run();
  await new Promise((r) => setTimeout(r, 800));
  const t1 = Date.now();
  await b.stop(true); // graceful: released
  await eventually('c takes over', async () => (c.isLeader() ? true : undefined), 15_000);
  const handover = Date.now() - t1;
  assert.ok(handover < 2000, `handover after release took ${handover} ms`);
  await c.stop(true);
  assert.equal(overlap, false, 'never two leaders');
  console.log(`# leader takeover after crash: ${takeover} ms (lease 3000 ms); after release: ${handover} ms`);
});
