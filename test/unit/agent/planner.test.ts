// The agent's pure datapath planner and its nftables rendering.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderNft, sourceGroups } from '../../../src/agent/nft-render.ts';
import {
  type DatapathInput,
  formatRange,
  type PolicyRule,
  planDatapath,
} from '../../../src/agent/planner.ts';
import type { EgressTunnel } from '../../../src/api/types.generated.ts';
import { PLANNER_CONFIG, policyFixture, tunnelFixture } from '../../support/agent-fixtures.ts';

const cfg = PLANNER_CONFIG;
const tunnel = (node: string, n: number, extra: Partial<NonNullable<EgressTunnel['status']>> = {}) =>
  tunnelFixture(node, n, '172.22.0', extra);
const policy = policyFixture;

const slices = (key: string) => [
  {
    policyKey: key,
    endpoints: [
      { node: 'a', ipv4: ['10.244.0.5'], ipv6: ['fd40::5'] },
      { node: 'b', ipv4: ['10.244.1.7'], ipv6: ['fd40:0:0:1::7'] },
    ],
  },
];

function input(over: Partial<DatapathInput> = {}): DatapathInput {
  return {
    parent: { name: 'eth0', ipv4: '172.22.0.1' },
    tunnels: [tunnel('a', 1), tunnel('b', 2), tunnel('c', 3)],
    policies: [],
    clusterPolicies: [],
    slices: [],
    clusterInfo: {
      metadata: { name: 'default' },
      status: {
        podCIDR: { k8s: { ipv4: ['10.244.0.0/24', '10.244.1.0/24'], ipv6: ['fd40::/64'] } },
        clusterIP: { ipv4: ['10.96.0.0/16'] },
        nodeIP: { a: { ipv4: ['172.22.0.1'] }, b: { ipv4: ['172.22.0.2'] } },
        extraCidr: ['not-a-cidr', '100.64.0.1'],
      },
    },
    ...over,
  };
}

test('planner: own tunnel device from the controller identity and the detected underlay', () => {
  const p = planDatapath(cfg, input());
  assert.deepEqual(p.vxlan, {
    name: 'egress.vxlan',
    vni: 100,
    port: 7789,
    parent: 'eth0',
    local: '172.22.0.1',
    mac: '66:00:00:00:00:01',
    addresses: ['192.200.0.1/16', 'fd11::1/112'],
  });
  // no identity yet, or no underlay: no device (and nothing routed into one)
  assert.equal(planDatapath(cfg, input({ tunnels: [tunnel('b', 2)] })).vxlan, undefined);
  const { parent: _, ...noParent } = input();
  assert.equal(planDatapath(cfg, noParent).vxlan, undefined);
});

test('planner: peers and mark routes for every other node; garbage is skipped and reported', () => {
  const bad = tunnel('d', 4);
  bad.status!.tunnel!.mac = 'zz:zz';
  const noMark = tunnel('e', 5, { mark: 'rm -rf' });
  const junkName = { ...tunnel('f', 6), metadata: { name: '-x;reboot' } };
  const p = planDatapath(
    cfg,
    input({ tunnels: [tunnel('a', 1), tunnel('c', 3), tunnel('b', 2), bad, noMark, junkName] }),
  );
  assert.deepEqual(
    p.peers.map((x) => `${x.node} ${x.mac} ${x.underlay} ${x.tunnelIps.join(',')}`),
    [
      'b 66:00:00:00:00:02 172.22.0.2 192.200.0.2,fd11::2',
      'c 66:00:00:00:00:03 172.22.0.3 192.200.0.3,fd11::3',
      'e 66:00:00:00:00:05 172.22.0.5 192.200.0.5,fd11::5',
    ],
  );
  assert.deepEqual(
    p.routes.map((r) => `${r.family} ${r.mark.toString(16)} ${r.table} ${r.via}`),
    [
      `4 26000002 ${0x26000002} 192.200.0.2`,
      `6 26000002 ${0x26000002} fd11::2`,
      `4 26000003 ${0x26000003} 192.200.0.3`,
      `6 26000003 ${0x26000003} fd11::3`,
    ],
  );
  assert.ok(p.problems.some((x) => x.includes('-x;reboot')));
});

test('planner: cluster ranges merged, tunnel subnet included, bad entries reported', () => {
  const p = planDatapath(cfg, input());
  assert.deepEqual(p.cluster[4].map(formatRange), [
    '10.96.0.0-10.96.255.255',
    '10.244.0.0-10.244.1.255',
    '100.64.0.1',
    '172.22.0.1-172.22.0.2',
    '192.200.0.0-192.200.255.255',
  ]);
  assert.deepEqual(p.cluster[6].map(formatRange), ['fd11::-fd11::ffff', 'fd40::-fd40::ffff:ffff:ffff:ffff']);
  assert.ok(p.problems.some((x) => x.includes('"not-a-cidr"')));
});

test('planner: a policy carried elsewhere marks this node’s pods for that node', () => {
  const p = planDatapath(cfg, input({ policies: [policy('web', 'b')], slices: slices('default/web') }));
  assert.equal(p.rules.length, 2);
  const [v4, v6] = p.rules;
  assert.deepEqual(v4!.src.map(formatRange), ['10.244.0.5'], 'only pods on this node');
  assert.deepEqual(v4!.action, { kind: 'mark', mark: 0x26000002 });
  assert.equal(v4!.dst, undefined, 'no destSubnet: everything outside the cluster');
  assert.deepEqual(v6!.src.map(formatRange), ['fd40::5']);
  assert.deepEqual(p.announce, []);
});

test('planner: a policy carried here SNATs all its pods to the EIP and announces it', () => {
  const here = planDatapath(cfg, input({ policies: [policy('web', 'a')], slices: slices('default/web') }));
  assert.deepEqual(
    here.rules.map((r) => [r.family, r.src.map(formatRange).join(','), r.action]),
    [
      [4, '10.244.0.5,10.244.1.7', { kind: 'snat', to: '172.22.0.110' }],
      [6, 'fd40::5,fd40:0:0:1::7', { kind: 'snat', to: 'fd00::110' }],
    ],
  );
  assert.deepEqual(here.announce, ['172.22.0.110', 'fd00::110']);
  // useNodeIP: masquerade, nothing to announce
  const nodeIp = planDatapath(
    cfg,
    input({
      policies: [policy('web', 'a', { egressIP: { useNodeIP: true } }, '')],
      slices: slices('default/web'),
    }),
  );
  assert.deepEqual(
    nodeIp.rules.map((r) => r.action.kind),
    ['masquerade', 'masquerade'],
  );
  assert.deepEqual(nodeIp.announce, []);
});

test('planner: destSubnet per family, podSubnet as sources, priority order, unusable carriers', () => {
  const p = planDatapath(
    { ...cfg, families: { ipv4: true, ipv6: false } },
    input({
      policies: [
        policy('late', 'b', { priority: 20, destSubnet: ['8.8.8.8', 'fd00::/8'] }),
        policy('early', 'c', { priority: 10, appliedTo: { podSubnet: ['10.244.0.0/28'] } }),
        policy('v6only', 'b', { destSubnet: ['2001:db8::/32'] }),
        policy('lost', 'zz'),
        policy('unplaced', ''),
      ],
      slices: [...slices('default/late'), ...slices('default/v6only'), ...slices('default/lost')],
    }),
  );
  assert.deepEqual(
    p.rules.map((r) => `${r.policy} ${r.src.map(formatRange)} ${r.dst?.map(formatRange) ?? '*'}`),
    ['EgressPolicy default/early 10.244.0.0-10.244.0.15 *', 'EgressPolicy default/late 10.244.0.5 8.8.8.8'],
  );
  assert.ok(p.problems.some((x) => x.includes('default/lost') && x.includes('"zz"')));
});

test('planner: fast failover decides the carrier and which EIPs this node announces', () => {
  const key = '172.22.0.110|';
  const base = input({ policies: [policy('web', 'b', {}, '172.22.0.110')], slices: slices('default/web') });
  base.policies[0]!.status!.eip = { ipv4: '172.22.0.110' };
  // the controller placed it on b, but b is dead: this node (a) carries and announces it
  const taken = planDatapath(cfg, {
    ...base,
    failover: { carrier: new Map([[key, 'a']]), hold: new Set([key]) },
  });
  assert.deepEqual(
    taken.rules.map((r) => r.action.kind),
    ['snat'],
  );
  assert.deepEqual(taken.announce, ['172.22.0.110']);
  assert.deepEqual(taken.held, [key]);
  // carrier here but not (yet) allowed to announce: SNAT ready, no ARP
  const waiting = planDatapath(cfg, {
    ...base,
    failover: { carrier: new Map([[key, 'a']]), hold: new Set() },
  });
  assert.deepEqual(waiting.announce, []);
  assert.deepEqual(waiting.held, []);
  // another node carries it: traffic is marked for that node
  const elsewhere = planDatapath(cfg, {
    ...base,
    failover: { carrier: new Map([[key, 'c']]), hold: new Set() },
  });
  assert.deepEqual(elsewhere.rules[0]!.action, { kind: 'mark', mark: 0x26000003 });
  assert.ok(elsewhere.rules.every((r) => r.action.kind === 'mark'));
  // ...and this node is a standby for the EIP: it also SNATs every pod of the policy, so
  // traffic still sent here while the carrier changes leaves with the EIP
  const standby = planDatapath(cfg, {
    ...base,
    failover: { carrier: new Map([[key, 'c']]), hold: new Set(), standby: new Set([key]) },
  });
  assert.deepEqual(
    standby.rules.map((r) => [r.action.kind, r.src.map(formatRange).join(',')]),
    [
      ['mark', '10.244.0.5'],
      ['snat', '10.244.0.5,10.244.1.7'],
      ['mark', 'fd40::5'], // no IPv6 EIP: nothing to SNAT to
    ],
  );
  assert.deepEqual(standby.announce, [], 'a standby does not answer ARP');
  const text = renderNft(standby, { markBase: 0x26000000, vxlanName: 'egress.vxlan' });
  assert.match(
    text,
    /set tunnel_src4 \{ type ipv4_addr; flags interval; elements = \{ 10\.244\.0\.5, 10\.244\.1\.7 \} \}/,
  );
  assert.match(text, /iifname "egress.vxlan" ct direction original ip saddr != @tunnel_src4 drop/);
});

test('nft: one transaction that replaces our table; a source jumps to its group of policies', () => {
  const p = planDatapath(
    cfg,
    input({
      policies: [policy('web', 'b'), policy('out"side', 'a', { destSubnet: ['1.1.1.0/24'] })],
      slices: [...slices('default/web'), ...slices('default/out"side')],
    }),
  );
  const text = renderNft(p, { markBase: 0x26000000, vxlanName: 'egress.vxlan' });
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 3), [
    'table inet egressgateway',
    'delete table inet egressgateway',
    'table inet egressgateway {',
  ]);
  // 10.244.0.5 is in both policies: its mark group checks outside (here: by name first,
  // it wins for 1.1.1.0/24 and leaves the packet unmarked) then web (elsewhere)
  assert.match(
    text,
    /chain mark4_0 \{\n\t\tip daddr != @cluster4 ip daddr @dst0 accept comment "EgressPolicy default\/outside"\n\t\tip daddr != @cluster4 meta mark set 0x26000002 accept comment "EgressPolicy default\/web"\n\t\}/,
  );
  assert.match(
    text,
    /chain snat4_0 \{\n\t\tip daddr != @cluster4 ip daddr @dst0 snat ip to 172\.22\.0\.110 comment "EgressPolicy default\/outside"\n\t\}/,
  );
  assert.match(
    text,
    /map mark_src4 \{ type ipv4_addr : verdict; flags interval; elements = \{ 10\.244\.0\.5 : jump mark4_0 \} \}/,
  );
  // the remote pod is SNATed here (outside) but never marked here
  assert.match(text, /map snat_src4 \{[^}]*10\.244\.1\.7 : jump snat4_1/);
  assert.match(text, /ct direction original ip saddr vmap @mark_src4/);
  assert.match(text, /meta mark & 0xff000000 == 0x26000000 meta mark set 0x26000000/);
  assert.match(text, /oifname "egress.vxlan" meta mark 0x26000000 meta nfproto ipv4 snat ip to ip saddr/);
  assert.equal(renderNft(p, { markBase: 0x26000000, vxlanName: 'egress.vxlan' }), text, 'deterministic');
});

test('nft: source groups are disjoint, ordered and merged where neighbours share policies', () => {
  const r = (policy: string, ranges: [number, number][]): PolicyRule => ({
    policy,
    family: 4,
    src: ranges.map(([a, b]) => ({ family: 4, start: BigInt(a), end: BigInt(b) })),
    action: { kind: 'masquerade' },
  });
  const groups = sourceGroups(
    [
      r('a', [[10, 19]]),
      r('b', [[15, 24]]),
      r('c', [
        [20, 22],
        [25, 30],
      ]),
    ],
    4,
  );
  assert.deepEqual(
    groups.map((g) => `${g.range.start}-${g.range.end}:${g.rules.join(',')}`),
    ['10-14:0', '15-19:0,1', '20-22:1,2', '23-24:1', '25-30:2'],
  );
  // neighbouring pods in the same policies become one element
  assert.deepEqual(
    sourceGroups(
      [
        r('a', [
          [1, 1],
          [2, 2],
          [3, 3],
        ]),
      ],
      4,
    ).map((g) => `${g.range.start}-${g.range.end}`),
    ['1-3'],
  );
  assert.deepEqual(sourceGroups([r('a', [[1, 1]])], 6), []);
});
