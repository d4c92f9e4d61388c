// The admission table: fixtures that exist before each case, bad objects with the rejection
// message each must get, and valid edge cases that must pass. Shared by the unit test (pure
// rules with these fixtures) and the integration test (the same objects through the real
// kube-apiserver and our webhook).
import type { EgressClusterPolicy, EgressGateway, EgressPolicy } from '../../src/api/types.generated.ts';

export const API = 'egressgateway.spidernet.io/v1beta1';
export const NS = 'adm-test';
export const NS_LABELLED = 'adm-labelled';

type Kind = 'EgressGateway' | 'EgressPolicy' | 'EgressClusterPolicy' | 'EgressClusterInfo';
// biome-ignore lint/suspicious/noExplicitAny: bad cases carry deliberately ill-typed fields
type Loose = any;

export interface Case {
  id: string;
  kind: Kind;
  op: 'CREATE' | 'UPDATE' | 'DELETE';
  /** the object sent (for UPDATE the new version, for DELETE the existing one) */
  object: Loose;
  /** UPDATE/DELETE: the fixture being changed */
  base?: Loose;
  expect: RegExp;
  /** rejected by the CRD's structural schema in the apiserver, before any webhook */
  layer?: 'schema';
}

const selector = (v: string) => ({ selector: { matchLabels: { egw: v } } });

export function gw(name: string, spec: Loose, status?: Loose): EgressGateway {
  return {
    apiVersion: API,
    kind: 'EgressGateway',
    metadata: { name },
    spec,
    ...(status ? { status } : {}),
  } as EgressGateway;
}

export function egp(name: string, spec: Loose, namespace = NS): EgressPolicy {
  return { apiVersion: API, kind: 'EgressPolicy', metadata: { name, namespace }, spec } as EgressPolicy;
}

export function egcp(name: string, spec: Loose): EgressClusterPolicy {
  return { apiVersion: API, kind: 'EgressClusterPolicy', metadata: { name }, spec } as EgressClusterPolicy;
}

/** Gateways that exist before every case (none is the cluster default). */
export const FIXTURE_GATEWAYS: EgressGateway[] = [
  gw('fixture-a', {
    ippools: {
      ipv4: ['10.10.0.1-10.10.0.10'],
      ipv6: ['fd10::1-fd10::a'],
      ipv4DefaultEIP: '10.10.0.10',
      ipv6DefaultEIP: 'fd10::a',
    },
    nodeSelector: selector('a'),
  }),
  gw('fixture-b', { ippools: { ipv4: ['10.20.0.0/24'] }, nodeSelector: selector('b') }),
  gw('fixture-empty', { nodeSelector: selector('empty') }),
];

/** Status of fixture-b: 10.20.0.7 is in use, so it cannot leave the pool. */
export const FIXTURE_B_STATUS = {
  nodeList: [
    {
      name: 'node-1',
      status: 'Ready',
      eips: [{ ipv4: '10.20.0.7', policies: [{ name: 'p', namespace: NS }] }],
    },
  ],
};

export const FIXTURE_POLICY = egp('fixture-policy', {
  egressGatewayName: 'fixture-a',
  egressIP: { ipv4: '10.10.0.2', ipv6: 'fd10::2', useNodeIP: false, allocatorPolicy: 'default' },
  appliedTo: { podSelector: { matchLabels: { app: 'x' } } },
});

const a = FIXTURE_GATEWAYS[0]!;
const b = FIXTURE_GATEWAYS[1]!;
const pool4 = (ipv4: Loose, extra: Loose = {}) => ({
  ippools: { ipv4, ...extra },
  nodeSelector: selector('n'),
});
const okApplied = { podSelector: { matchLabels: { app: 'x' } } };
const pol = (spec: Loose) =>
  egp('bad-policy', { egressGatewayName: 'fixture-a', appliedTo: okApplied, ...spec });
const cpol = (spec: Loose) =>
  egcp('bad-cpolicy', { egressGatewayName: 'fixture-a', appliedTo: okApplied, ...spec });
const newGw = (spec: Loose) => gw('bad-gw', spec);
const updPolicy = (mutate: (s: Loose) => void) => {
  const o = structuredClone(FIXTURE_POLICY) as Loose;
  mutate(o.spec);
  return o;
};

const badPoolEntries: [string, RegExp][] = [
  ['10.6.1.300', /spec\.ippools\.ipv4\[0\]: Failed to check IP: .*10\.6\.1\.300/],
  ['10.6.1.20-10.6.1.10', /start is after end/],
  ['10.6.1.1-fd00::1', /mixes IPv4 and IPv6/],
  ['fd00::5', /"fd00::5" is IPv6; this list takes IPv4 only/],
  ['10.6.0.0/33', /prefix must be 0-32/],
  ['abc', /"abc" is not an IP, an "a-b" range or a CIDR/],
  ['10.6.0.1-', /both ends of "start-end" must be IP addresses/],
  ['-10.6.0.1', /both ends of "start-end" must be IP addresses/],
  ['10.6.0.0/', /prefix must be 0-32/],
  ['1.2.3', /"1.2.3" is not an IP/],
  ['10.6.0.1 10.6.0.2', /is not an IP/],
  ['', /is not an IP/],
];

export const BAD_CASES: Case[] = [
  // EgressGateway: selector
  {
    id: 'gw-no-selector',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv4: ['10.40.0.1'] } }),
    expect: /spec\.nodeSelector\.selector: The field spec\.nodeSelector\.selector is not set/,
  },
  {
    id: 'gw-empty-selector',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ nodeSelector: { selector: {} } }),
    expect: /The field spec\.nodeSelector\.selector is not set/,
  },
  {
    id: 'gw-bad-operator',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ nodeSelector: { selector: { matchExpressions: [{ key: 'k', operator: 'Has' }] } } }),
    expect: /matchExpressions\[0\]\.operator: "Has" is not allowed; use In, NotIn, Exists, DoesNotExist/,
  },
  {
    id: 'gw-in-no-values',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ nodeSelector: { selector: { matchExpressions: [{ key: 'k', operator: 'In' }] } } }),
    expect: /operator In needs at least one value/,
  },
  {
    id: 'gw-exists-values',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({
      nodeSelector: { selector: { matchExpressions: [{ key: 'k', operator: 'Exists', values: ['x'] }] } },
    }),
    expect: /operator Exists takes no values/,
  },
  {
    id: 'gw-bad-label-key',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ nodeSelector: { selector: { matchLabels: { '-bad': 'x' } } } }),
    expect: /"-bad" is not a valid label key/,
  },
  {
    id: 'gw-bad-label-value',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ nodeSelector: { selector: { matchLabels: { k: 'a b' } } } }),
    expect: /matchLabels\["k"\]: "a b" is not a valid label value/,
  },
  // EgressGateway: pools
  ...badPoolEntries.map(
    ([entry, expect], i): Case => ({
      id: `gw-pool-entry-${i}`,
      kind: 'EgressGateway',
      op: 'CREATE',
      object: newGw(pool4([entry])),
      expect,
    }),
  ),
  {
    id: 'gw-v4-in-v6-list',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv6: ['10.41.0.1'] }, nodeSelector: selector('n') }),
    expect: /spec\.ippools\.ipv6\[0\]: "10\.41\.0\.1" is IPv4; this list takes IPv6 only/,
  },
  {
    id: 'gw-bad-v6-entry',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv6: ['fd00::g'] }, nodeSelector: selector('n') }),
    expect: /spec\.ippools\.ipv6\[0\]: Failed to check IP/,
  },
  {
    id: 'gw-self-overlap',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.30.0.0/24', '10.30.0.5'])),
    expect: /spec\.ippools\.ipv4\[1\]: "10\.30\.0\.5" overlaps another entry of the same pool/,
  },
  {
    id: 'gw-dual-count',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.31.0.1-10.31.0.3'], { ipv6: ['fd31::1-fd31::2'] })),
    expect: /The number of ipv4 and ipv6 is not equal \(3 IPv4, 2 IPv6\)/,
  },
  {
    id: 'gw-default-outside',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.32.0.1-10.32.0.5'], { ipv4DefaultEIP: '10.32.0.99' })),
    expect:
      /spec\.ippools\.ipv4DefaultEIP: 10\.32\.0\.99 is not covered by IPPools; pick an address of spec\.ippools\.ipv4 \(e\.g\. 10\.32\.0\.5\)/,
  },
  {
    id: 'gw-default6-outside',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({
      ippools: { ipv6: ['fd32::1-fd32::5'], ipv6DefaultEIP: 'fd32::99' },
      nodeSelector: selector('n'),
    }),
    expect: /fd32::99 is not covered by Ippools/,
  },
  {
    id: 'gw-default-wrong-family',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.33.0.1'], { ipv4DefaultEIP: 'fd33::1' })),
    expect: /spec\.ippools\.ipv4DefaultEIP: "fd33::1" is not an IPv4 address/,
  },
  {
    id: 'gw-default-empty-pool',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv4DefaultEIP: '10.34.0.1' }, nodeSelector: selector('n') }),
    expect: /10\.34\.0\.1 is not covered by IPPools; pick an address of spec\.ippools\.ipv4, which is empty/,
  },
  {
    id: 'gw-dup-single',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.10.0.5'])),
    expect: /find duplicate IPv4 10\.10\.0\.5 in EgressGateway fixture-a/,
  },
  {
    id: 'gw-dup-cidr',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.10.0.0/28'])),
    expect: /find duplicate IPv4 10\.10\.0\.1 in EgressGateway fixture-a/,
  },
  {
    id: 'gw-dup-v6',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv6: ['fd10::/120'] }, nodeSelector: selector('n') }),
    expect: /find duplicate IPv6 fd10::1 in EgressGateway fixture-a/,
  },
  {
    id: 'gw-dup-range-b',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw(pool4(['10.20.0.200-10.20.0.210'])),
    expect: /find duplicate IPv4 10\.20\.0\.200 in EgressGateway fixture-b/,
  },
  {
    id: 'gw-schema-pool-not-list',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ ippools: { ipv4: '10.6.0.1' }, nodeSelector: selector('n') }),
    expect: /spec\.ippools\.ipv4: Invalid value: "string": spec\.ippools\.ipv4 in body must be of type array/,
    layer: 'schema',
  },
  {
    id: 'gw-schema-cluster-default-string',
    kind: 'EgressGateway',
    op: 'CREATE',
    object: newGw({ clusterDefault: 'yes', nodeSelector: selector('n') }),
    expect:
      /spec\.clusterDefault: Invalid value: "string": spec\.clusterDefault in body must be of type boolean/,
    layer: 'schema',
  },
  // EgressGateway: updates
  {
    id: 'gw-upd-add-v6',
    kind: 'EgressGateway',
    op: 'UPDATE',
    base: b,
    object: gw('fixture-b', {
      ippools: { ipv4: ['10.20.0.0/24'], ipv6: ['fd20::1-fd20::fe'] },
      nodeSelector: selector('b'),
    }),
    expect: /the 'spec\.Ippools\.IPv6' field cannot to be modified when it is empty/,
  },
  {
    id: 'gw-upd-drop-allocated',
    kind: 'EgressGateway',
    op: 'UPDATE',
    base: gw('fixture-b', b.spec, FIXTURE_B_STATUS),
    object: gw(
      'fixture-b',
      { ippools: { ipv4: ['10.20.0.100-10.20.0.200'] }, nodeSelector: selector('b') },
      FIXTURE_B_STATUS,
    ),
    expect: /10\.20\.0\.7 has been allocated and cannot be deleted/,
  },
  {
    id: 'gw-upd-bad-default',
    kind: 'EgressGateway',
    op: 'UPDATE',
    base: a,
    object: gw('fixture-a', { ...a.spec, ippools: { ...a.spec!.ippools, ipv4DefaultEIP: '10.10.0.11' } }),
    expect: /10\.10\.0\.11 is not covered by IPPools/,
  },
  // EgressPolicy
  {
    id: 'egp-usenodeip-with-ip',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { useNodeIP: true, ipv4: '10.10.0.3' } }),
    expect:
      /spec\.egressIP\.useNodeIP: useNodeIP cannot be used with egressIP\.ipv4 or egressIP\.ipv6 at the same time/,
  },
  {
    id: 'egp-bad-ipv4',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv4: '300.1.1.1' } }),
    expect: /spec\.egressIP\.ipv4: invalid ipv4 format: "300\.1\.1\.1" is not an IPv4 address/,
  },
  {
    id: 'egp-v6-as-v4',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv4: 'fd10::3' } }),
    expect: /invalid ipv4 format/,
  },
  {
    id: 'egp-bad-ipv6',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv6: '10.10.0.3' } }),
    expect: /spec\.egressIP\.ipv6: invalid ipv6 format: "10\.10\.0\.3" is not an IPv6 address/,
  },
  {
    id: 'egp-selector-and-subnet',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: { podSelector: { matchLabels: { app: 'x' } }, podSubnet: ['10.244.0.0/16'] } }),
    expect: /podSelector and podSubnet cannot be used together/,
  },
  {
    id: 'egp-expressions-and-subnet',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({
      appliedTo: {
        podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
        podSubnet: ['10.244.0.0/16'],
      },
    }),
    expect: /podSelector and podSubnet cannot be used together/,
  },
  {
    id: 'egp-applied-empty',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: {} }),
    expect: /invalid EgressPolicy, spec\.appliedTo field requires at least one of/,
  },
  {
    id: 'egp-applied-empty-selector',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: { podSelector: {} } }),
    expect: /invalid EgressPolicy, spec\.appliedTo field requires at least one of/,
  },
  {
    id: 'egp-bad-podsubnet',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: { podSubnet: ['10.244.0.0/40'] } }),
    expect: /spec\.appliedTo\.podSubnet\[0\]: .*prefix must be 0-32/,
  },
  {
    id: 'egp-bad-podsubnet-text',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: { podSubnet: ['pods'] } }),
    expect: /spec\.appliedTo\.podSubnet\[0\]: "pods" is not an IP/,
  },
  {
    id: 'egp-bad-destsubnet',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ destSubnet: ['10.6.0.0/16x'] }),
    expect: /invalid destSubnet list: \[10\.6\.0\.0\/16x\]/,
  },
  {
    id: 'egp-bad-destsubnet-2',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ destSubnet: ['10.6.0.0/16', 'abc', 'fd00::/129'] }),
    expect: /invalid destSubnet list: \[abc fd00::\/129\]/,
  },
  {
    id: 'egp-allocator',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { allocatorPolicy: 'random' } }),
    expect: /spec\.egressIP\.allocatorPolicy: "random" is not allowed; use "default" .* or "rr"/,
  },
  {
    id: 'egp-priority-high',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ priority: 70000 }),
    expect: /spec\.priority: 70000 is out of range; use 1-65536/,
  },
  {
    id: 'egp-priority-negative',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ priority: -5 }),
    expect: /spec\.priority: -5 is out of range/,
  },
  {
    id: 'egp-no-gateway',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressGatewayName: 'nope' }),
    expect: /spec\.egressGatewayName: EgressGateway "nope" does not exist/,
  },
  {
    id: 'egp-empty-gateway-pool',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressGatewayName: 'fixture-empty' }),
    expect:
      /when egp\(bad-policy\) UseNodeIP is false, referenced egw\(fixture-empty\) spec\.Ippools cannot be empty/,
  },
  {
    id: 'egp-ipv4-outside-pool',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv4: '10.99.0.1' } }),
    expect:
      /not within the ip ranges defined in the ippools of the egressgateway \(10\.99\.0\.1 not in egw fixture-a\)/,
  },
  {
    id: 'egp-ipv6-outside-pool',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv6: 'fd99::1' } }),
    expect: /fd99::1 not in egw fixture-a/,
  },
  {
    id: 'egp-default-pair',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { ipv4: '10.10.0.10', ipv6: 'fd10::1' } }),
    expect:
      /fixture-a egw Ipv4DefaultEIP=10\.10\.0\.10 Ipv6DefaultEIP=fd10::a, they can only be used together/,
  },
  {
    id: 'egp-bad-selector-value',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ appliedTo: { podSelector: { matchLabels: { app: 'x y' } } } }),
    expect: /spec\.appliedTo\.podSelector\.matchLabels\["app"\]: "x y" is not a valid label value/,
  },
  {
    id: 'egp-schema-applied-missing',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: egp('bad-policy', { egressGatewayName: 'fixture-a' }),
    expect: /spec\.appliedTo: Required value/,
    layer: 'schema',
  },
  {
    id: 'egp-schema-usenodeip-string',
    kind: 'EgressPolicy',
    op: 'CREATE',
    object: pol({ egressIP: { useNodeIP: 'no' } }),
    expect:
      /spec\.egressIP\.useNodeIP: Invalid value: "string": spec\.egressIP\.useNodeIP in body must be of type boolean/,
    layer: 'schema',
  },
  // EgressPolicy: updates
  {
    id: 'egp-upd-gateway',
    kind: 'EgressPolicy',
    op: 'UPDATE',
    base: FIXTURE_POLICY,
    object: updPolicy((s) => {
      s.egressGatewayName = 'fixture-b';
    }),
    expect: /'spec\.EgressGatewayName' field is immutable \(was "fixture-a"\)/,
  },
  {
    id: 'egp-upd-usenodeip',
    kind: 'EgressPolicy',
    op: 'UPDATE',
    base: FIXTURE_POLICY,
    object: updPolicy((s) => {
      s.egressIP = { useNodeIP: true, allocatorPolicy: 'default' };
    }),
    expect: /the UseNodeIP field cannot be modified/,
  },
  {
    id: 'egp-upd-ipv4',
    kind: 'EgressPolicy',
    op: 'UPDATE',
    base: FIXTURE_POLICY,
    object: updPolicy((s) => {
      s.egressIP.ipv4 = '10.10.0.3';
    }),
    expect: /the EgressIP\.IPv4 field cannot be modified \(was "10\.10\.0\.2"\)/,
  },
  {
    id: 'egp-upd-ipv6',
    kind: 'EgressPolicy',
    op: 'UPDATE',
    base: FIXTURE_POLICY,
    object: updPolicy((s) => {
      s.egressIP.ipv6 = 'fd10::3';
    }),
    expect: /the EgressIP\.IPv6 field cannot be modified/,
  },
  {
    id: 'egp-upd-allocator',
    kind: 'EgressPolicy',
    op: 'UPDATE',
    base: FIXTURE_POLICY,
    object: updPolicy((s) => {
      s.egressIP.allocatorPolicy = 'rr';
    }),
    expect: /the EgressIP\.AllocatorPolicy field cannot be modified \(was "default"\)/,
  },
  // EgressClusterPolicy
  {
    id: 'egcp-usenodeip-with-ip',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ egressIP: { useNodeIP: true, ipv6: 'fd10::3' } }),
    expect: /useNodeIP cannot be used with egressIP\.ipv4 or egressIP\.ipv6/,
  },
  {
    id: 'egcp-no-gateway',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ egressGatewayName: 'nope' }),
    expect: /EgressGateway "nope" does not exist/,
  },
  {
    id: 'egcp-empty-pool',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ egressGatewayName: 'fixture-empty' }),
    expect:
      /when policy\(bad-cpolicy\) UseNodeIP is false, referenced egw\(fixture-empty\) spec\.Ippools cannot be empty/,
  },
  {
    id: 'egcp-applied-empty',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ appliedTo: { namespaceSelector: { matchLabels: { a: 'b' } } } }),
    expect: /invalid EgressClusterPolicy, spec\.appliedTo field requires at least one of/,
  },
  {
    id: 'egcp-bad-ns-selector',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({
      appliedTo: {
        ...okApplied,
        namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Equals', values: ['a'] }] },
      },
    }),
    expect: /spec\.appliedTo\.namespaceSelector\.matchExpressions\[0\]\.operator: "Equals" is not allowed/,
  },
  {
    id: 'egcp-bad-destsubnet',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ destSubnet: ['0.0.0.0/-1'] }),
    expect: /invalid destSubnet list: \[0\.0\.0\.0\/-1\]/,
  },
  {
    id: 'egcp-allocator',
    kind: 'EgressClusterPolicy',
    op: 'CREATE',
    object: cpol({ egressIP: { allocatorPolicy: 'leastused' } }),
    expect: /"leastused" is not allowed/,
  },
  // EgressClusterInfo
  {
    id: 'egci-delete-default',
    kind: 'EgressClusterInfo',
    op: 'DELETE',
    object: { apiVersion: API, kind: 'EgressClusterInfo', metadata: { name: 'default' } },
    expect: /EgressClusterInfo 'default' is not allowed to be deleted/,
  },
  {
    id: 'egci-bad-mode',
    kind: 'EgressClusterInfo',
    op: 'UPDATE',
    object: {
      apiVersion: API,
      kind: 'EgressClusterInfo',
      metadata: { name: 'default' },
      spec: { autoDetect: { podCidrMode: 'weave' } },
    },
    base: { apiVersion: API, kind: 'EgressClusterInfo', metadata: { name: 'default' }, spec: {} },
    expect: /spec\.autoDetect\.podCidrMode: "weave" is not allowed; use auto, k8s, calico/,
  },
  {
    id: 'egci-bad-extra',
    kind: 'EgressClusterInfo',
    op: 'UPDATE',
    object: {
      apiVersion: API,
      kind: 'EgressClusterInfo',
      metadata: { name: 'default' },
      spec: { extraCidr: ['10.0.0.0/99'] },
    },
    base: { apiVersion: API, kind: 'EgressClusterInfo', metadata: { name: 'default' }, spec: {} },
    expect: /spec\.extraCidr\[0\]: .*prefix must be 0-32/,
  },
];

/** Seeded garbage pool entries: each must be refused with its index and value in the message. */
export function fuzzedPoolCases(count: number, seed = 7): Case[] {
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const pieces = ['10', '6', '1', '256', '999', '', 'x', '-', '/', '::', 'fd00', ':', '.', '33', '0'];
  const out: Case[] = [];
  while (out.length < count) {
    let text = '';
    const n = 2 + Math.floor(rnd() * 6);
    for (let i = 0; i < n; i++) text += pieces[Math.floor(rnd() * pieces.length)];
    // keep only entries that are really invalid IPv4 pool entries
    if (/^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?$/.test(text) || text.includes(' ')) continue;
    const esc = text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    out.push({
      id: `gw-fuzz-${out.length}`,
      kind: 'EgressGateway',
      op: 'CREATE',
      object: newGw(pool4([text])),
      expect: new RegExp(`spec\\.ippools\\.ipv4\\[0\\]: .*${esc}`),
    });
  }
  return out;
}

/** Objects that must be admitted (edge cases), in creation order. */
export function validObjects(): { id: string; kind: Kind; object: Loose }[] {
  return [
    { id: 'gw-single-ip', kind: 'EgressGateway', object: gw('ok-single', pool4(['10.50.0.1'])) },
    { id: 'gw-range', kind: 'EgressGateway', object: gw('ok-range', pool4(['10.50.1.1-10.50.1.20'])) },
    { id: 'gw-cidr', kind: 'EgressGateway', object: gw('ok-cidr', pool4(['10.50.2.0/24', '10.50.3.0/31'])) },
    {
      id: 'gw-ipv6-only',
      kind: 'EgressGateway',
      object: gw('ok-v6', { ippools: { ipv6: ['fd50::/64'] }, nodeSelector: selector('v6') }),
    },
    {
      id: 'gw-dual',
      kind: 'EgressGateway',
      object: gw('ok-dual', {
        ippools: { ipv4: ['10.50.4.1-10.50.4.4'], ipv6: ['fd51::1-fd51::4'] },
        nodeSelector: selector('d'),
      }),
    },
    {
      id: 'gw-expressions',
      kind: 'EgressGateway',
      object: gw('ok-expr', {
        ippools: { ipv4: ['10.50.5.1'] },
        nodeSelector: {
          selector: { matchExpressions: [{ key: 'egw', operator: 'In', values: ['x', 'y'] }] },
        },
      }),
    },
    {
      id: 'egp-explicit',
      kind: 'EgressPolicy',
      object: egp('ok-explicit', {
        egressGatewayName: 'ok-range',
        egressIP: { ipv4: '10.50.1.5' },
        appliedTo: okApplied,
      }),
    },
    {
      id: 'egp-podsubnet-plain-ip-dest',
      kind: 'EgressPolicy',
      object: egp('ok-subnet', {
        egressGatewayName: 'ok-cidr',
        appliedTo: { podSubnet: ['10.244.1.0/24', 'fd00:10:244::/64'] },
        destSubnet: ['10.6.1.92', '10.7.0.0/16', 'fd00::1'],
      }),
    },
    {
      id: 'egp-usenodeip',
      kind: 'EgressPolicy',
      object: egp('ok-nodeip', {
        egressGatewayName: 'fixture-empty',
        egressIP: { useNodeIP: true },
        appliedTo: okApplied,
      }),
    },
    {
      id: 'egp-rr-priority',
      kind: 'EgressPolicy',
      object: egp('ok-rr', {
        egressGatewayName: 'ok-v6',
        egressIP: { allocatorPolicy: 'rr' },
        priority: 100,
        appliedTo: okApplied,
      }),
    },
    {
      id: 'egcp-ns-selector',
      kind: 'EgressClusterPolicy',
      object: egcp('ok-cluster', {
        egressGatewayName: 'ok-dual',
        appliedTo: { ...okApplied, namespaceSelector: { matchLabels: { team: 'a' } } },
      }),
    },
  ];
}
