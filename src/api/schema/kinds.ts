// The seven kinds of egressgateway.spidernet.io/v1beta1, field for field as upstream
// publishes them (drop-in compatible), with our descriptions. Generated from here:
// src/api/types.generated.ts and charts/egressgateway/crds/*.yaml (scripts/gen-api.ts).
import { arr, bool, int, type KindDefinition, labelSelector, obj, type Schema, str } from './json-schema.ts';

const policyRef = obj({ name: str(), namespace: str('empty for an EgressClusterPolicy') });

const eipEntry = obj({
  ipv4: str(),
  ipv6: str(),
  policies: arr(policyRef, 'every policy that uses this EIP'),
});

const egressIp = (): Schema => ({
  ...obj({
    ipv4: str('explicit IPv4 egress address from the gateway pool (immutable)'),
    ipv6: str('explicit IPv6 egress address from the gateway pool (immutable)'),
    useNodeIP: bool('leave with the gateway node address instead of an EIP (immutable)', { default: false }),
    allocatorPolicy: str('default (the gateway default EIP) or rr (a free pool address) (immutable)', {
      default: 'default',
    }),
  }),
  default: { allocatorPolicy: 'default', useNodeIP: false },
});

const policyStatus = obj({
  eip: obj({ ipv4: str(), ipv6: str() }, 'the egress addresses in use'),
  node: str('the gateway node that carries this policy now'),
});

const appliedTo = (cluster: boolean): Schema =>
  obj(
    {
      podSelector: labelSelector('pods whose traffic leaves through the gateway'),
      podSubnet: arr(str(), 'source CIDRs instead of a pod selector'),
      ...(cluster
        ? { namespaceSelector: labelSelector('only pods in matching namespaces; unset = every namespace') }
        : {}),
    },
    'which pods the policy applies to',
  );

const policySpec = (cluster: boolean): Schema =>
  obj(
    {
      egressGatewayName: str('the EgressGateway to use (immutable; defaulted by the webhook)'),
      egressIP: egressIp(),
      appliedTo: appliedTo(cluster),
      destSubnet: arr(str(), 'destination CIDRs; empty = every destination outside the cluster'),
      priority: int('lower wins between overlapping policies', { format: 'int64' }),
    },
    undefined,
    ['appliedTo'],
  );

const policyColumns = (nodeColumn: string) => [
  { name: 'gateway', type: 'string' as const, jsonPath: '.spec.egressGatewayName' },
  { name: 'ipv4', type: 'string' as const, jsonPath: '.status.eip.ipv4' },
  { name: 'ipv6', type: 'string' as const, jsonPath: '.status.eip.ipv6' },
  { name: nodeColumn, type: 'string' as const, jsonPath: '.status.node' },
];

const endpoint = obj({
  ns: str(),
  pod: str(),
  ipv4: arr(str()),
  ipv6: arr(str()),
  node: str(),
});

const ipLists = obj({ ipv4: arr(str()), ipv6: arr(str()) });

export const KINDS: KindDefinition[] = [
  {
    kind: 'EgressGateway',
    plural: 'egressgateways',
    singular: 'egressgateway',
    shortNames: ['egw'],
    scope: 'Cluster',
    description: 'A set of gateway nodes and the egress IPs they carry',
    fields: {
      spec: obj({
        clusterDefault: bool('the gateway of policies that name none (one per cluster)', { default: false }),
        ippools: obj({
          ipv4: arr(str(), 'single IPs, "a-b" ranges or CIDRs'),
          ipv6: arr(str(), 'single IPs, "a-b" ranges or CIDRs'),
          ipv4DefaultEIP: str('defaulted from the pool'),
          ipv6DefaultEIP: str('defaulted from the pool'),
        }),
        nodeSelector: obj({
          policy: str('placement policy name, e.g. AverageSelection (informative)'),
          selector: labelSelector('the gateway nodes'),
        }),
      }),
      status: obj({
        nodeList: arr(
          obj({
            name: str(),
            status: str('the node tunnel phase'),
            eips: arr(eipEntry),
          }),
        ),
        ipUsage: obj({
          ipv4Total: int(),
          ipv4Free: int(),
          ipv6Total: int(),
          ipv6Free: int(),
        }),
        eipCandidates: arr(
          obj({
            ipv4: str(),
            ipv6: str(),
            nodes: arr(
              str(),
              'usable gateway nodes in takeover order (at most 4); the first carries the EIP',
            ),
          }),
          'for fast failover: agents move an EIP down this list without waiting for the controller',
        ),
      }),
    },
    printerColumns: [
      { name: 'ipv4DefaultEIP', type: 'string', jsonPath: '.spec.ippools.ipv4DefaultEIP' },
      { name: 'ipv6DefaultEIP', type: 'string', jsonPath: '.spec.ippools.ipv6DefaultEIP' },
      { name: 'clusterDefault', type: 'boolean', jsonPath: '.spec.clusterDefault' },
      { name: 'ipv4Total', type: 'integer', jsonPath: '.status.ipUsage.ipv4Total' },
      { name: 'ipv4Free', type: 'integer', jsonPath: '.status.ipUsage.ipv4Free' },
      { name: 'ipv6Total', type: 'integer', jsonPath: '.status.ipUsage.ipv6Total' },
      { name: 'ipv6Free', type: 'integer', jsonPath: '.status.ipUsage.ipv6Free' },
    ],
  },
  {
    kind: 'EgressPolicy',
    plural: 'egresspolicies',
    singular: 'egresspolicy',
    shortNames: ['egp'],
    scope: 'Namespaced',
    description: 'Which pods of a namespace leave the cluster through which gateway and egress IP',
    fields: { spec: policySpec(false), status: policyStatus },
    // The seed's `kubectl get EgressPolicy -A` shows EGRESSTUNNEL (v0.6.9 code says egressNode).
    printerColumns: policyColumns('egressTunnel'),
  },
  {
    kind: 'EgressClusterPolicy',
    plural: 'egressclusterpolicies',
    singular: 'egressclusterpolicy',
    shortNames: ['egcp'],
    scope: 'Cluster',
    description: 'Which pods of the cluster leave through which gateway and egress IP',
    fields: { spec: policySpec(true), status: policyStatus },
    printerColumns: policyColumns('egressTunnel'),
  },
  {
    kind: 'EgressEndpointSlice',
    plural: 'egressendpointslices',
    singular: 'egressendpointslice',
    shortNames: ['egep'],
    scope: 'Namespaced',
    description: 'The pods an EgressPolicy selects (maintained by the controller)',
    fields: { endpoints: arr(endpoint) },
    printerColumns: [],
  },
  {
    kind: 'EgressClusterEndpointSlice',
    plural: 'egressclusterendpointslices',
    singular: 'egressclusterendpointslice',
    shortNames: ['egcep'],
    scope: 'Cluster',
    description: 'The pods an EgressClusterPolicy selects (maintained by the controller)',
    fields: { endpoints: arr(endpoint) },
    printerColumns: [],
  },
  {
    kind: 'EgressTunnel',
    plural: 'egresstunnels',
    singular: 'egresstunnel',
    shortNames: ['egt'],
    scope: 'Cluster',
    description: "A node's tunnel identity: tunnel addresses, MAC, mark and health (name = node name)",
    fields: {
      spec: { type: 'object' },
      status: obj({
        tunnel: obj({
          ipv4: str(),
          ipv6: str(),
          mac: str(),
          parent: obj({ name: str(), ipv4: str(), ipv6: str() }, 'the underlay interface'),
        }),
        phase: str('', { enum: ['Pending', 'Init', 'Failed', 'Ready', 'HeartbeatTimeout', 'NodeNotReady'] }),
        mark: str('packet mark of this node, e.g. 0x26000001'),
        lastHeartbeatTime: str('', { format: 'date-time' }),
      }),
    },
    printerColumns: [
      { name: 'tunnelMac', type: 'string', jsonPath: '.status.tunnel.mac' },
      { name: 'tunnelIPv4', type: 'string', jsonPath: '.status.tunnel.ipv4' },
      { name: 'tunnelIPv6', type: 'string', jsonPath: '.status.tunnel.ipv6' },
      { name: 'mark', type: 'string', jsonPath: '.status.mark' },
      { name: 'phase', type: 'string', jsonPath: '.status.phase' },
    ],
  },
  {
    kind: 'EgressClusterInfo',
    plural: 'egressclusterinfos',
    singular: 'egressclusterinfo',
    shortNames: ['egci'],
    scope: 'Cluster',
    description:
      'The cluster\'s own address ranges, which egress policies never capture (singleton "default")',
    fields: {
      spec: obj({
        autoDetect: obj({
          podCidrMode: str('k8s, calico, auto or empty (off)', { default: 'auto' }),
          clusterIP: bool('detect the service CIDRs', { default: true }),
          nodeIP: bool('collect node addresses', { default: true }),
        }),
        extraCidr: arr(str(), 'more in-cluster CIDRs (plain IPs count as /32 or /128)'),
      }),
      status: obj({
        podCidrMode: str(),
        nodeIP: { type: 'object', additionalProperties: ipLists },
        clusterIP: ipLists,
        podCIDR: { type: 'object', additionalProperties: ipLists },
        extraCidr: arr(str()),
      }),
    },
    printerColumns: [],
  },
];

export function kindByName(kind: string): KindDefinition {
  const k = KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`unknown kind ${kind}`);
  return k;
}
