// Calico's natOutgoing, as Felix programs it: traffic from pod addresses to anything outside
// the cluster's pod pools leaves masqueraded to the node's address. Felix puts its jump at the
// top of POSTROUTING by default (chainInsertMode Insert); the seed recommends Append so that
// the egress gateway's SNAT rules run first. Both are reproduced so tests cover both.
import { nsRun } from './netns.ts';
import type { NodePlan, Topology } from './topology.ts';

export const NAT_CHAIN = 'cali-nat-outgoing';

export function natOutgoingRules(t: Topology, family: 4 | 6): string | undefined {
  const pools = t.clusterPodCidrs.filter((c) => (family === 6) === c.includes(':'));
  if (pools.length === 0) return undefined;
  const jump = t.options.chainInsertMode === 'insert' ? '-I POSTROUTING 1' : '-A POSTROUTING';
  const lines = ['*nat', `:${NAT_CHAIN} - [0:0]`, `-F ${NAT_CHAIN}`];
  for (const src of pools) {
    const notDst = pools.map((p) => `! -d ${p}`);
    // iptables accepts one negated -d per rule; with one pool per family that is all we need.
    lines.push(`-A ${NAT_CHAIN} -s ${src} ${notDst[0]} -j MASQUERADE`);
  }
  lines.push(`${jump} -j ${NAT_CHAIN}`, 'COMMIT', '');
  return lines.join('\n');
}

async function hasJump(ns: string, tool: string): Promise<boolean> {
  const { stdout } = await nsRun(ns, tool, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  return stdout.split('\n').some((l) => l.trim() === `-A POSTROUTING -j ${NAT_CHAIN}`);
}

export async function ensureNatOutgoing(t: Topology, n: NodePlan): Promise<void> {
  // flanneld --ip-masq writes flannel's own masquerade rules (FLANNEL-POSTRTG).
  if (t.options.cni === 'flannel') return;
  for (const family of [4, 6] as const) {
    let rules = natOutgoingRules(t, family);
    if (!rules) continue;
    const [tool, restore] =
      family === 4 ? ['iptables', 'iptables-restore'] : ['ip6tables', 'ip6tables-restore'];
    // The jump is added once; re-running only refreshes the chain's content.
    if (await hasJump(n.netns, tool)) rules = rules.replace(/^-[IA] POSTROUTING.*\n/m, '');
    await nsRun(n.netns, restore, ['-w', '5', '--noflush'], { input: rules });
  }
}
