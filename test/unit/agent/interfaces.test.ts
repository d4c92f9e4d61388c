// Per-node interface choices from upstream's values: the custom tunnel parent by node labels,
// and the interfaces EIPs are never announced on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CustomInterface, excludedInterfaces, parentMethod } from '../../../src/agent/interfaces.ts';

test('tunnelDetectCustomInterface: the first entry whose selector matches every label wins', () => {
  const custom: CustomInterface[] = [
    { nodeSelector: { zone: 'a', role: 'edge' }, interfaceName: 'eth1' },
    { nodeSelector: { zone: 'a' }, interfaceName: 'eth2' },
  ];
  assert.equal(parentMethod('defaultRouteInterface', custom, { zone: 'a', role: 'edge' }), 'interface=eth1');
  assert.equal(parentMethod('defaultRouteInterface', custom, { zone: 'a' }), 'interface=eth2');
  assert.equal(
    parentMethod('interface=eth0', custom, { zone: 'b' }),
    'interface=eth0',
    'no match: the method',
  );
  assert.equal(parentMethod('defaultRouteInterface', [], { zone: 'a' }), 'defaultRouteInterface');
  assert.equal(
    parentMethod('defaultRouteInterface', [{ nodeSelector: {}, interfaceName: 'bond0' }], {}),
    'interface=bond0',
    'an empty selector selects every node',
  );
});

test('announcedInterfacesToExclude: unanchored regexps, as upstream combines them', () => {
  const re = excludedInterfaces(['^cali.*', 'br-*']);
  assert.ok(re);
  for (const name of ['cali1234', 'br-abc', 'br0', 'vmbr0']) assert.ok(re.test(name), name);
  for (const name of ['eth0', 'ens3', 'egress.vxlan', 'xcali']) assert.ok(!re.test(name), name);
  assert.equal(excludedInterfaces([]), undefined);
  assert.ok(excludedInterfaces(['^eth1$'])!.test('eth1'));
  assert.ok(!excludedInterfaces(['^eth1$'])!.test('eth10'));
});
