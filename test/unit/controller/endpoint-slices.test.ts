// Endpoint slices: pod selection and minimal-churn slicing, table-driven and property-tested.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  diffSlices,
  type Endpoint,
  type ExistingSlice,
  type NamespaceSummary,
  type PodSummary,
  type PolicySummary,
  planEndpointSlices,
  selectEndpoints,
  sliceGenerateName,
  sliceKind,
  sliceLabels,
  sliceOwnerReference,
} from '../../../src/controller/planners/endpoint-slices.ts';

const pod = (namespace: string, name: string, extra: Partial<PodSummary> = {}): PodSummary => ({
  name,
  namespace,
  labels: { app: 'web' },
  podIPs: ['10.244.1.5'],
  nodeName: 'n1',
  ...extra,
});
const ep = (
  ns: string,
  podName: string,
  ipv4: string[] = ['10.244.1.5'],
  node = 'n1',
  ipv6: string[] = [],
) => ({
  ns,
  pod: podName,
  ipv4,
  ipv6,
  node,
});
const nsPolicy: PolicySummary = {
  kind: 'EgressPolicy',
  name: 'p',
  namespace: 'default',
  uid: 'u1',
  podSelector: { matchLabels: { app: 'web' } },
};
const clusterPolicy: PolicySummary = {
  kind: 'EgressClusterPolicy',
  name: 'cp',
  uid: 'u2',
  podSelector: { matchLabels: { app: 'web' } },
};
const namespaces: NamespaceSummary[] = [
  { name: 'default', labels: { team: 'a' } },
  { name: 'other', labels: { team: 'b' } },
  { name: 'third', labels: {} },
];

test('helpers: labels, generateName, kind, ownerReference', () => {
  assert.deepEqual(sliceLabels('p1'), { 'spidernet.io/policy-name': 'p1' });
  assert.equal(sliceGenerateName('p1'), 'p1-');
  assert.equal(sliceGenerateName('a'.repeat(247)), `${'a'.repeat(247)}-`);
  assert.equal(sliceGenerateName('a'.repeat(248)), 'a'.repeat(248));
  assert.equal(sliceKind(nsPolicy), 'EgressEndpointSlice');
  assert.equal(sliceKind(clusterPolicy), 'EgressClusterEndpointSlice');
  assert.deepEqual(sliceOwnerReference(clusterPolicy), {
    apiVersion: 'egressgateway.spidernet.io/v1beta1',
    kind: 'EgressClusterPolicy',
    name: 'cp',
    uid: 'u2',
    controller: true,
    blockOwnerDeletion: true,
  });
});

const selectionCases: [string, PolicySummary, PodSummary[], string[]][] = [
  [
    'EgressPolicy: own namespace only',
    nsPolicy,
    [pod('default', 'a'), pod('other', 'b'), pod('default', 'c', { labels: { app: 'db' } })],
    ['default/a'],
  ],
  [
    'EgressPolicy without namespace selects nothing',
    { ...nsPolicy, namespace: undefined },
    [pod('default', 'a')],
    [],
  ],
  ['no podSelector selects nothing', { ...nsPolicy, podSelector: undefined }, [pod('default', 'a')], []],
  [
    'podSubnet without podSelector: no per-pod endpoints',
    { ...nsPolicy, podSelector: undefined, podSubnet: ['10.244.0.0/16'] },
    [pod('default', 'a')],
    [],
  ],
  [
    'podSubnet with podSelector: podSelector still selects',
    { ...nsPolicy, podSubnet: ['10.244.0.0/16'] },
    [pod('default', 'a')],
    ['default/a'],
  ],
  [
    'empty podSelector selects every pod of the namespace',
    { ...nsPolicy, podSelector: {} },
    [pod('default', 'a', { labels: {} }), pod('default', 'b', { labels: undefined }), pod('x', 'c')],
    ['default/a', 'default/b'],
  ],
  [
    'excluded: no IPs, invalid IPs, terminating, hostNetwork',
    nsPolicy,
    [
      pod('default', 'noip', { podIPs: [] }),
      pod('default', 'badip', { podIPs: ['nope'] }),
      pod('default', 'term', { terminating: true }),
      pod('default', 'host', { hostNetwork: true, podIPs: ['172.18.0.2'] }),
      pod('default', 'ok'),
    ],
    ['default/ok'],
  ],
  [
    'EgressClusterPolicy without namespaceSelector: every namespace',
    clusterPolicy,
    [pod('other', 'b'), pod('default', 'a'), pod('unknown-ns', 'z')],
    ['default/a', 'other/b', 'unknown-ns/z'],
  ],
  [
    'EgressClusterPolicy with namespaceSelector',
    { ...clusterPolicy, namespaceSelector: { matchLabels: { team: 'b' } } },
    [pod('other', 'b'), pod('default', 'a')],
    ['other/b'],
  ],
  [
    'EgressClusterPolicy with empty namespaceSelector: known namespaces',
    { ...clusterPolicy, namespaceSelector: {} },
    [pod('other', 'b'), pod('third', 'a'), pod('unknown-ns', 'z')],
    ['other/b', 'third/a'],
  ],
  [
    'EgressClusterPolicy with namespaceSelector expressions',
    { ...clusterPolicy, namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } },
    [pod('other', 'b'), pod('third', 'a'), pod('default', 'c')],
    ['default/c', 'other/b'],
  ],
  [
    'namespaceSelector ignored for EgressPolicy',
    { ...nsPolicy, namespaceSelector: { matchLabels: { team: 'zzz' } } },
    [pod('default', 'a')],
    ['default/a'],
  ],
  [
    'duplicate pods: first wins',
    nsPolicy,
    [pod('default', 'a'), pod('default', 'a', { nodeName: 'n9' })],
    ['default/a'],
  ],
];

for (const [name, policy, pods, want] of selectionCases) {
  test(`selectEndpoints: ${name}`, () => {
    const got = selectEndpoints(policy, pods, namespaces);
    assert.deepEqual(
      got.map((e) => `${e.ns}/${e.pod}`),
      want,
    );
  });
}

test('selectEndpoints: IPs split by family, canonical, deduplicated, sorted; node defaults to ""', () => {
  const got = selectEndpoints(
    nsPolicy,
    [
      pod('default', 'a', {
        podIPs: ['10.244.1.10', 'FD00:0:0::2', '10.244.1.9', 'fd00::1', '10.244.1.9'],
        nodeName: undefined,
      }),
    ],
    namespaces,
  );
  assert.deepEqual(got, [
    { ns: 'default', pod: 'a', ipv4: ['10.244.1.9', '10.244.1.10'], ipv6: ['fd00::1', 'fd00::2'], node: '' },
  ]);
  const dup = selectEndpoints(
    nsPolicy,
    [pod('default', 'a'), pod('default', 'a', { nodeName: 'n9' })],
    namespaces,
  );
  assert.equal(dup[0]?.node, 'n1');
});

const diffCases: {
  name: string;
  desired: Endpoint[];
  existing: ExistingSlice[];
  max?: number;
  want: ReturnType<typeof diffSlices>;
}[] = [
  { name: 'nothing to do', desired: [], existing: [], want: { create: [], update: [], delete: [] } },
  {
    name: 'new endpoints go to new slices of at most max',
    desired: [ep('d', 'a'), ep('d', 'b'), ep('d', 'c')],
    existing: [],
    max: 2,
    want: { create: [[ep('d', 'a'), ep('d', 'b')], [ep('d', 'c')]], update: [], delete: [] },
  },
  {
    name: 'unchanged slice is not updated (order inside the slice does not matter)',
    desired: [ep('d', 'a'), ep('d', 'b')],
    existing: [{ name: 's1', endpoints: [ep('d', 'b'), ep('d', 'a')] }],
    want: { create: [], update: [], delete: [] },
  },
  {
    name: 'empty slices are deleted',
    desired: [ep('d', 'a')],
    existing: [
      { name: 's1', endpoints: [ep('d', 'a')] },
      { name: 's2', endpoints: [ep('d', 'gone')] },
      { name: 's3', endpoints: [] },
      { name: 's4' },
    ],
    want: { create: [], update: [], delete: ['s2', 's3', 's4'] },
  },
  {
    name: 'endpoint stays in its slice; IP and node refresh in place',
    desired: [ep('d', 'a'), ep('d', 'b', ['10.0.0.9'], 'n2')],
    existing: [
      { name: 's1', endpoints: [ep('d', 'a')] },
      { name: 's2', endpoints: [ep('d', 'b')] },
    ],
    want: { create: [], update: [{ name: 's2', endpoints: [ep('d', 'b', ['10.0.0.9'], 'n2')] }], delete: [] },
  },
  {
    name: 'new endpoints fill slices that are rewritten anyway first, then others, then new slices',
    desired: [
      ep('d', 'a'),
      ep('d', 'b2'),
      ep('d', 'n1'),
      ep('d', 'n2'),
      ep('d', 'n3'),
      ep('d', 'n4'),
      ep('d', 'n5'),
    ],
    existing: [
      { name: 's1', endpoints: [ep('d', 'a')] },
      { name: 's2', endpoints: [ep('d', 'b'), ep('d', 'b2')] },
    ],
    max: 3,
    want: {
      create: [[ep('d', 'n5')]],
      update: [
        { name: 's1', endpoints: [ep('d', 'a'), ep('d', 'n3'), ep('d', 'n4')] },
        { name: 's2', endpoints: [ep('d', 'b2'), ep('d', 'n1'), ep('d', 'n2')] },
      ],
      delete: [],
    },
  },
  {
    name: 'a slice left empty is reused instead of delete + create',
    desired: [ep('d', 'new')],
    existing: [{ name: 's1', endpoints: [ep('d', 'old')] }],
    want: { create: [], update: [{ name: 's1', endpoints: [ep('d', 'new')] }], delete: [] },
  },
  {
    name: 'duplicate across slices: kept in the first slice by name',
    desired: [ep('d', 'a'), ep('d', 'b')],
    existing: [
      { name: 's2', endpoints: [ep('d', 'a')] },
      { name: 's1', endpoints: [ep('d', 'a'), ep('d', 'b')] },
    ],
    want: { create: [], update: [], delete: ['s2'] },
  },
  {
    name: 'duplicate inside one slice is repaired',
    desired: [ep('d', 'a')],
    existing: [{ name: 's1', endpoints: [ep('d', 'a'), ep('d', 'a')] }],
    want: { create: [], update: [{ name: 's1', endpoints: [ep('d', 'a')] }], delete: [] },
  },
  {
    name: 'oversized slice (max lowered) sheds the overflow into slices with room',
    desired: [ep('d', 'a'), ep('d', 'b'), ep('d', 'c'), ep('d', 'x')],
    existing: [
      { name: 's1', endpoints: [ep('d', 'c'), ep('d', 'b'), ep('d', 'a')] },
      { name: 's2', endpoints: [ep('d', 'x')] },
    ],
    max: 2,
    want: {
      create: [],
      update: [
        { name: 's1', endpoints: [ep('d', 'a'), ep('d', 'b')] },
        { name: 's2', endpoints: [ep('d', 'c'), ep('d', 'x')] },
      ],
      delete: [],
    },
  },
  {
    name: 'stored endpoints with missing fields or unsorted IPs are rewritten',
    desired: [ep('d', 'a', ['10.0.0.1', '10.0.0.2'])],
    existing: [
      { name: 's1', endpoints: [{ ns: 'd', pod: 'a', ipv4: ['10.0.0.2', '10.0.0.1'], node: 'n1' }] },
    ],
    want: {
      create: [],
      update: [{ name: 's1', endpoints: [ep('d', 'a', ['10.0.0.1', '10.0.0.2'])] }],
      delete: [],
    },
  },
  {
    name: 'garbage endpoints without ns/pod are dropped',
    desired: [ep('d', 'a')],
    existing: [{ name: 's1', endpoints: [ep('d', 'a'), { ipv4: ['1.2.3.4'] }] }],
    want: { create: [], update: [{ name: 's1', endpoints: [ep('d', 'a')] }], delete: [] },
  },
  {
    name: 'maxPerSlice below 1 is treated as 1',
    desired: [ep('d', 'a'), ep('d', 'b')],
    existing: [],
    max: 0,
    want: { create: [[ep('d', 'a')], [ep('d', 'b')]], update: [], delete: [] },
  },
];

for (const c of diffCases) {
  test(`diffSlices: ${c.name}`, () => {
    assert.deepEqual(diffSlices(c.desired, c.existing, c.max), c.want);
  });
}

test('diffSlices: default maxPerSlice is 100', () => {
  const desired = Array.from({ length: 250 }, (_, i) => ep('d', `p${String(i).padStart(3, '0')}`));
  const d = diffSlices(desired, []);
  assert.deepEqual(
    d.create.map((s) => s.length),
    [100, 100, 50],
  );
});

test('planEndpointSlices: desired set plus diff; podSubnet-only policy deletes old slices', () => {
  const plan = planEndpointSlices({
    policy: nsPolicy,
    pods: [pod('default', 'a'), pod('default', 'b', { podIPs: ['10.244.1.6', 'fd00::6'] })],
    namespaces,
    existing: [{ name: 'p-abcde', endpoints: [ep('default', 'a')] }],
  });
  assert.deepEqual(plan.desired, [ep('default', 'a'), ep('default', 'b', ['10.244.1.6'], 'n1', ['fd00::6'])]);
  assert.deepEqual(plan.diff, {
    create: [],
    update: [{ name: 'p-abcde', endpoints: plan.desired }],
    delete: [],
  });
  const subnet = planEndpointSlices({
    policy: { ...nsPolicy, podSelector: undefined, podSubnet: ['10.244.0.0/16'] },
    pods: [pod('default', 'a')],
    namespaces,
    existing: [{ name: 'p-abcde', endpoints: [ep('default', 'a')] }],
  });
  assert.deepEqual(subnet, { desired: [], diff: { create: [], update: [], delete: ['p-abcde'] } });
});

// ---- seeded property test ----

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

const norm = (e: { ns?: string; pod?: string; ipv4?: string[]; ipv6?: string[]; node?: string }) =>
  JSON.stringify([e.ns ?? '', e.pod ?? '', e.ipv4 ?? [], e.ipv6 ?? [], e.node ?? '']);

function apply(
  existing: ExistingSlice[],
  diff: ReturnType<typeof diffSlices>,
  nextId: () => string,
): ExistingSlice[] {
  const out = new Map(existing.map((s) => [s.name, s]));
  for (const name of diff.delete) {
    assert.ok(out.has(name), `delete of unknown slice ${name}`);
    out.delete(name);
  }
  for (const u of diff.update) {
    assert.ok(out.has(u.name), `update of unknown slice ${u.name}`);
    out.set(u.name, { name: u.name, endpoints: u.endpoints });
  }
  for (const c of diff.create) {
    const name = nextId();
    out.set(name, { name, endpoints: c });
  }
  return [...out.values()];
}

test('property (seeded): applying the diff yields exactly the desired set, within limits, idempotently', () => {
  const r = rng(20261125);
  let id = 0;
  const nextId = () => `s-${(id++).toString(36).padStart(5, '0')}`;
  for (let round = 0; round < 300; round++) {
    const max = 1 + r(8);
    const universe = Array.from({ length: 1 + r(40) }, (_, i) => ({ ns: `ns${r(3)}`, pod: `pod${i}` }));
    const mkEp = (u: { ns: string; pod: string }): Endpoint => ({
      ...u,
      ipv4: r(4) === 0 ? [] : [`10.0.${r(3)}.${r(250)}`],
      ipv6: r(3) === 0 ? [`fd00::${r(100).toString(16)}`] : [],
      node: `n${r(3)}`,
    });
    // Random existing state: may contain stale, duplicate, oversized and empty slices.
    let existing: ExistingSlice[] = Array.from({ length: r(6) }, () => ({
      name: nextId(),
      endpoints: Array.from({ length: r(max + 3) }, () => mkEp(universe[r(universe.length)]!)),
    }));
    for (let step = 0; step < 4; step++) {
      const desiredMap = new Map<string, Endpoint>();
      for (const u of universe) if (r(3) > 0) desiredMap.set(`${u.ns}/${u.pod}`, mkEp(u));
      const desired = [...desiredMap.values()];
      const before = new Map(existing.map((s) => [s.name, s.endpoints ?? []]));
      const diff = diffSlices(desired, existing, max);
      const after = apply(existing, diff, nextId);
      // union equals desired, no duplicates, no slice above max, no empty slice
      const all = after.flatMap((s) => s.endpoints ?? []);
      assert.equal(new Set(all.map((e) => `${e.ns}/${e.pod}`)).size, all.length, 'endpoint appears twice');
      assert.deepEqual(all.map(norm).sort(), desired.map(norm).sort());
      for (const s of after) {
        assert.ok((s.endpoints ?? []).length <= max, 'slice above max');
        assert.ok((s.endpoints ?? []).length > 0, 'empty slice left');
      }
      // minimal churn: an endpoint kept in a slice it was already in, unless that slice overflowed
      // or held it twice across slices
      for (const s of after) {
        const old = before.get(s.name);
        if (!old) continue;
        for (const e of old) {
          const k = `${e.ns}/${e.pod}`;
          if (!desiredMap.has(k)) continue;
          const inOldSlices = [...before.values()].filter((eps) =>
            eps.some((x) => `${x.ns}/${x.pod}` === k),
          ).length;
          if (
            inOldSlices === 1 &&
            old.length <= max &&
            new Set(old.map((x) => `${x.ns}/${x.pod}`)).size === old.length
          ) {
            assert.ok(
              (s.endpoints ?? []).some((x) => `${x.ns}/${x.pod}` === k),
              `${k} moved out of ${s.name}`,
            );
          }
        }
      }
      // new slices only when existing ones are full
      if (diff.create.length > 0) {
        for (const s of after) {
          if (before.has(s.name))
            assert.equal((s.endpoints ?? []).length, max, 'created a slice while one had room');
        }
        for (const c of diff.create.slice(0, -1)) assert.equal(c.length, max);
      }
      // unchanged slices are not in update
      for (const u of diff.update) {
        const old = before.get(u.name) ?? [];
        assert.notDeepEqual(old.map(norm).sort(), u.endpoints.map(norm).sort(), `no-op update of ${u.name}`);
      }
      // idempotent
      assert.deepEqual(diffSlices(desired, after, max), { create: [], update: [], delete: [] });
      existing = after;
    }
  }
});
