// EgressTunnel identities: unique, stable across restarts, garbage and duplicates repaired.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMark, markRange } from '../../../src/api/contracts.ts';
import { type ExistingTunnel, planTunnels, tunnelMac } from '../../../src/controller/planners/tunnels.ts';

const MARK_FIRST = markRange().first;

const cfg = { ipv4Subnet: '192.200.0.1/16', ipv6Subnet: 'fd11::/112' };

test('fresh nodes get the lowest free addresses and marks, and an upstream-style MAC', () => {
  const p = planTunnels(['b', 'a'], [], cfg);
  assert.deepEqual(p.identities.get('a'), {
    node: 'a',
    ipv4: '192.200.0.1',
    ipv6: 'fd11::1',
    mac: tunnelMac('a'),
    mark: '0x26000001',
  });
  assert.deepEqual(p.identities.get('b')?.ipv4, '192.200.0.2');
  assert.match(tunnelMac('a'), /^66(:[0-9a-f]{2}){5}$/);
});

test('a restart keeps every valid allocation exactly', () => {
  const existing: ExistingTunnel[] = [
    { node: 'a', ipv4: '192.200.7.7', ipv6: 'fd11::77', mac: tunnelMac('a'), mark: '0x26000099' },
    { node: 'b', ipv4: '192.200.0.1', ipv6: 'fd11::1', mac: tunnelMac('b'), mark: '0x26000001' },
  ];
  const p = planTunnels(['a', 'b'], existing, cfg);
  for (const e of existing) assert.deepEqual(p.identities.get(e.node), e);
});

test('duplicates: the lexically-first node keeps the value, the other is re-allocated', () => {
  const p = planTunnels(
    ['a', 'b'],
    [
      { node: 'b', ipv4: '192.200.0.5', mark: '0x26000005', mac: tunnelMac('b') },
      { node: 'a', ipv4: '192.200.0.5', mark: '0x26000005', mac: tunnelMac('a') },
    ],
    cfg,
  );
  assert.equal(p.identities.get('a')?.ipv4, '192.200.0.5');
  assert.equal(p.identities.get('a')?.mark, '0x26000005');
  assert.notEqual(p.identities.get('b')?.ipv4, '192.200.0.5');
  assert.notEqual(p.identities.get('b')?.mark, '0x26000005');
});

test('garbage in status is replaced, never fatal', () => {
  const junk = [
    '',
    '<nil>',
    '999.1.1.1',
    '10.0.0.1',
    'fd11::1',
    '0x',
    '0xzz',
    '0x27000000',
    '0x26000000',
    '0x26ffffff',
  ];
  for (const j of junk) {
    const p = planTunnels(['a'], [{ node: 'a', ipv4: j, ipv6: j, mac: j, mark: j }], cfg);
    const id = p.identities.get('a')!;
    assert.match(id.ipv4!, /^192\.200\./);
    assert.match(id.ipv6!, /^fd11::/);
    assert.match(id.mark, /^0x26/);
    assert.equal(id.mac, tunnelMac('a'));
  }
});

test('network and broadcast addresses are never handed out; exhaustion is reported', () => {
  const small = { ipv4Subnet: '10.0.0.0/30' };
  const p = planTunnels(['a', 'b', 'c'], [], small);
  assert.deepEqual(
    [...p.identities.values()].map((i) => i.ipv4),
    ['10.0.0.1', '10.0.0.2', undefined],
  );
  assert.deepEqual(p.exhausted, [{ node: 'c', family: 4 }]);
});

test('orphans: tunnels of deleted nodes are listed for deletion', () => {
  const p = planTunnels(['a'], [{ node: 'gone' }, { node: 'a' }], cfg);
  assert.deepEqual(p.orphans, ['gone']);
});

test('property: 500 random histories never yield two nodes with one IP, MAC or mark', () => {
  let s = 42;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  for (let round = 0; round < 500; round++) {
    const nodes = Array.from({ length: 1 + rnd(20) }, (_, i) => `n${i}`);
    const existing: ExistingTunnel[] = nodes
      .filter(() => rnd(2))
      .map((node) => ({
        node,
        ipv4: `192.200.0.${rnd(6)}`,
        ipv6: `fd11::${rnd(6)}`,
        mark: formatMark(MARK_FIRST + rnd(5)),
        mac: rnd(2) ? tunnelMac(node) : 'junk',
      }));
    const ids = [...planTunnels(nodes, existing, cfg).identities.values()];
    assert.equal(ids.length, nodes.length);
    for (const k of ['ipv4', 'ipv6', 'mac', 'mark'] as const) {
      assert.equal(new Set(ids.map((i) => i[k])).size, ids.length, `${k} unique in round ${round}`);
    }
    // stable: planning again from the result changes nothing
    const again = planTunnels(nodes, ids, cfg);
    for (const i of ids) assert.deepEqual(again.identities.get(i.node), i);
  }
});

test('feature.mark=0x27000000: marks come from that base, and 0x26… marks are re-allocated', () => {
  const p = planTunnels(
    ['a', 'b', 'c'],
    [
      { node: 'a', ipv4: '192.200.0.1', mac: tunnelMac('a'), mark: '0x26000001' },
      { node: 'b', ipv4: '192.200.0.2', mac: tunnelMac('b'), mark: '0x27000005' },
    ],
    { ...cfg, markBase: 0x27000000 },
  );
  assert.equal(p.identities.get('b')?.mark, '0x27000005', 'a mark of the base is kept');
  assert.equal(p.identities.get('a')?.mark, '0x27000001', 'a mark of another base is replaced');
  assert.equal(p.identities.get('c')?.mark, '0x27000002');
  for (const id of p.identities.values()) assert.match(id.mark, /^0x27[0-9a-f]{6}$/);
});
