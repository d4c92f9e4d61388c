// Builds the lab's wires: a router namespace holding the underlay bridge (the "switch" all
// nodes plug into) and a routed link to the outside network where the external host lives,
// plus each node's eth0, default route, pod routes and NAT. Idempotent: every step checks
// what exists first, so `up` after a partial failure finishes the job.

import { ensureNatOutgoing } from './nat-outgoing.ts';
import { ensureNetns, ip, ipBatch, sysctl } from './netns.ts';
import type { NodePlan, Topology } from './topology.ts';

async function linkExists(ns: string, dev: string): Promise<boolean> {
  const out = await ip(ns, ['-j', 'link', 'show', 'dev', dev], [0, 1, 255]);
  return out.trim().startsWith('[') && out.includes(`"ifname":"${dev}"`);
}

const v6Sysctls = {
  'net/ipv6/conf/all/forwarding': 1,
  'net/ipv6/conf/default/accept_dad': 0,
  'net/ipv6/conf/all/accept_dad': 0,
  'net/ipv6/conf/default/accept_ra': 0,
};

export async function ensureRouter(t: Topology): Promise<void> {
  const r = t.routerNetns;
  await ensureNetns(r);
  await sysctl(r, { 'net/ipv4/ip_forward': 1, ...v6Sysctls });
  const lines: string[] = [];
  if (!(await linkExists(r, t.underlayBridge))) lines.push(`link add ${t.underlayBridge} type bridge`);
  if (t.underlayV4)
    lines.push(`addr replace ${t.underlayV4.gateway}/${t.underlayV4.prefix} dev ${t.underlayBridge}`);
  if (t.underlayV6)
    lines.push(`addr replace ${t.underlayV6.gateway}/${t.underlayV6.prefix} dev ${t.underlayBridge} nodad`);
  lines.push(`link set ${t.underlayBridge} up`);
  await ipBatch(r, lines);
  await ensureExternal(t);
}

async function ensureExternal(t: Topology): Promise<void> {
  const e = t.externalNetns;
  await ensureNetns(e);
  await sysctl(e, v6Sysctls);
  if (!(await linkExists(t.routerNetns, 'vext')))
    await ipBatch(t.routerNetns, [`link add vext type veth peer name eth0 netns ${e}`]);
  const r: string[] = [];
  const x: string[] = [];
  if (t.outsideV4) {
    r.push(`addr replace ${t.outsideV4.gateway}/${t.outsideV4.prefix} dev vext`);
    x.push(`addr replace ${t.outsideV4.external}/${t.outsideV4.prefix} dev eth0`);
  }
  if (t.outsideV6) {
    r.push(`addr replace ${t.outsideV6.gateway}/${t.outsideV6.prefix} dev vext nodad`);
    x.push(`addr replace ${t.outsideV6.external}/${t.outsideV6.prefix} dev eth0 nodad`);
  }
  r.push('link set vext up');
  x.push('link set eth0 up');
  if (t.outsideV4) x.push(`route replace default via ${t.outsideV4.gateway}`);
  if (t.outsideV6) x.push(`route replace default via ${t.outsideV6.gateway}`);
  await ipBatch(t.routerNetns, r);
  await ipBatch(e, x);
}

/** The node's own wiring: eth0 on the underlay, routes to every other node's pod CIDRs, NAT. */
export async function ensureNode(t: Topology, n: NodePlan): Promise<void> {
  await ensureNetns(n.netns);
  await sysctl(n.netns, {
    'net/ipv4/ip_forward': 1,
    // Pods' replies come back through the node; strict reverse-path checks would drop
    // traffic that the egress gateway later steers asymmetrically.
    'net/ipv4/conf/all/rp_filter': 0,
    'net/ipv4/conf/default/rp_filter': 0,
    ...v6Sysctls,
  });
  if (!(await linkExists(t.routerNetns, n.routerPort))) {
    await ipBatch(t.routerNetns, [
      `link add ${n.routerPort} type veth peer name eth0 address ${n.mac} netns ${n.netns}`,
    ]);
  }
  await ipBatch(t.routerNetns, [
    `link set ${n.routerPort} master ${t.underlayBridge}`,
    `link set ${n.routerPort} up`,
  ]);
  const lines: string[] = [];
  if (n.ipv4 && t.underlayV4) lines.push(`addr replace ${n.ipv4}/${t.underlayV4.prefix} dev eth0`);
  if (n.ipv6 && t.underlayV6) lines.push(`addr replace ${n.ipv6}/${t.underlayV6.prefix} dev eth0 nodad`);
  lines.push('link set eth0 up');
  // proxy_arp for pods only answers when the node has a route out: the default route.
  if (t.underlayV4) lines.push(`route replace default via ${t.underlayV4.gateway} dev eth0`);
  if (t.underlayV6) lines.push(`route replace default via ${t.underlayV6.gateway} dev eth0`);
  await ipBatch(n.netns, lines);
  await ensurePodRoutes(t, n);
  await ensureNatOutgoing(t, n);
}

/**
 * Like Calico with BGP on one L2 segment: other nodes' pod CIDRs via their underlay address,
 * and a blackhole for our own CIDR so traffic to a pod that does not exist is dropped here.
 */
export async function ensurePodRoutes(t: Topology, n: NodePlan): Promise<void> {
  // flanneld routes other nodes' pod CIDRs through its own VXLAN device (flannel.1).
  if (t.options.cni === 'flannel') return;
  const lines: string[] = [];
  for (const o of t.nodes) {
    if (o.index === n.index) {
      if (t.options.cni === 'calico') {
        if (o.podCidrV4) lines.push(`route replace blackhole ${o.podCidrV4}`);
        if (o.podCidrV6) lines.push(`route replace blackhole ${o.podCidrV6}`);
      }
      continue;
    }
    if (o.podCidrV4 && o.ipv4) lines.push(`route replace ${o.podCidrV4} via ${o.ipv4} dev eth0`);
    if (o.podCidrV6 && o.ipv6) lines.push(`route replace ${o.podCidrV6} via ${o.ipv6} dev eth0`);
  }
  await ipBatch(n.netns, lines);
}

export async function setNodeLinks(t: Topology, n: NodePlan, up: boolean): Promise<void> {
  await ipBatch(t.routerNetns, [`link set ${n.routerPort} ${up ? 'up' : 'down'}`]);
  await ipBatch(n.netns, [`link set eth0 ${up ? 'up' : 'down'}`]);
  if (up) {
    // Routes through eth0 vanish with the link, and so do its IPv6 addresses (the kernel
    // drops them on link down unless keep_addr_on_down): put them back.
    const lines: string[] = [];
    if (n.ipv6 && t.underlayV6) lines.push(`addr replace ${n.ipv6}/${t.underlayV6.prefix} dev eth0 nodad`);
    if (t.underlayV4) lines.push(`route replace default via ${t.underlayV4.gateway} dev eth0`);
    if (t.underlayV6) lines.push(`route replace default via ${t.underlayV6.gateway} dev eth0`);
    await ipBatch(n.netns, lines);
    await ensurePodRoutes(t, n);
  }
}

/** The switch side only: the node keeps its link up but reaches no one (a cable cut). */
export async function setRouterPort(t: Topology, n: NodePlan, up: boolean): Promise<void> {
  await ipBatch(t.routerNetns, [`link set ${n.routerPort} ${up ? 'up' : 'down'}`]);
}

/** Removes the node's underlay veth pair (both ends) at once. */
export async function unplug(t: Topology, n: NodePlan): Promise<void> {
  if (await linkExists(t.routerNetns, n.routerPort))
    await ipBatch(t.routerNetns, [`link del ${n.routerPort}`]);
}
