// Renders the plan's packet rules as one nftables transaction that replaces our own table
// (`table inet egressgateway`) atomically. Our base chains run at priorities we choose, so
// the result does not depend on where the CNI or kube-proxy put their rules:
// - prerouting, before conntrack-based NAT (mangle - 5): pod traffic of a policy carried by
//   another node gets that node's mark, which policy routing sends into the tunnel;
// - forward (mangle + 5): after routing, any node mark becomes the base mark, so the VXLAN
//   packet that carries it is not routed into the tunnel again (skb marks survive
//   encapsulation);
// - postrouting NAT (srcnat - 10): traffic entering the tunnel keeps its pod address (a
//   null mapping, so the CNI's masquerade after us does not rewrite it), and policies
//   carried here are SNATed to their EIP. The NAT core stops at the first chain that sets
//   up a mapping, so this wins over iptables rules of the CNI.
import type { DatapathPlan, PolicyRule } from './planner.ts';
import { formatRange } from './planner.ts';

export const NFT_TABLE = 'egressgateway';

export interface NftRenderConfig {
  markBase: number;
  vxlanName: string;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

function elements(ranges: PolicyRule['src']): string {
  return ranges.map(formatRange).join(', ');
}

function setDecl(name: string, family: 4 | 6, ranges: PolicyRule['src']): string {
  const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const body = ranges.length ? ` elements = { ${elements(ranges)} }` : '';
  return `\tset ${name} { type ${type}; flags interval;${body} }`;
}

/** The whole table; `delete` first so the transaction replaces whatever was there. */
export function renderNft(plan: DatapathPlan, cfg: NftRenderConfig): string {
  const lines: string[] = [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
  ];
  lines.push(setDecl('cluster4', 4, plan.cluster[4]), setDecl('cluster6', 6, plan.cluster[6]));
  const markRules: string[] = [];
  const natRules: string[] = [];
  plan.rules.forEach((r, i) => {
    const ip = r.family === 4 ? 'ip' : 'ip6';
    const src = `src${i}`;
    lines.push(setDecl(src, r.family, r.src));
    let match = `${ip} saddr @${src} ${ip} daddr != @cluster${r.family}`;
    if (r.dst) {
      lines.push(setDecl(`dst${i}`, r.family, r.dst));
      match += ` ${ip} daddr @dst${i}`;
    }
    // The comment names the policy; quotes are the only character that could end it.
    const comment = ` comment "${r.policy.replace(/"/g, '')}"`;
    if (r.action.kind === 'mark')
      markRules.push(
        `\t\t${match} ct direction original meta mark set ${hex(r.action.mark)} accept${comment}`,
      );
    else if (r.action.kind === 'snat')
      natRules.push(`\t\t${match} ct direction original snat ${ip} to ${r.action.to}${comment}`);
    else natRules.push(`\t\t${match} ct direction original masquerade${comment}`);
  });
  const base = hex(cfg.markBase);
  lines.push(
    '\tchain egress_mark {',
    '\t\ttype filter hook prerouting priority mangle - 5; policy accept;',
    ...markRules,
    '\t}',
    '\tchain egress_mark_reset {',
    '\t\ttype filter hook forward priority mangle + 5; policy accept;',
    `\t\tmeta mark & 0xff000000 == ${base} meta mark set ${base}`,
    '\t}',
    '\tchain egress_snat {',
    '\t\ttype nat hook postrouting priority srcnat - 10; policy accept;',
    `\t\toifname "${cfg.vxlanName}" meta mark ${base} meta nfproto ipv4 snat ip to ip saddr`,
    `\t\toifname "${cfg.vxlanName}" meta mark ${base} meta nfproto ipv6 snat ip6 to ip6 saddr`,
    ...natRules,
    '\t}',
    '}',
  );
  return `${lines.join('\n')}\n`;
}
