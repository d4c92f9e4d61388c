// Endpoint slices: selection rules and minimal-churn slicing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selects } from '../../../src/controller/planners/label-selector.ts';
import {
  desiredEndpoints,
  type Endpoint,
  type ExistingSlice,
  planSlices,
  type SlicePod,
} from '../../../src/controller/planners/slices.ts';

const pod = (name: string, extra: Partial<SlicePod> = {}): SlicePod => ({
  name,
  namespace: 'default',
  labels: { app: 'visitor' },
  podIPs: [`10.244.1.${name.length}`],
  nodeName: 'n1',
  ...extra,
});
const ep = (pod: string, ns = 'default'): Endpoint => ({ ns, pod, ipv4: ['10.0.0.1'], ipv6: [], node: 'n1' });

test('label selectors: matchLabels and every operator; absent selects nothing, empty selects all', () => {
  const l = { app: 'a', tier: 'web' };
  assert.equal(selects(undefined, l), false);
  assert.equal(selects({}, l), true);
  assert.equal(selects({ matchLabels: { app: 'a' } }, l), true);
  assert.equal(selects({ matchLabels: { app: 'b' } }, l), false);
  assert.equal(
    selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'db'] }] }, l),
    true,
  );
  assert.equal(
    selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, l),
    false,
  );
  assert.equal(selects({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['y'] }] }, l), true);
  assert.equal(selects({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, l), false);
  assert.equal(selects({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, l), true);
  assert.equal(selects({ matchExpressions: [{ key: 'app', operator: 'Bogus' }] }, l), false);
});

test('selection: own namespace, IPs present, not terminating, not hostNetwork; families split', () => {
  const pods = [
    pod('a', { podIPs: ['10.244.1.2', 'fd00:10:244:1::2'] }),
    pod('b', { namespace: 'other' }),
    pod('c', { podIPs: [] }),
    pod('d', { terminating: true }),
    pod('e', { hostNetwork: true }),
    pod('f', { labels: { app: 'x' } }),
  ];
  const got = desiredEndpoints(
    { cluster: false, name: 'p', namespace: 'default', podSelector: { matchLabels: { app: 'visitor' } } },
    pods,
    new Map(),
  );
  assert.deepEqual(got, [
    { ns: 'default', pod: 'a', ipv4: ['10.244.1.2'], ipv6: ['fd00:10:244:1::2'], node: 'n1' },
  ]);
});

test('cluster policies: every namespace, or those the namespaceSelector picks; podSubnet policies have no endpoints', () => {
  const pods = [pod('a'), pod('b', { namespace: 'team-a' }), pod('c', { namespace: 'team-b' })];
  const ns = new Map<string, Record<string, string>>([
    ['team-a', { team: 'a' }],
    ['team-b', { team: 'b' }],
    ['default', {}],
  ]);
  const all = desiredEndpoints(
    { cluster: true, name: 'c', podSelector: { matchLabels: { app: 'visitor' } } },
    pods,
    ns,
  );
  assert.equal(all.length, 3);
  const some = desiredEndpoints(
    { cluster: true, name: 'c', podSelector: {}, namespaceSelector: { matchLabels: { team: 'a' } } },
    pods,
    ns,
  );
  assert.deepEqual(
    some.map((e) => e.pod),
    ['b'],
  );
  assert.deepEqual(
    desiredEndpoints({ cluster: true, name: 'c', podSelector: {}, podSubnet: ['10.0.0.0/8'] }, pods, ns),
    [],
  );
});

test('minimal churn: a new pod fills a slice with room; one removal updates one slice; empty slices go', () => {
  const existing: ExistingSlice[] = [
    { name: 's1', endpoints: [ep('a'), ep('b')] },
    { name: 's2', endpoints: [ep('c')] },
  ];
  const add = planSlices([ep('a'), ep('b'), ep('c'), ep('d')], existing, 2);
  assert.deepEqual(add, { create: [], update: [{ name: 's2', endpoints: [ep('c'), ep('d')] }], delete: [] });
  const remove = planSlices([ep('a'), ep('b')], existing, 2);
  assert.deepEqual(remove, { create: [], update: [], delete: ['s2'] });
  const grow = planSlices(
    ['a', 'b', 'c', 'd', 'e', 'f'].map((p) => ep(p)),
    existing,
    2,
  );
  assert.equal(grow.create.length, 1);
  assert.deepEqual(
    grow.update.map((u) => u.name),
    ['s2'],
  );
});

test('property: applying the plan gives exactly the desired set, within limits, and is a fixed point', () => {
  let s = 3;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  for (let round = 0; round < 300; round++) {
    const max = 1 + rnd(5);
    const universe = Array.from({ length: 30 }, (_, i) => ep(`p${i}`));
    const existing: ExistingSlice[] = Array.from({ length: rnd(6) }, (_, i) => ({
      name: `s${i}`,
      endpoints: universe.filter(() => rnd(5) === 0).slice(0, max + rnd(2)),
    }));
    const desired = universe.filter(() => rnd(2) === 0);
    const plan = planSlices(desired, existing, max);
    const after = new Map(existing.map((x) => [x.name, x.endpoints]));
    for (const d of plan.delete) after.delete(d);
    for (const u of plan.update) after.set(u.name, u.endpoints);
    for (const [i, c] of plan.create.entries()) after.set(`new${i}`, c);
    const all = [...after.values()].flat().map((e) => e.pod);
    assert.deepEqual([...all].sort(), desired.map((e) => e.pod).sort());
    assert.equal(new Set(all).size, all.length, 'no duplicates');
    for (const eps of after.values()) assert.ok(eps.length > 0 && eps.length <= max);
    const again = planSlices(
      desired,
      [...after].map(([name, endpoints]) => ({ name, endpoints })),
      max,
    );
    assert.deepEqual(again, { create: [], update: [], delete: [] });
  }
});
