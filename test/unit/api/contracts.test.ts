// The wire contracts shared by controller and agents: the mark range follows the configured
// base, and neither side carries its own copy of a contract.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { planDatapath } from '../../../src/agent/planner.ts';
import {
  encodeProbe,
  formatMark,
  isMarkBase,
  markRange,
  parseMark,
  parseProbe,
} from '../../../src/api/contracts.ts';

test('the mark range is derived from the base', () => {
  assert.deepEqual(markRange(), { base: 0x26000000, first: 0x26000001, last: 0x26fffffe });
  assert.deepEqual(markRange(0x27000000), { base: 0x27000000, first: 0x27000001, last: 0x27fffffe });
  assert.equal(markRange(0xff000000).last, 0xfffffffe);
  for (const bad of [0, 0x26000001, 0x1000000000, -1, 0.5]) assert.equal(isMarkBase(bad), false, String(bad));
  assert.throws(() => markRange(0x26000100), /top byte/);
});

test('parseMark accepts only marks of the given range', () => {
  const r27 = markRange(0x27000000);
  assert.equal(parseMark('0x27000001', r27), 0x27000001);
  assert.equal(parseMark('0x26000001', r27), undefined);
  assert.equal(parseMark('0x27000000', r27), undefined, 'the base is never a node mark');
  assert.equal(parseMark('0x27ffffff', r27), undefined);
  assert.equal(parseMark('0x26000001'), 0x26000001, 'default base');
  for (const bad of [undefined, '', '26000001', '0x', '0x123456789', '0xzz'])
    assert.equal(parseMark(bad, r27), undefined, String(bad));
  assert.equal(formatMark(0x27000001), '0x27000001');
  assert.equal(formatMark(0xff000001), '0xff000001');
});

test('probes round-trip through the contract', () => {
  assert.deepEqual(parseProbe(encodeProbe('n1', ['n2'], ['1.2.3.4|'])), {
    v: 1,
    node: 'n1',
    hears: ['n2'],
    holds: ['1.2.3.4|'],
  });
});

test('the agent routes by the marks of the configured base only', () => {
  const tunnel = (name: string, mark: string, ip: string, parent: string) => ({
    metadata: { name },
    status: {
      mark,
      tunnel: { ipv4: ip, mac: '66:00:00:00:00:0' + name.slice(-1), parent: { ipv4: parent } },
    },
  });
  const plan = planDatapath(
    {
      node: 'n1',
      families: { ipv4: true, ipv6: false },
      vxlan: { name: 'egress.vxlan', id: 100, port: 7789 },
      markBase: 0x27000000,
      tunnelSubnets: { ipv4: '172.31.0.0/16' },
    },
    {
      parent: { name: 'eth0', ipv4: '10.0.0.1' },
      tunnels: [
        tunnel('n1', '0x27000001', '172.31.0.1', '10.0.0.1'),
        tunnel('n2', '0x27000002', '172.31.0.2', '10.0.0.2'),
        tunnel('n3', '0x26000003', '172.31.0.3', '10.0.0.3'),
      ],
      policies: [],
      clusterPolicies: [],
      slices: [],
    },
  );
  assert.deepEqual(
    plan.routes.map((r) => r.mark),
    [0x27000002],
    'n3 has a mark of another base (stale): no route for it',
  );
});

test('the agent imports nothing from src/controller, and contracts are not copied', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
    });
  for (const f of files('src/agent')) {
    assert.doesNotMatch(readFileSync(f, 'utf8'), /from '[./]*\/controller\//, `${f} imports the controller`);
  }
  const contracts = ['0x26000000', "'spidernet.io/policy-name'", '0x26000001', '0x26fffffe'];
  for (const f of [...files('src/agent'), ...files('src/controller')]) {
    // code only: comments may cite upstream's values
    const text = readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => !/^\s*(\/\/|\/\*|\*)/.test(l))
      .join('\n');
    for (const c of contracts) assert.ok(!text.includes(c), `${f} carries its own copy of ${c}`);
  }
});
