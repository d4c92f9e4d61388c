// The lab's address and naming plan: a pure function of the options, so every process of the
// lab (CLI, kubelets, tests) derives the same names and addresses without asking anyone.
// Defaults match a kind cluster named "egressgateway", so the seed README runs verbatim.
import { assertSafeName } from '../../../src/common/exec.ts';
import { canonicalIp } from '../../../src/common/ip.ts';

/** RFC 5952 text, so what we write matches what the apiserver and iproute2 print. */
function canon(ip: string): string {
  const c = canonicalIp(ip);
  if (!c) throw new Error(`bad address ${ip}`);
  return c;
}

export type IpFamilyMode = 'ipv4' | 'ipv6' | 'dual';
export type CniMode = 'calico' | 'bridge' | 'flannel';
export type ChainInsertMode = 'insert' | 'append';

export interface TopologyOptions {
  nodes: number;
  ipFamily: IpFamilyMode;
  cni: CniMode;
  chainInsertMode: ChainInsertMode;
}

export interface NodePlan {
  index: number;
  name: string;
  /** network namespace of the node */
  netns: string;
  /** the router-side end of the node's underlay veth */
  routerPort: string;
  /** eth0's MAC: fixed, so a node keeps it across a power cycle as a real NIC does */
  mac: string;
  ipv4?: string;
  ipv6?: string;
  podCidrV4?: string;
  podCidrV6?: string;
}

export interface Topology {
  options: TopologyOptions;
  routerNetns: string;
  externalNetns: string;
  underlayBridge: string;
  underlayV4?: { cidr: string; prefix: number; gateway: string };
  underlayV6?: { cidr: string; prefix: number; gateway: string };
  outsideV4?: { cidr: string; prefix: number; gateway: string; external: string };
  outsideV6?: { cidr: string; prefix: number; gateway: string; external: string };
  clusterPodCidrs: string[];
  serviceCidrs: string[];
  nodes: NodePlan[];
  controlPlane: NodePlan;
}

export const LAB_PREFIX = 'egwlab-';
export const MAX_NODES = 200;
export const DEFAULT_OPTIONS: TopologyOptions = {
  nodes: 3,
  ipFamily: 'ipv4',
  cni: 'calico',
  chainInsertMode: 'insert',
};

export function nodeName(index: number): string {
  if (index === 0) return 'egressgateway-control-plane';
  if (index === 1) return 'egressgateway-worker';
  return `egressgateway-worker${index}`;
}

export function nodeNetns(name: string): string {
  return assertSafeName('node name', `${LAB_PREFIX}${name}`);
}

/** Pod sandboxes are named by pod UID, which outlives renames and never collides. */
export function podNetns(uid: string): string {
  const compact = uid.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{12,}$/.test(compact)) throw new Error(`invalid pod uid "${uid}"`);
  return `${LAB_PREFIX}pod-${compact.slice(0, 20)}`;
}

export function hasV4(mode: IpFamilyMode): boolean {
  return mode !== 'ipv6';
}

export function hasV6(mode: IpFamilyMode): boolean {
  return mode !== 'ipv4';
}

export function validateOptions(o: TopologyOptions): void {
  const problems: string[] = [];
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES)
    problems.push(`--nodes ${o.nodes}: use a whole number from 1 to ${MAX_NODES}`);
  if (!['ipv4', 'ipv6', 'dual'].includes(o.ipFamily))
    problems.push(`--ip-family ${o.ipFamily}: use ipv4, ipv6 or dual`);
  if (!['calico', 'bridge', 'flannel'].includes(o.cni))
    problems.push(`--cni ${o.cni}: use calico, bridge or flannel`);
  if (!['insert', 'append'].includes(o.chainInsertMode))
    problems.push(`--cni-chain-insert-mode ${o.chainInsertMode}: use insert or append`);
  if (problems.length) throw new Error(problems.join('; '));
}

export function planTopology(options: Partial<TopologyOptions> = {}): Topology {
  const o = { ...DEFAULT_OPTIONS, ...options };
  validateOptions(o);
  const v4 = hasV4(o.ipFamily);
  const v6 = hasV6(o.ipFamily);
  const nodes: NodePlan[] = [];
  for (let i = 0; i < o.nodes; i++) {
    const name = nodeName(i);
    const hex = (b: number) => b.toString(16).padStart(2, '0');
    const n: NodePlan = {
      index: i,
      name,
      netns: nodeNetns(name),
      routerPort: `vn${i}`,
      mac: `02:42:ac:16:${hex(i >> 8)}:${hex(i & 255)}`,
    };
    // Node i sits at .2+i on the underlay and owns the i-th /24 (v4) and /64 (v6) of pod space.
    if (v4) {
      n.ipv4 = `172.22.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`;
      n.podCidrV4 = `10.244.${i}.0/24`;
    }
    if (v6) {
      n.ipv6 = canon(`fc00:f853:ccd:e793::${(i + 2).toString(16)}`);
      n.podCidrV6 = `${canon(`fd00:10:244:${i.toString(16)}::`)}/64`;
    }
    nodes.push(n);
  }
  const t: Topology = {
    options: o,
    routerNetns: `${LAB_PREFIX}router`,
    externalNetns: `${LAB_PREFIX}external`,
    underlayBridge: 'br-underlay',
    clusterPodCidrs: [...(v4 ? ['10.244.0.0/16'] : []), ...(v6 ? ['fd00:10:244::/56'] : [])],
    serviceCidrs: [...(v4 ? ['10.96.0.0/16'] : []), ...(v6 ? ['fd00:10:96::/112'] : [])],
    nodes,
    controlPlane: nodes[0]!,
  };
  if (v4) {
    t.underlayV4 = { cidr: '172.22.0.0/16', prefix: 16, gateway: '172.22.0.1' };
    t.outsideV4 = { cidr: '10.6.0.0/16', prefix: 16, gateway: '10.6.0.1', external: '10.6.1.92' };
  }
  if (v6) {
    t.underlayV6 = { cidr: 'fc00:f853:ccd:e793::/64', prefix: 64, gateway: 'fc00:f853:ccd:e793::1' };
    t.outsideV6 = { cidr: 'fd00:10:6::/64', prefix: 64, gateway: 'fd00:10:6::1', external: 'fd00:10:6::92' };
  }
  return t;
}

/** Address number `n` inside a node's pod CIDRs: same host part in both families. */
function cidrAddresses(node: NodePlan, n: number): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  if (node.podCidrV4) out.ipv4 = node.podCidrV4.replace(/\.0\/24$/, `.${n}`);
  if (node.podCidrV6)
    out.ipv6 = canon(node.podCidrV6.replace(/\/64$/, '').replace(/::$/, `::${n.toString(16)}`));
  return out;
}

/** Pod address number `n` (2…254); 1 is the bridge gateway in bridge mode. */
export function podAddresses(node: NodePlan, n: number): { ipv4?: string; ipv6?: string } {
  if (!Number.isInteger(n) || n < 2 || n > 254) throw new Error(`pod address index ${n} out of 2..254`);
  return cidrAddresses(node, n);
}

export function bridgeGateway(node: NodePlan): { ipv4?: string; ipv6?: string } {
  return cidrAddresses(node, 1);
}

/** Flannel's VXLAN backend: the overlay costs 50 bytes of the underlay's 1500. */
export const FLANNEL_MTU = 1450;

export function findNode(t: Topology, name: string): NodePlan {
  const n = t.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node "${name}" in the lab; nodes: ${t.nodes.map((x) => x.name).join(', ')}`);
  return n;
}
