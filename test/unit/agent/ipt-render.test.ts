// The iptables + ipset rendering of a plan, and the restore inputs built from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeToCidrs, renderIptables } from '../../../src/agent/ipt-render.ts';
import {
  calicoBefore,
  ipsetInput,
  parseSave,
  restoreInput,
  staleSets,
} from '../../../src/agent/ipt-restore.ts';
import { type DatapathInput, planDatapath } from '../../../src/agent/planner.ts';
import { cidrToRange, parseCidr, parseIp } from '../../../src/common/ip.ts';
import { PLANNER_CONFIG, policyFixture, tunnelFixture } from '../../support/agent-fixtures.ts';

const render = { markBase: 0x26000000, vxlanName: 'egress.vxlan' };
const range = (a: string, b: string) => ({
  family: 4 as const,
  start: parseIp(a).value,
  end: parseIp(b).value,
});

function plan(over: Partial<DatapathInput> = {}) {
  return planDatapath(PLANNER_CONFIG, {
    parent: { name: 'eth0', ipv4: '172.22.0.1' },
    tunnels: [tunnelFixture('a', 1), tunnelFixture('b', 2)],
    policies: [
      policyFixture('p1', 'b', { priority: 1, destSubnet: ['8.8.8.0/24', '2001:db8::/32'] }),
      policyFixture('p2', 'a', {}),
      policyFixture('p3', 'b', {}),
      policyFixture('p4', 'a', {
        egressIP: { useNodeIP: true },
        appliedTo: { podSubnet: ['10.244.0.0/24'] },
      }),
    ],
    clusterPolicies: [],
    slices: [
      ...['p1', 'p2'].map((p) => ({
        policyKey: `default/${p}`,
        endpoints: [
          { node: 'a', ipv4: ['10.244.0.5'], ipv6: ['fd40::5'] },
          { node: 'b', ipv4: ['10.244.1.7'] },
        ],
      })),
      { policyKey: 'default/p3', endpoints: [{ node: 'a', ipv4: ['10.244.0.9'] }] },
    ],
    clusterInfo: { metadata: { name: 'default' }, status: { podCIDR: { k8s: { ipv4: ['10.244.0.0/16'] } } } },
    ...over,
  });
}

test('rangeToCidrs: exact, minimal, and no /0 (hash:net refuses it)', () => {
  assert.deepEqual(rangeToCidrs(range('10.0.0.1', '10.0.0.6')), [
    '10.0.0.1/32',
    '10.0.0.2/31',
    '10.0.0.4/31',
    '10.0.0.6/32',
  ]);
  assert.deepEqual(rangeToCidrs(range('10.0.0.0', '10.0.0.255')), ['10.0.0.0/24']);
  assert.deepEqual(rangeToCidrs(range('0.0.0.0', '255.255.255.255')), ['0.0.0.0/1', '128.0.0.0/1']);
  assert.deepEqual(rangeToCidrs(cidrToRange(parseCidr('::/0'))), ['::/1', '8000::/1']);
  assert.deepEqual(rangeToCidrs(cidrToRange(parseCidr('fd40::5/128'))), ['fd40::5/128']);
});

test('renderIptables: one map lookup marks a source whose first policy has no destSubnet', () => {
  const ipt = renderIptables(plan(), render, [4, 6]);
  const set = (n: string) => ipt.sets.find((s) => s.name === n);
  // 10.244.0.9 is only in p3 (carried by b, no destSubnet): the source → mark map
  assert.deepEqual(set('egw4-fast'), {
    name: 'egw4-fast',
    family: 4,
    skbinfo: true,
    members: ['10.244.0.9/32 skbmark 0x26000002'],
  });
  const pre = ipt.chains[4].find((c) => c.table === 'mangle' && c.name === 'EGW-PREROUTING')!;
  assert.deepEqual(pre.rules, [
    '-m set ! --match-set egw4-mark src -j RETURN',
    '-m conntrack --ctdir REPLY -j RETURN',
    '-m set --match-set egw4-cluster dst -j RETURN',
    '-j SET --map-set egw4-fast src --map-mark',
    '-m mark --mark 0x26000000/0xff000000 -j RETURN',
    '-m set --match-set egw4-mg0 src -g EGW-MG-0',
  ]);
  // 10.244.0.5 is in p1 (destSubnet, carried by b) then p2 (carried here): its group chain
  // marks for p1's destinations and stops (no mark) for anything else
  assert.deepEqual(set('egw4-mg0')?.members, ['10.244.0.5/32']);
  assert.deepEqual(ipt.chains[4].find((c) => c.name === 'EGW-MG-0')?.rules, [
    '-m set --match-set egw4-d0 dst -m comment --comment "EgressPolicy default/p1" -g EGW-MARK-26000002',
    '-m comment --comment "EgressPolicy default/p2" -j RETURN',
  ]);
  assert.deepEqual(ipt.chains[4].find((c) => c.name === 'EGW-MARK-26000002')?.rules, [
    '-j MARK --set-xmark 0x26000002/0xffffffff',
  ]);
  assert.deepEqual(set('egw4-d0')?.members, ['8.8.8.0/24']);
  assert.deepEqual(set('egw6-d1')?.members, ['2001:db8::/32']);
});

test('renderIptables: mark-loop guard, tunnel guard and SNAT groups', () => {
  const ipt = renderIptables(plan(), render, [4, 6]);
  const chain = (f: 4 | 6, table: string, name: string) =>
    ipt.chains[f].find((c) => c.table === table && c.name === name)?.rules;
  assert.deepEqual(chain(4, 'mangle', 'EGW-FORWARD'), [
    '-m mark --mark 0x26000000/0xff000000 -j MARK --set-xmark 0x26000000/0xffffffff',
  ]);
  assert.deepEqual(chain(6, 'filter', 'EGW-FORWARD'), [
    '-i egress.vxlan -m conntrack --ctdir ORIGINAL -m set ! --match-set egw6-here src -j DROP',
  ]);
  assert.deepEqual(chain(4, 'nat', 'EGW-POSTROUTING'), [
    '-o egress.vxlan -m mark --mark 0x26000000 -j NETMAP --to 0.0.0.0/0',
    '-m set ! --match-set egw4-here src -j RETURN',
    '-m set --match-set egw4-cluster dst -j RETURN',
    '-m set --match-set egw4-sg0 src -g EGW-SG-0',
    '-m set --match-set egw4-sg1 src -g EGW-SG-1',
  ]);
  // the pod subnet of p4 masquerades, except the pods p2 (priority by name) SNATs first;
  // sources with the same deciding rules share one group, whatever their other policies
  assert.deepEqual(chain(4, 'nat', 'EGW-SG-0'), [
    '-m comment --comment "EgressPolicy default/p4" -j MASQUERADE',
  ]);
  assert.deepEqual(chain(4, 'nat', 'EGW-SG-1'), [
    '-m comment --comment "EgressPolicy default/p2" -j SNAT --to-source 172.22.0.110',
  ]);
  const sg1 = ipt.sets.find((s) => s.name === 'egw4-sg1')?.members;
  assert.deepEqual(sg1, ['10.244.0.5/32', '10.244.1.7/32']);
  assert.deepEqual(chain(6, 'nat', 'EGW-SG-0'), [
    '-m comment --comment "EgressPolicy default/p2" -j SNAT --to-source fd00::110',
  ]);
  assert.deepEqual(
    ipt.sets.find((s) => s.name === 'egw4-here')?.members,
    ['10.244.0.0/24', '10.244.1.7/32'],
    'the tunnel guard lets in what is SNATed here',
  );
});

test('renderIptables: no policies, only the static guards; names fit iptables and ipset limits', () => {
  const ipt = renderIptables(plan({ policies: [] }), render, [4]);
  assert.deepEqual(
    ipt.sets.map((s) => s.name),
    ['egw4-here'],
  );
  assert.deepEqual(ipt.chains[4].find((c) => c.name === 'EGW-PREROUTING')?.rules, []);
  assert.deepEqual(ipt.chains[6], []);
  for (const c of renderIptables(plan(), render, [4, 6]).chains[4]) assert.ok(c.name.length <= 28, c.name);
});

test('restoreInput: our chains declared and filled, jumps inserted once, stale ones removed', () => {
  const chains = renderIptables(plan({ policies: [] }), render, [4]).chains[4];
  const first = restoreInput(chains, new Map());
  assert.match(first, /^\*mangle\n:EGW-PREROUTING - \[0:0\]\n/);
  assert.match(first, /-I PREROUTING 1 -m comment --comment egressgateway -j EGW-PREROUTING\n/);
  assert.match(first, /\*nat\n:EGW-POSTROUTING - \[0:0\]\n-A EGW-POSTROUTING -o egress.vxlan/);
  const saved = parseSave(`# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:EGW-POSTROUTING - [0:0]
:EGW-SG-3 - [0:0]
:cali-POSTROUTING - [0:0]
-A POSTROUTING -j cali-POSTROUTING
-A POSTROUTING -m comment --comment egressgateway -j EGW-POSTROUTING
-A POSTROUTING -m comment --comment egressgateway -j EGW-POSTROUTING
-A POSTROUTING -s 10.0.0.0/8 -j EGW-SG-3
-A EGW-POSTROUTING -j EGW-SG-3
COMMIT
`);
  const nat = restoreInput(
    chains.filter((c) => c.table === 'nat'),
    saved,
  );
  assert.equal(
    nat,
    [
      '*nat',
      ':EGW-POSTROUTING - [0:0]',
      ':EGW-SG-3 - [0:0]',
      '-A EGW-POSTROUTING -o egress.vxlan -m mark --mark 0x26000000 -j NETMAP --to 0.0.0.0/0',
      '-D POSTROUTING -m comment --comment egressgateway -j EGW-POSTROUTING',
      '-D POSTROUTING -s 10.0.0.0/8 -j EGW-SG-3',
      '-X EGW-SG-3',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.deepEqual(calicoBefore(saved, 'nat', 'POSTROUTING'), ['cali-POSTROUTING']);
  assert.deepEqual(calicoBefore(saved, 'mangle', 'PREROUTING'), []);
  // removing everything: only deletions; a table without anything of ours is not touched
  assert.equal(
    restoreInput([], saved),
    [
      '*nat',
      ':EGW-POSTROUTING - [0:0]',
      ':EGW-SG-3 - [0:0]',
      '-D POSTROUTING -m comment --comment egressgateway -j EGW-POSTROUTING',
      '-D POSTROUTING -m comment --comment egressgateway -j EGW-POSTROUTING',
      '-D POSTROUTING -s 10.0.0.0/8 -j EGW-SG-3',
      '-X EGW-POSTROUTING',
      '-X EGW-SG-3',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.equal(restoreInput([], parseSave('*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n')), '');
});

test('ipsetInput: new sets filled, a few changes applied one by one in a safe order, many swapped in', () => {
  const sets = [
    { name: 'egw4-here', family: 4 as const, skbinfo: false, members: ['10.0.0.0/24'] },
    { name: 'egw4-fast', family: 4 as const, skbinfo: true, members: ['10.0.0.5/32 skbmark 0x26000002'] },
  ];
  assert.equal(
    ipsetInput(sets, new Set(), new Map()),
    [
      'create egw4-fast hash:net family inet maxelem 1048576 skbinfo',
      'add egw4-fast 10.0.0.5/32 skbmark 0x26000002',
      'create egw4-here hash:net family inet maxelem 1048576',
      'add egw4-here 10.0.0.0/24',
      '',
    ].join('\n'),
  );
  // a few changes: just those, decisions before gates on the way in, gates first on the way out
  const existing = new Set(['egw4-here', 'egw4-fast', 'egw4-tmp']);
  const applied = new Map([
    ['egw4-here', '10.0.0.0/25\n10.9.0.0/16'],
    ['egw4-fast', '10.0.0.5/32 skbmark 0x26000003\n10.0.0.6/32 skbmark 0x26000003'],
  ]);
  assert.equal(
    ipsetInput(sets, existing, applied),
    [
      'add egw4-fast 10.0.0.5/32 skbmark 0x26000002 -exist',
      'add egw4-here 10.0.0.0/24 -exist',
      'del egw4-here 10.0.0.0/25 -exist',
      'del egw4-here 10.9.0.0/16 -exist',
      'del egw4-fast 10.0.0.6/32 -exist',
      '',
    ].join('\n'),
  );
  // many changes, or a set we did not fill ourselves (after a restart): rebuilt and swapped
  const many = Array.from({ length: 100 }, (_, i) => `10.1.${i}.0/24`);
  assert.equal(
    ipsetInput([{ ...sets[0]!, members: many }], existing, new Map([['egw4-here', '10.0.0.0/25']])),
    [
      'destroy egw4-tmp',
      'create egw4-tmp hash:net family inet maxelem 1048576',
      ...many.map((m) => `add egw4-tmp ${m}`),
      'swap egw4-tmp egw4-here',
      'destroy egw4-tmp',
      '',
    ].join('\n'),
  );
  assert.match(
    ipsetInput(sets, existing, new Map()),
    /swap egw4-tmpx egw4-fast[\s\S]*swap egw4-tmp egw4-here/,
  );
  assert.equal(ipsetInput(sets, existing, new Map(sets.map((s) => [s.name, s.members.join('\n')]))), '');
  assert.deepEqual(staleSets(['egw4-here', 'egw4-d7', 'cali40-x', 'egw6-tmp'], sets, /^egw[46]-/), [
    'egw4-d7',
    'egw6-tmp',
  ]);
});
