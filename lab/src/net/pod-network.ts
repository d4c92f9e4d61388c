// A pod's network sandbox, wired the way Calico does it (the seed's bug report shows exactly
// this): eth0 with a host address (/32, /128), a default route via 169.254.1.1 that the
// node answers by proxy ARP on the host-side veth, and a host route per pod on the node.
// The bridge mode is flannel's host-gw style: pods on a per-node bridge with a gateway.
// The flannel mode wires pods the same way as flannel's CNI config does (bridge plugin on
// cni0, host-local addresses from the node's pod CIDR) with the overlay's MTU; the real
// flanneld links the nodes (lab.ts).
import { createHash } from 'node:crypto';
import { deleteNetns, ensureNetns, ip, ipBatch, netnsExists, sysctl } from './netns.ts';
import { bridgeGateway, type CniMode, FLANNEL_MTU, type NodePlan, type Topology } from './topology.ts';

/** The MAC Calico gives every host-side veth; its IPv6 link-local is the pods' v6 gateway. */
const CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee';
const CALICO_V6_GATEWAY = 'fe80::ecee:eeff:feee:eeee';
export const CALICO_V4_GATEWAY = '169.254.1.1';
export const BRIDGE_NAME = 'cni0';

export interface PodSandbox {
  netns: string;
  hostVeth: string;
  ipv4?: string;
  ipv6?: string;
}

/** Calico names the host side after a hash of the pod's namespace and name; so do we. */
export function hostVethName(mode: CniMode, namespace: string, name: string): string {
  const h = createHash('sha1').update(`${namespace}.${name}`).digest('hex').slice(0, 11);
  return `${mode === 'calico' ? 'cali' : 'veth'}${h}`;
}

async function linkExists(ns: string, dev: string): Promise<boolean> {
  const out = await ip(ns, ['-j', 'link', 'show', 'dev', dev], [0, 1, 255]);
  return out.includes(`"ifname":"${dev}"`);
}

async function ensureBridge(n: NodePlan): Promise<void> {
  const lines = (await linkExists(n.netns, BRIDGE_NAME)) ? [] : [`link add ${BRIDGE_NAME} type bridge`];
  if (n.podCidrV4) lines.push(`addr replace ${bridgeGateway(n).ipv4}/24 dev ${BRIDGE_NAME}`);
  if (n.podCidrV6) lines.push(`addr replace ${bridgeGateway(n).ipv6}/64 dev ${BRIDGE_NAME} nodad`);
  lines.push(`link set ${BRIDGE_NAME} up`);
  await ipBatch(n.netns, lines);
}

/** Creates (or completes) the pod's namespace and wiring; idempotent. */
export async function ensurePodNetwork(t: Topology, n: NodePlan, sb: PodSandbox): Promise<void> {
  await ensureNetns(sb.netns);
  await sysctl(sb.netns, { 'net/ipv6/conf/all/accept_dad': 0, 'net/ipv6/conf/default/accept_dad': 0 });
  const calico = t.options.cni === 'calico';
  if (!calico) await ensureBridge(n);
  // Flannel's CNI plugin gives both ends the overlay's MTU (FLANNEL_MTU in its subnet.env).
  const mtu = t.options.cni === 'flannel' ? ` mtu ${FLANNEL_MTU}` : '';
  if (!(await linkExists(n.netns, sb.hostVeth)))
    await ipBatch(n.netns, [
      `link add ${sb.hostVeth}${mtu} type veth peer name eth0${mtu} netns ${sb.netns}`,
    ]);
  const host: string[] = [];
  const pod: string[] = ['link set eth0 up'];
  if (calico) {
    host.push(`link set ${sb.hostVeth} address ${CALICO_HOST_MAC}`, `link set ${sb.hostVeth} up`);
    if (sb.ipv4) {
      host.push(`route replace ${sb.ipv4}/32 dev ${sb.hostVeth} scope link`);
      pod.push(
        `addr replace ${sb.ipv4}/32 dev eth0`,
        `route replace ${CALICO_V4_GATEWAY} dev eth0 scope link`,
        `route replace default via ${CALICO_V4_GATEWAY} dev eth0`,
      );
    }
    if (sb.ipv6) {
      host.push(`route replace ${sb.ipv6}/128 dev ${sb.hostVeth}`);
      pod.push(
        `addr replace ${sb.ipv6}/128 dev eth0 nodad`,
        `route replace default via ${CALICO_V6_GATEWAY} dev eth0`,
      );
    }
  } else {
    host.push(`link set ${sb.hostVeth} master ${BRIDGE_NAME}`, `link set ${sb.hostVeth} up`);
    if (sb.ipv4 && n.podCidrV4) {
      pod.push(
        `addr replace ${sb.ipv4}/24 dev eth0`,
        `route replace default via ${bridgeGateway(n).ipv4} dev eth0`,
      );
    }
    if (sb.ipv6 && n.podCidrV6) {
      pod.push(
        `addr replace ${sb.ipv6}/64 dev eth0 nodad`,
        `route replace default via ${bridgeGateway(n).ipv6} dev eth0`,
      );
    }
  }
  await ipBatch(n.netns, host);
  if (calico && sb.ipv4) await sysctl(n.netns, { [`net/ipv4/conf/${sb.hostVeth}/proxy_arp`]: 1 });
  await ipBatch(sb.netns, pod);
}

/** Removes the sandbox: deleting the namespace takes the veth pair and its host routes along. */
export async function deletePodNetwork(n: NodePlan, sb: PodSandbox): Promise<void> {
  if (await netnsExists(sb.netns)) await deleteNetns(sb.netns);
  // If the namespace was already gone but the host end survived (e.g. a crash mid-setup).
  if (await linkExists(n.netns, sb.hostVeth)) await ipBatch(n.netns, [`link delete ${sb.hostVeth}`]);
}
