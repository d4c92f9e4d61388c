// Calico's natOutgoing, as Felix programs it: traffic from a natOutgoing pool to anything
// outside the cluster's pools leaves masqueraded to the node's address. Felix puts its jump at
// the top of POSTROUTING by default (chainInsertMode Insert) and keeps it there; the seed
// recommends Append so that the egress gateway's SNAT rules run first. In --cni calico mode the
// lab's Felix stand-in (lab/src/calico/felix.ts) drives this from the FelixConfiguration and
// IPPool objects; in bridge mode the lab option --cni-chain-insert-mode sets it once.
import { nsRun } from './netns.ts';
import type { NodePlan, Topology } from './topology.ts';

export const NAT_CHAIN = 'cali-nat-outgoing';
export const JUMP = `-A POSTROUTING -j ${NAT_CHAIN}`;

export type InsertMode = 'insert' | 'append';

export interface NatOutgoingSpec {
  mode: InsertMode;
  /** every enabled pool of the cluster (destinations inside them are never masqueraded) */
  pools: string[];
  /** the pools whose pods are masqueraded (natOutgoing: true) */
  natPools: string[];
}

export function labNatSpec(t: Topology): NatOutgoingSpec {
  return { mode: t.options.chainInsertMode, pools: t.clusterPodCidrs, natPools: t.clusterPodCidrs };
}

const isV6 = (c: string) => c.includes(':');

/** The chain's content for one family (iptables-restore input, no jump), or undefined. */
export function natOutgoingChain(spec: NatOutgoingSpec, family: 4 | 6): string | undefined {
  const pools = spec.pools.filter((c) => (family === 6) === isV6(c));
  const natPools = spec.natPools.filter((c) => (family === 6) === isV6(c));
  const lines = ['*nat', `:${NAT_CHAIN} - [0:0]`, `-F ${NAT_CHAIN}`];
  if (pools.length === 0 && natPools.length === 0) return undefined;
  for (const src of natPools) {
    // Like Felix: return for destinations inside any pool, masquerade the rest.
    for (const dst of pools) lines.push(`-A ${NAT_CHAIN} -s ${src} -d ${dst} -j RETURN`);
    lines.push(`-A ${NAT_CHAIN} -s ${src} -j MASQUERADE`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * Where the jump must move, given POSTROUTING's rules as `iptables -S` prints them: Insert
 * keeps it first; Append puts it last once (Felix appends and then leaves it where it is,
 * unless it sits first, i.e. it was inserted before the mode changed).
 */
export function jumpFix(
  rules: string[],
  mode: InsertMode,
): 'ok' | 'insert' | 'append' | 'move-first' | 'move-last' {
  const own = rules.filter((r) => r.startsWith('-A POSTROUTING'));
  const at = own.indexOf(JUMP);
  if (at < 0) return mode === 'insert' ? 'insert' : 'append';
  if (mode === 'insert') return at === 0 ? 'ok' : 'move-first';
  return at === 0 && own.length > 1 ? 'move-last' : 'ok';
}

async function postrouting(ns: string, tool: string): Promise<string[]> {
  const { stdout } = await nsRun(ns, tool, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  return stdout.split('\n').map((l) => l.trim());
}

/** Programs the chain and puts its jump where the mode says; idempotent. */
export async function applyNatOutgoing(n: NodePlan, spec: NatOutgoingSpec): Promise<void> {
  for (const family of [4, 6] as const) {
    if ((family === 4 && !n.ipv4) || (family === 6 && !n.ipv6)) continue;
    const chain = natOutgoingChain(spec, family);
    if (!chain) continue;
    const [tool, restore] =
      family === 4 ? ['iptables', 'iptables-restore'] : ['ip6tables', 'ip6tables-restore'];
    await nsRun(n.netns, restore, ['-w', '5', '--noflush'], { input: chain });
    const fix = jumpFix(await postrouting(n.netns, tool), spec.mode);
    const jump = ['-w', '5', '-t', 'nat'];
    if (fix === 'move-first' || fix === 'move-last')
      await nsRun(n.netns, tool, [...jump, '-D', 'POSTROUTING', '-j', NAT_CHAIN]);
    if (fix === 'insert' || fix === 'move-first')
      await nsRun(n.netns, tool, [...jump, '-I', 'POSTROUTING', '1', '-j', NAT_CHAIN]);
    if (fix === 'append' || fix === 'move-last')
      await nsRun(n.netns, tool, [...jump, '-A', 'POSTROUTING', '-j', NAT_CHAIN]);
  }
}

export async function ensureNatOutgoing(t: Topology, n: NodePlan): Promise<void> {
  // flanneld --ip-masq writes flannel's own masquerade rules (FLANNEL-POSTRTG).
  if (t.options.cni === 'flannel') return;
  await applyNatOutgoing(n, labNatSpec(t));
}
