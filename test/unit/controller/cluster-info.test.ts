// EgressClusterInfo status: detectors, modes, clearing, normalization.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planClusterInfoStatus } from '../../../src/controller/planners/cluster-info-status.ts';

const nodes = [
  { name: 'n2', internalIPs: ['172.22.0.4', 'fc00::4'], podCIDRs: ['10.244.2.0/24'] },
  { name: 'n1', internalIPs: ['172.22.0.3'], podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
];

test('auto without Calico is k8s mode: node pod CIDRs, node IPs, service CIDRs', () => {
  const st = planClusterInfoStatus({
    spec: {},
    nodes,
    serviceCidrs: ['10.96.0.0/16', 'fd00:10:96::/112'],
    calicoPools: undefined,
  });
  assert.equal(st.podCidrMode, 'k8s');
  assert.deepEqual(st.podCIDR, {
    n1: { ipv4: ['10.244.1.0/24'], ipv6: ['fd00:10:244:1::/64'] },
    n2: { ipv4: ['10.244.2.0/24'], ipv6: [] },
  });
  assert.deepEqual(Object.keys(st.nodeIP!), ['n1', 'n2']);
  assert.deepEqual(st.nodeIP!['n2'], { ipv4: ['172.22.0.4'], ipv6: ['fc00::4'] });
  assert.deepEqual(st.clusterIP, { ipv4: ['10.96.0.0/16'], ipv6: ['fd00:10:96::/112'] });
});

test('auto with Calico is calico mode: enabled pools by name', () => {
  const st = planClusterInfoStatus({
    spec: { autoDetect: { podCidrMode: 'auto' } },
    nodes,
    serviceCidrs: undefined,
    calicoPools: [
      { name: 'default-ipv4-ippool', cidr: '10.244.0.0/16' },
      { name: 'old', cidr: '10.9.0.0/16', disabled: true },
    ],
  });
  assert.equal(st.podCidrMode, 'calico');
  assert.deepEqual(st.podCIDR, { 'default-ipv4-ippool': { ipv4: ['10.244.0.0/16'], ipv6: [] } });
  assert.equal(st.clusterIP, undefined, 'unknown service CIDRs are not guessed');
});

test('turning a detector off clears its part; extraCidr plain IPs become /32 and /128', () => {
  const st = planClusterInfoStatus({
    spec: {
      autoDetect: { podCidrMode: '', nodeIP: false, clusterIP: false },
      extraCidr: ['10.6.1.92', 'fd00::1', '10.7.0.0/16', 'junk'],
    },
    nodes,
    serviceCidrs: ['10.96.0.0/16'],
    calicoPools: undefined,
  });
  assert.deepEqual(st, { podCidrMode: '', extraCidr: ['10.6.1.92/32', '10.7.0.0/16', 'fd00::1/128'] });
});
