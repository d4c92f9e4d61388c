// EIP allocation and placement: shared default EIPs list every user, rr takes free
// addresses, placement balances and is stable, failover spreads, outputs always agree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type GatewayNode,
  hash32,
  MAX_CANDIDATES,
  type PolicyInput,
  planGateway,
  policyKey,
  rendezvous,
} from '../../../src/controller/planners/gateway.ts';

const gw = {
  name: 'default',
  ipv4Pool: ['172.22.0.100-172.22.0.110'],
  ipv6Pool: [],
  ipv4DefaultEIP: '172.22.0.110',
  enableIPv4: true,
  enableIPv6: false,
};
const node = (name: string, usable = true, ipv4?: string): GatewayNode => ({
  name,
  usable,
  phase: usable ? 'Ready' : 'NodeNotReady',
  ...(ipv4 ? { ipv4 } : {}),
});
const pol = (name: string, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  namespace: 'default',
  name,
  useNodeIP: false,
  allocatorPolicy: 'default',
  ...extra,
});

/** Invariants every plan must hold. */
function check(plan: ReturnType<typeof planGateway>) {
  const seen = new Map<string, string>();
  for (const n of plan.nodeList) {
    for (const e of n.eips) {
      const k = `${e.ipv4}|${e.ipv6}`;
      if (e.ipv4 || e.ipv6) {
        assert.ok(!seen.has(k), `EIP ${k} on ${seen.get(k)} and ${n.name}`);
        seen.set(k, n.name);
      }
      for (const p of e.policies) {
        const st = plan.policies.get(policyKey(p));
        assert.equal(st?.node, n.name, `policy ${policyKey(p)} status disagrees with nodeList`);
        if (e.ipv4) assert.equal(st?.eip.ipv4, e.ipv4);
      }
    }
  }
}

test('the seed: one policy gets the default EIP on a Ready gateway node', () => {
  const plan = planGateway(gw, [node('egressgateway-worker'), node('egressgateway-worker2')], [pol('test')]);
  check(plan);
  const st = plan.policies.get('default/test')!;
  assert.equal(st.eip.ipv4, '172.22.0.110');
  assert.ok(['egressgateway-worker', 'egressgateway-worker2'].includes(st.node));
  assert.deepEqual(plan.ipUsage, { ipv4Total: 11, ipv4Free: 10, ipv6Total: 0, ipv6Free: 0 });
});

test('a shared default EIP lists every policy that uses it (upstream listed only the first)', () => {
  const plan = planGateway(gw, [node('a')], [pol('p1'), pol('p2'), pol('p3', { namespace: 'other' })]);
  check(plan);
  const eips = plan.nodeList[0]!.eips;
  assert.equal(eips.length, 1);
  assert.deepEqual(eips[0]!.policies.map(policyKey), ['default/p1', 'default/p2', 'other/p3']);
});

test('rr takes the lowest free address, never one named explicitly or the default', () => {
  const plan = planGateway(
    gw,
    [node('a')],
    [
      pol('x', { ipv4: '172.22.0.100' }),
      pol('r1', { allocatorPolicy: 'rr' }),
      pol('r2', { allocatorPolicy: 'rr' }),
    ],
  );
  check(plan);
  assert.equal(plan.policies.get('default/r1')!.eip.ipv4, '172.22.0.101');
  assert.equal(plan.policies.get('default/r2')!.eip.ipv4, '172.22.0.102');
});

test('rr keeps its current address on restart; exhaustion is a reported failure, not a crash', () => {
  const plan = planGateway(
    gw,
    [node('a')],
    [pol('r', { allocatorPolicy: 'rr', current: { ipv4: '172.22.0.105', node: 'a' } })],
  );
  assert.equal(plan.policies.get('default/r')!.eip.ipv4, '172.22.0.105');
  const tiny = { ...gw, ipv4Pool: ['10.0.0.1'], ipv4DefaultEIP: '10.0.0.1' };
  const ex = planGateway(tiny, [node('a')], [pol('d'), pol('r', { allocatorPolicy: 'rr' })]);
  assert.deepEqual(
    ex.failures.map((f) => f.policy),
    ['default/r'],
  );
});

test('no usable node: addresses allocated, nothing placed, no crash (upstream panicked)', () => {
  const plan = planGateway(gw, [node('a', false)], [pol('p', { allocatorPolicy: 'rr' })]);
  assert.equal(plan.policies.get('default/p')!.node, '');
  assert.equal(plan.policies.get('default/p')!.eip.ipv4, '172.22.0.100');
  assert.deepEqual(plan.nodeList, [{ name: 'a', status: 'NodeNotReady', eips: [] }]);
});

test('balanced placement, stable while nodes stay usable, spread over all survivors on failure', () => {
  const big = { ...gw, ipv4Pool: ['10.0.0.1-10.0.0.100'], ipv4DefaultEIP: '10.0.0.100' };
  const policies = Array.from({ length: 12 }, (_, i) => pol(`p${i}`, { ipv4: `10.0.0.${i + 1}` }));
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((n) => node(n));
  const first = planGateway(big, nodes, policies);
  check(first);
  assert.deepEqual(
    first.nodeList.map((n) => n.eips.length),
    [3, 3, 3, 3],
  );
  // restart: same answer from the policies' own status
  const withStatus = policies.map((p) => ({ ...p, current: first.policies.get(policyKey(p))! }));
  const again = planGateway(big, nodes, withStatus);
  assert.deepEqual(again.nodeList, first.nodeList);
  // n1 fails: its 3 EIPs go to 3 different survivors, nobody else moves
  const failed = planGateway(big, [node('n1', false), ...nodes.slice(1)], withStatus);
  check(failed);
  const moved = first.nodeList[0]!.eips.map((e) => failed.policies.get(policyKey(e.policies[0]!))!.node);
  assert.equal(new Set(moved).size, 3);
  for (const p of withStatus) {
    if (p.current.node !== 'n1') assert.equal(failed.policies.get(policyKey(p))!.node, p.current.node);
  }
});

test('candidates: current node first, then other usable nodes in rendezvous order, at most 4', () => {
  const plan = planGateway(gw, [node('a'), node('b'), node('c', false)], [pol('p')]);
  const c = plan.eipCandidates[0]!;
  assert.equal(c.nodes[0], plan.policies.get('default/p')!.node);
  assert.deepEqual([...c.nodes].sort(), ['a', 'b']);
  const many = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
  const big = planGateway(
    gw,
    many.map((n) => node(n)),
    [pol('p')],
  );
  const list = big.eipCandidates[0]!.nodes;
  assert.equal(list.length, MAX_CANDIDATES);
  const holder = big.policies.get('default/p')!.node;
  assert.equal(list[0], holder);
  // The standbys are the top of the rendezvous order (key "ipv4|ipv6") without the holder.
  const { ipv4, ipv6 } = big.eipCandidates[0]!;
  const order = rendezvous(`${ipv4}|${ipv6}`, many).filter((n) => n !== holder);
  assert.deepEqual(list.slice(1), order.slice(0, MAX_CANDIDATES - 1));
});

test('rendezvous: deterministic, a permutation, and spread over nodes', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
  assert.deepEqual(rendezvous('k', nodes), rendezvous('k', [...nodes].reverse()));
  assert.deepEqual([...rendezvous('k', nodes)].sort(), [...nodes].sort());
  const firsts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const top = rendezvous(`eip-${i}`, nodes)[0]!;
    firsts.set(top, (firsts.get(top) ?? 0) + 1);
  }
  // 1,000 expected per node; a poor hash would starve some and favour others.
  for (const n of nodes)
    assert.ok((firsts.get(n) ?? 0) > 850 && (firsts.get(n) ?? 0) < 1150, `${n}: ${firsts.get(n)}`);
  assert.equal(hash32('abc'), hash32('abc'));
  assert.notEqual(hash32('abc'), hash32('abd'));
});

test('useNodeIP: the policy leaves with its node address; dual stack pairs by index', () => {
  const plan = planGateway(
    gw,
    [node('a', true, '172.22.0.3')],
    [pol('n', { useNodeIP: true }), pol('m', { useNodeIP: true })],
  );
  assert.deepEqual(plan.policies.get('default/n')!.eip, { ipv4: '172.22.0.3', ipv6: '' });
  assert.deepEqual(plan.nodeList[0]!.eips, [
    {
      ipv4: '',
      ipv6: '',
      policies: [
        { name: 'm', namespace: 'default' },
        { name: 'n', namespace: 'default' },
      ],
    },
  ]);
  const dual = {
    ...gw,
    ipv4Pool: ['10.0.0.1-10.0.0.3'],
    ipv6Pool: ['fd00::1-fd00::3'],
    ipv4DefaultEIP: '10.0.0.3',
    ipv6DefaultEIP: 'fd00::3',
    enableIPv6: true,
  };
  const d = planGateway(
    dual,
    [node('a')],
    [pol('r', { allocatorPolicy: 'rr' }), pol('s', { allocatorPolicy: 'rr' })],
  );
  assert.deepEqual(d.policies.get('default/r')!.eip, { ipv4: '10.0.0.1', ipv6: 'fd00::1' });
  assert.deepEqual(d.policies.get('default/s')!.eip, { ipv4: '10.0.0.2', ipv6: 'fd00::2' });
});

test('property: random clusters and failures keep every invariant', () => {
  let s = 9;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  const big = { ...gw, ipv4Pool: ['10.0.0.1-10.0.0.200'], ipv4DefaultEIP: '10.0.0.200' };
  for (let round = 0; round < 200; round++) {
    const nodes = Array.from({ length: 1 + rnd(6) }, (_, i) => node(`n${i}`, rnd(4) > 0));
    const policies = Array.from({ length: rnd(30) }, (_, i) =>
      pol(
        `p${i}`,
        rnd(3) === 0 ? { ipv4: `10.0.0.${1 + rnd(50)}` } : rnd(2) ? { allocatorPolicy: 'rr' } : {},
      ),
    );
    const plan = planGateway(big, nodes, policies);
    check(plan);
    const counts = plan.nodeList
      .filter((n) => nodes.find((x) => x.name === n.name)!.usable)
      .map((n) => n.eips.length);
    if (counts.length) assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts}`);
  }
});
