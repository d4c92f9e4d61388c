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
//
// Per-packet cost does not grow with the number of policies: one verdict-map lookup on the
// source address jumps to the chain of that source's *group* (the policies it belongs to, in
// priority order), which checks only those policies' destinations. A pod in one policy costs
// one map lookup and one rule, whether the cluster has 10 policies or 10,000.
import { type Family, type IpRange, mergeRanges } from '../common/ip.ts';
import type { DatapathPlan, PolicyRule } from './planner.ts';
import { formatRange } from './planner.ts';

export const NFT_TABLE = 'egressgateway';

export interface NftRenderConfig {
  markBase: number;
  vxlanName: string;
  /** the table's name (default NFT_TABLE; the start-up probe loads a scratch table) */
  table?: string;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const ipKw = (f: Family) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

function setDecl(name: string, family: Family, ranges: IpRange[]): string {
  const body = ranges.length ? ` elements = { ${ranges.map(formatRange).join(', ')} }` : '';
  return `\tset ${name} { type ${addrType(family)}; flags interval;${body} }`;
}

/** A run of source addresses that belong to exactly the same rules (indexes, in order). */
interface SourceGroup {
  range: IpRange;
  rules: number[];
}

/**
 * Sweeps the rules' source ranges into disjoint intervals, each with the ordered list of
 * rules covering it; neighbouring intervals with the same list are merged.
 */
export function sourceGroups(rules: PolicyRule[], family: Family): SourceGroup[] {
  const events: { at: bigint; rule: number; open: boolean }[] = [];
  rules.forEach((r, i) => {
    if (r.family !== family) return;
    for (const s of r.src) {
      events.push({ at: s.start, rule: i, open: true });
      events.push({ at: s.end + 1n, rule: i, open: false });
    }
  });
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const active = new Map<number, number>();
  const out: SourceGroup[] = [];
  for (let i = 0; i < events.length; ) {
    const at = events[i]!.at;
    for (; i < events.length && events[i]!.at === at; i++) {
      const e = events[i]!;
      const n = (active.get(e.rule) ?? 0) + (e.open ? 1 : -1);
      if (n > 0) active.set(e.rule, n);
      else active.delete(e.rule);
    }
    const next = events[i]?.at;
    if (next === undefined || active.size === 0) continue;
    const list = [...active.keys()].sort((a, b) => a - b);
    const last = out[out.length - 1];
    if (last && last.range.end + 1n === at && last.rules.join() === list.join()) last.range.end = next - 1n;
    else out.push({ range: { family, start: at, end: next - 1n }, rules: list });
  }
  return out;
}

/** The whole table; `delete` first so the transaction replaces whatever was there. */
export function renderNft(plan: DatapathPlan, cfg: NftRenderConfig): string {
  const sets: string[] = [setDecl('cluster4', 4, plan.cluster[4]), setDecl('cluster6', 6, plan.cluster[6])];
  const chains: string[] = [];
  const maps: string[] = [];
  const dstMatch = (r: PolicyRule, i: number) => {
    const ip = ipKw(r.family);
    return `${ip} daddr != @cluster${r.family}${r.dst ? ` ${ip} daddr @dst${i}` : ''}`;
  };
  // The comment names the policy; quotes are the only character that could end it.
  const comment = (r: PolicyRule) => ` comment "${r.policy.replace(/"/g, '')}"`;
  plan.rules.forEach((r, i) => {
    if (r.dst) sets.push(setDecl(`dst${i}`, r.family, r.dst));
  });
  for (const family of [4, 6] as const) {
    /** One chain per source group (shared by every source in the same policies). */
    const grouped = (prefix: string) => {
      const names = new Map<string, string>();
      const elems: string[] = [];
      return {
        elems,
        add(
          range: IpRange,
          key: string,
          rules: { r: PolicyRule; i: number }[],
          verdict: (r: PolicyRule) => string,
        ) {
          let name = names.get(key);
          if (!name) {
            name = `${prefix}${family}_${names.size}`;
            names.set(key, name);
            chains.push(`\tchain ${name} {`);
            for (const { r, i } of rules) chains.push(`\t\t${dstMatch(r, i)} ${verdict(r)}${comment(r)}`);
            chains.push('\t}');
          }
          elems.push(`${formatRange(range)} : jump ${name}`);
        },
      };
    };
    const mark = grouped('mark');
    const snat = grouped('snat');
    for (const g of sourceGroups(plan.rules, family)) {
      const key = g.rules.join(',');
      const rules = g.rules.map((i) => ({ r: plan.rules[i]!, i }));
      // Marking: the first policy whose destinations match decides; a policy carried here
      // wins by leaving the packet unmarked (it is SNATed here instead).
      if (rules.some(({ r }) => r.action.kind === 'mark'))
        mark.add(g.range, key, rules, (r) =>
          r.action.kind === 'mark' ? `meta mark set ${hex(r.action.mark)} accept` : 'accept',
        );
      // SNAT: policies carried here; a packet marked for another node already took the
      // tunnel's null mapping.
      const here = rules.filter(({ r }) => r.action.kind !== 'mark');
      if (here.length > 0)
        snat.add(g.range, key, here, (r) =>
          r.action.kind === 'snat' ? `snat ${ipKw(family)} to ${r.action.to}` : 'masquerade',
        );
    }
    const mapDecl = (name: string, elems: string[]) =>
      `\tmap ${name} { type ${addrType(family)} : verdict; flags interval;${
        elems.length ? ` elements = { ${elems.join(', ')} }` : ''
      } }`;
    maps.push(mapDecl(`mark_src${family}`, mark.elems), mapDecl(`snat_src${family}`, snat.elems));
  }
  // Traffic that arrived through the tunnel may only leave SNATed by us: a source none of
  // our SNAT rules covers (the sender's view of the carrier was stale) is dropped here
  // instead of leaving with this node's own address.
  for (const family of [4, 6] as const) {
    const srcs = plan.rules
      .filter((r) => r.family === family && r.action.kind !== 'mark')
      .flatMap((r) => r.src);
    sets.push(setDecl(`tunnel_src${family}`, family, mergeRanges(srcs)));
  }
  const base = hex(cfg.markBase);
  const table = cfg.table ?? NFT_TABLE;
  const lines = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...sets,
    ...chains,
    ...maps,
    '\tchain egress_mark {',
    '\t\ttype filter hook prerouting priority mangle - 5; policy accept;',
    '\t\tct direction original ip saddr vmap @mark_src4',
    '\t\tct direction original ip6 saddr vmap @mark_src6',
    '\t}',
    '\tchain egress_mark_reset {',
    '\t\ttype filter hook forward priority mangle + 5; policy accept;',
    `\t\tmeta mark & 0xff000000 == ${base} meta mark set ${base}`,
    '\t}',
    '\tchain egress_tunnel_guard {',
    '\t\ttype filter hook forward priority filter - 10; policy accept;',
    `\t\tiifname "${cfg.vxlanName}" ct direction original ip saddr != @tunnel_src4 drop`,
    `\t\tiifname "${cfg.vxlanName}" ct direction original ip6 saddr != @tunnel_src6 drop`,
    '\t}',
    '\tchain egress_snat {',
    '\t\ttype nat hook postrouting priority srcnat - 10; policy accept;',
    `\t\toifname "${cfg.vxlanName}" meta mark ${base} meta nfproto ipv4 snat ip to ip saddr`,
    `\t\toifname "${cfg.vxlanName}" meta mark ${base} meta nfproto ipv6 snat ip6 to ip6 saddr`,
    '\t\tct direction original ip saddr vmap @snat_src4',
    '\t\tct direction original ip6 saddr vmap @snat_src6',
    '\t}',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
