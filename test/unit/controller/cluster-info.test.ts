// EgressClusterInfo status: detectors, modes, clearing, normalization.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  effectivePodCidrMode,
  planClusterInfoStatus as plan,
} from '../../../src/controller/planners/cluster-info.ts';

const nodes = [
  { name: 'n2', internalIPs: ['172.22.0.4', 'fc00::4'], podCIDRs: ['10.244.2.0/24'] },
  { name: 'n1', internalIPs: ['172.22.0.3'], podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
];

// ---- src/controller/planners/cluster-info.ts ----

type Input = Parameters<typeof plan>[0];
const base: Input = { spec: {}, nodes, serviceCidrs: undefined, calicoPools: undefined };

test('effectivePodCidrMode: defaults, auto resolution, off and unknown values', () => {
  const rows: [string | undefined, boolean, string][] = [
    [undefined, false, 'k8s'],
    [undefined, true, 'calico'],
    ['auto', false, 'k8s'],
    ['auto', true, 'calico'],
    ['k8s', true, 'k8s'],
    ['calico', false, 'calico'],
    ['', true, ''],
    ['bogus', true, ''],
  ];
  for (const [mode, calico, want] of rows)
    assert.equal(effectivePodCidrMode(mode, calico), want, `${mode}/${calico}`);
});

const planCases: [string, Partial<Input>, ReturnType<typeof plan>][] = [
  [
    'defaults (spec undefined): auto → k8s, node IPs, no service CIDRs known yet',
    { spec: undefined },
    {
      podCidrMode: 'k8s',
      nodeIP: { n1: { ipv4: ['172.22.0.3'], ipv6: [] }, n2: { ipv4: ['172.22.0.4'], ipv6: ['fc00::4'] } },
      podCIDR: { k8s: { ipv4: ['10.244.1.0/24', '10.244.2.0/24'], ipv6: ['fd00:10:244:1::/64'] } },
    },
  ],
  [
    'k8s mode: node pod CIDRs deduplicated into one entry; service CIDRs split by family',
    {
      spec: { autoDetect: { podCidrMode: 'k8s' } },
      nodes: [
        { name: 'b', internalIPs: [], podCIDRs: ['10.244.0.0/24', 'junk'] },
        { name: 'a', internalIPs: ['10.0.0.2', '10.0.0.10'], podCIDRs: ['10.244.0.0/24', '10.244.0.7/24'] },
      ],
      serviceCidrs: ['fd00:10:96::/112', '10.96.0.0/12'],
      calicoPools: [{ name: 'x', cidr: '10.1.0.0/16' }],
    },
    {
      podCidrMode: 'k8s',
      nodeIP: { a: { ipv4: ['10.0.0.2', '10.0.0.10'], ipv6: [] }, b: { ipv4: [], ipv6: [] } },
      clusterIP: { ipv4: ['10.96.0.0/12'], ipv6: ['fd00:10:96::/112'] },
      podCIDR: { k8s: { ipv4: ['10.244.0.0/24'], ipv6: [] } },
    },
  ],
  [
    'k8s mode without any node pod CIDR: empty podCIDR map',
    {
      spec: { autoDetect: { podCidrMode: 'k8s', nodeIP: false } },
      nodes: [{ name: 'a', internalIPs: [], podCIDRs: [] }],
    },
    { podCidrMode: 'k8s', podCIDR: {} },
  ],
  [
    'calico mode: enabled pools by name, sorted; disabled and invalid skipped',
    {
      spec: { autoDetect: { podCidrMode: 'calico', nodeIP: false } },
      calicoPools: [
        { name: 'v6', cidr: 'fd00:10:244::/64' },
        { name: 'old', cidr: '10.9.0.0/16', disabled: true },
        { name: 'bad', cidr: 'nope' },
        { name: 'default-ipv4-ippool', cidr: '10.244.0.0/16' },
      ],
    },
    {
      podCidrMode: 'calico',
      podCIDR: {
        'default-ipv4-ippool': { ipv4: ['10.244.0.0/16'], ipv6: [] },
        v6: { ipv4: [], ipv6: ['fd00:10:244::/64'] },
      },
    },
  ],
  [
    'calico mode while Calico is not installed: empty podCIDR map',
    { spec: { autoDetect: { podCidrMode: 'calico', nodeIP: false } }, calicoPools: undefined },
    { podCidrMode: 'calico', podCIDR: {} },
  ],
  [
    'auto with Calico installed but no pools: calico, empty map',
    { spec: { autoDetect: { nodeIP: false } }, calicoPools: [] },
    { podCidrMode: 'calico', podCIDR: {} },
  ],
  [
    'mode "" clears podCIDR; nodeIP off clears nodeIP; clusterIP off clears clusterIP',
    {
      spec: { autoDetect: { podCidrMode: '', nodeIP: false, clusterIP: false } },
      serviceCidrs: ['10.96.0.0/12'],
      calicoPools: [{ name: 'p', cidr: '10.1.0.0/16' }],
    },
    { podCidrMode: '' },
  ],
  [
    'clusterIP detected but empty (no kube-controller-manager flag found): empty lists',
    { spec: { autoDetect: { podCidrMode: '', nodeIP: false } }, serviceCidrs: [] },
    { podCidrMode: '', clusterIP: { ipv4: [], ipv6: [] } },
  ],
  [
    'extraCidr: plain IPs → /32 and /128, host bits cleared, canonical, deduplicated, sorted, junk dropped',
    {
      spec: {
        autoDetect: { podCidrMode: '', nodeIP: false },
        extraCidr: [
          '10.10.10.1',
          'FD00::1',
          '10.7.0.9/16',
          '10.7.0.0/16',
          ' 10.10.10.1 ',
          'junk',
          '10.0.0.0/33',
          '1.2.3.4/8',
        ],
      },
    },
    { podCidrMode: '', extraCidr: ['1.0.0.0/8', '10.7.0.0/16', '10.10.10.1/32', 'fd00::1/128'] },
  ],
  [
    'node IPs: canonical, deduplicated, sorted; duplicate node entries merged',
    {
      spec: { autoDetect: { podCidrMode: '' } },
      nodes: [
        { name: 'n', internalIPs: ['FC00:0::4', '10.0.0.9'], podCIDRs: [] },
        { name: 'n', internalIPs: ['fc00::4', '10.0.0.1', 'bad'], podCIDRs: [] },
      ],
    },
    { podCidrMode: '', nodeIP: { n: { ipv4: ['10.0.0.1', '10.0.0.9'], ipv6: ['fc00::4'] } } },
  ],
];

for (const [name, over, want] of planCases) {
  test(`planClusterInfoStatus (cluster-info.ts): ${name}`, () => {
    const got = plan({ ...base, ...over });
    assert.deepEqual(got, want);
    assert.deepEqual(JSON.parse(JSON.stringify(got)), want, 'serialisable as is');
  });
}

test('planClusterInfoStatus (cluster-info.ts): turning each detector off removes exactly its part', () => {
  const full = plan({
    spec: { extraCidr: ['10.1.1.1'] },
    nodes,
    serviceCidrs: ['10.96.0.0/12'],
    calicoPools: undefined,
  });
  assert.deepEqual(Object.keys(full).sort(), ['clusterIP', 'extraCidr', 'nodeIP', 'podCIDR', 'podCidrMode']);
  const off = (autoDetect: Record<string, unknown>) =>
    plan({
      spec: { autoDetect, extraCidr: ['10.1.1.1'] },
      nodes,
      serviceCidrs: ['10.96.0.0/12'],
      calicoPools: undefined,
    });
  const { nodeIP: _n, ...noNode } = full;
  assert.deepEqual(off({ nodeIP: false }), noNode);
  const { clusterIP: _c, ...noCluster } = full;
  assert.deepEqual(off({ clusterIP: false }), noCluster);
  const { podCIDR: _p, ...noPod } = full;
  assert.deepEqual(off({ podCidrMode: '' }), { ...noPod, podCidrMode: '' });
});

test('planClusterInfoStatus (cluster-info.ts): seeded — output independent of input order, and sorted', () => {
  let seed = 7;
  const r = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const shuffle = <T>(xs: readonly T[]): T[] => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = r(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  for (let round = 0; round < 100; round++) {
    const ns = Array.from({ length: 1 + r(6) }, (_, i) => ({
      name: `node-${r(50)}-${i}`,
      internalIPs: Array.from({ length: r(3) }, () => (r(2) ? `10.0.${r(4)}.${r(256)}` : `fc00::${r(999)}`)),
      podCIDRs: Array.from({ length: r(3) }, () => (r(2) ? `10.244.${r(8)}.0/24` : `fd00:${r(9)}::/64`)),
    }));
    const pools = Array.from({ length: r(4) }, (_, i) => ({
      name: `pool${i}`,
      cidr: `10.${r(200)}.0.0/16`,
      disabled: r(4) === 0,
    }));
    const extra = Array.from({ length: r(5) }, () =>
      r(2) ? `192.168.${r(4)}.${r(9)}` : `172.16.${r(4)}.0/24`,
    );
    const mode = ['k8s', 'calico', 'auto', '', undefined][r(5)];
    const installed = r(2) === 0;
    const a = plan({
      spec: { autoDetect: { podCidrMode: mode }, extraCidr: extra },
      nodes: ns,
      serviceCidrs: ['10.96.0.0/12'],
      calicoPools: installed ? pools : undefined,
    });
    const b = plan({
      spec: { autoDetect: { podCidrMode: mode }, extraCidr: shuffle(extra) },
      nodes: shuffle(ns).map((n) => ({
        ...n,
        internalIPs: shuffle(n.internalIPs),
        podCIDRs: shuffle(n.podCIDRs),
      })),
      serviceCidrs: ['10.96.0.0/12'],
      calicoPools: installed ? shuffle(pools) : undefined,
    });
    assert.equal(JSON.stringify(a), JSON.stringify(b));
    const sortedKeys = (o: object | undefined) =>
      Object.keys(o ?? {}).join() ===
      Object.keys(o ?? {})
        .sort()
        .join();
    assert.ok(sortedKeys(a.nodeIP) && sortedKeys(a.podCIDR));
    assert.deepEqual(a.extraCidr ?? [], [...new Set(a.extraCidr ?? [])]);
    for (const l of [...Object.values(a.nodeIP ?? {}), ...Object.values(a.podCIDR ?? {})]) {
      assert.ok(l.ipv4.every((x) => !x.includes(':')) && l.ipv6.every((x) => x.includes(':')));
    }
  }
});
