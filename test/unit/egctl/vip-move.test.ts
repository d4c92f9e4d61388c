// egctl vip move's planning: which policies to re-place, and upstream's messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EgressGateway } from '../../../src/api/types.generated.ts';
import { planVipMove } from '../../../src/egctl/vip-move.ts';

const gw: EgressGateway = {
  metadata: { name: 'gw' },
  status: {
    nodeList: [
      // listed first and already holding an EIP: upstream wrongly answered "no change" here
      {
        name: 'a',
        status: 'Ready',
        eips: [{ ipv4: '10.0.0.1', policies: [{ name: 'p0', namespace: 'ns' }] }],
      },
      {
        name: 'b',
        status: 'Ready',
        eips: [
          { ipv4: '10.0.0.9', ipv6: 'fd00::9', policies: [{ name: 'p1', namespace: 'ns' }, { name: 'c1' }] },
        ],
      },
      { name: 'c', status: 'NodeNotReady', eips: [] },
    ],
  },
};

test('vip move: every policy of the EIP is re-placed, whatever the node order', () => {
  assert.deepEqual(planVipMove(gw, '10.0.0.9', 'a'), {
    kind: 'move',
    from: 'b',
    policies: [
      { name: 'p1', namespace: 'ns' },
      { name: 'c1', namespace: '' },
    ],
  });
  // by its IPv6 address too, in any spelling
  assert.equal(planVipMove(gw, 'FD00:0::9', 'a').kind, 'move');
});

test('vip move: no change, and upstream’s errors', () => {
  assert.deepEqual(planVipMove(gw, '10.0.0.9', 'b'), {
    kind: 'noop',
    message: 'Egress IP 10.0.0.9 is currently on node b, with no change.',
  });
  const err = (vip: string, node: string) => {
    const p = planVipMove(gw, vip, node);
    return p.kind === 'error' ? p.message : p.kind;
  };
  assert.equal(err('10.0.0.5', 'a'), 'VIP 10.0.0.5 not found in any node of EgressGateway gw');
  assert.equal(err('10.0.0.9', 'z'), "target node 'z' not found in EgressGateway gw");
  assert.equal(err('10.0.0.9', 'c'), "target node 'c' not ready, please select a ready node");
  assert.equal(err('x', 'a'), '--vip "x" is not an IP address');
  assert.equal(err('10.0.0.9', 'a'), 'move');
  assert.equal(planVipMove({ metadata: { name: 'gw' } }, '10.0.0.9', 'a').kind, 'error', 'no status at all');
});
