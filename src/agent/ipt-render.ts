// Renders the plan's packet rules for the iptables + ipset backend (kernels without the
// nftables features the primary backend uses). Pure: the plan in; our ipsets and our own
// chains out, per family. The kernel adapter (iptables.ts) writes them with `ipset restore`
// and `iptables-restore --noflush`; only our chains and their jumps are ever touched.
//
// Same behaviour as nft-render.ts, chain by chain:
// - mangle EGW-PREROUTING (jumped to from the top of mangle PREROUTING): pod traffic of a
//   policy carried by another node gets that node's mark. A source whose first policy has
//   no destSubnet (the usual case) gets its mark from one `SET --map-mark` lookup in a
//   hash:net set with skbinfo (source → mark): the cost does not grow with the number of
//   policies. Sources whose first policy has a destSubnet go through one rule per such
//   source group, each a set lookup, to the group's chain, which checks its policies'
//   destinations in order (`-g`, so the first match decides).
// - mangle EGW-FORWARD: a node mark becomes the base mark (the VXLAN mark-loop guard).
// - filter EGW-FORWARD: traffic that came through the tunnel and no SNAT rule here covers
//   is dropped (never leaves with this node's address).
// - nat EGW-POSTROUTING: traffic entering the tunnel gets a null mapping (`NETMAP` to
//   itself: a real mapping, so no later NAT chain, in any table, rewrites it), and sources
//   of policies carried here go to their group's chain: SNAT to the EIP or MASQUERADE. NAT
//   rules see only a connection's first packet, so this part is per connection.
import { bitsOf, type Family, formatIp, type IpRange, mergeRanges } from '../common/ip.ts';
import { sourceGroups } from './nft-render.ts';
import type { DatapathPlan, PolicyRule } from './planner.ts';

export type IptTable = 'mangle' | 'nat' | 'filter';
export type IptHook = 'PREROUTING' | 'FORWARD' | 'POSTROUTING';

/** A hash:net set (with skbinfo for the source → mark map). */
export interface IpSetSpec {
  name: string;
  family: Family;
  skbinfo: boolean;
  /** `ipset add` arguments after the set name, e.g. `10.0.0.0/24` or `10.0.0.5/32 skbmark 0x26000002` */
  members: string[];
}

export interface IptChain {
  table: IptTable;
  name: string;
  /** each rule's arguments after `-A <chain>` */
  rules: string[];
}

export interface IptJump {
  table: IptTable;
  hook: IptHook;
  chain: string;
}

export interface IptPlan {
  sets: IpSetSpec[];
  chains: { 4: IptChain[]; 6: IptChain[] };
}

export interface IptRenderConfig {
  markBase: number;
  vxlanName: string;
}

/** Our chains start with this; nothing else we create does. */
export const CHAIN_PREFIX = 'EGW-';
/** Our ipsets: `egw4-…` and `egw6-…`. */
export const SET_PATTERN = /^egw[46]-[a-z0-9-]+$/;
/** The comment on our jumps, how we find them again. */
export const JUMP_COMMENT = 'egressgateway';

/**
 * Where our chains are hooked in: each jump is inserted at the top of its built-in chain
 * when it is missing, and left where it is otherwise (others may insert before it later).
 */
export const IPT_JUMPS: readonly IptJump[] = [
  { table: 'mangle', hook: 'PREROUTING', chain: 'EGW-PREROUTING' },
  { table: 'mangle', hook: 'FORWARD', chain: 'EGW-FORWARD' },
  { table: 'filter', hook: 'FORWARD', chain: 'EGW-FORWARD' },
  { table: 'nat', hook: 'POSTROUTING', chain: 'EGW-POSTROUTING' },
];

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** The smallest list of CIDRs covering a range exactly (hash:net takes no /0: two /1s). */
export function rangeToCidrs(r: IpRange): string[] {
  const bits = bitsOf(r.family);
  // the common case, one pod address
  if (r.start === r.end) return [`${formatIp(r.family, r.start)}/${bits}`];
  const out: string[] = [];
  let start = r.start;
  while (start <= r.end) {
    // the largest aligned block at `start` that does not pass `end`
    let size = 0;
    while (size < bits) {
      const next = size + 1;
      const block = 1n << BigInt(next);
      if (start % block !== 0n || start + block - 1n > r.end) break;
      size = next;
    }
    if (size === bits) {
      const half = 1n << BigInt(bits - 1);
      out.push(`${formatIp(r.family, 0n)}/1`, `${formatIp(r.family, half)}/1`);
    } else out.push(`${formatIp(r.family, start)}/${bits - size}`);
    start += 1n << BigInt(size);
  }
  return out;
}

const cidrsOf = (ranges: IpRange[]) => mergeRanges(ranges).flatMap(rangeToCidrs);

/** Text that may sit in a rule comment: the policy's kind and key, nothing that could end it. */
const comment = (r: PolicyRule) =>
  `-m comment --comment "${r.policy.replace(/[^A-Za-z0-9 ./:_-]/g, '_').slice(0, 200)}"`;

/** The rules that can decide: none after the first one without destinations (it matches all). */
function deciding(rules: { r: PolicyRule; i: number }[]) {
  const end = rules.findIndex(({ r }) => !r.dst);
  return end < 0 ? rules : rules.slice(0, end + 1);
}
const keyOf = (rules: { i: number }[]) => rules.map(({ i }) => i).join(',');

interface Group {
  k: number;
  ranges: IpRange[];
  rules: { r: PolicyRule; i: number }[];
}

function familyRules(
  plan: DatapathPlan,
  cfg: IptRenderConfig,
  family: Family,
  sets: IpSetSpec[],
): IptChain[] {
  const s = (name: string) => `egw${family}-${name}`;
  const set = (name: string, ranges: IpRange[]) =>
    sets.push({ name: s(name), family, skbinfo: false, members: cidrsOf(ranges) });
  const dstMatch = (i: number, r: PolicyRule) => (r.dst ? `-m set --match-set ${s(`d${i}`)} dst ` : '');
  const base = hex(cfg.markBase);
  const fast: string[] = [];
  const marked: IpRange[] = [];
  const here: IpRange[] = [];
  const slow = new Map<string, Group>();
  const snat = new Map<string, Group>();
  const markChains = new Map<number, IptChain>();
  const group = (m: Map<string, Group>, key: string, range: IpRange, rules: Group['rules']) => {
    const g = m.get(key) ?? { k: m.size, ranges: [], rules };
    g.ranges.push(range);
    m.set(key, g);
  };

  plan.rules.forEach((r, i) => {
    if (r.family === family && r.dst) set(`d${i}`, r.dst);
  });
  for (const g of sourceGroups(plan.rules, family)) {
    const rules = deciding(g.rules.map((i) => ({ r: plan.rules[i]!, i })));
    const first = rules[0]!;
    if (rules.some(({ r }) => r.action.kind === 'mark')) {
      if (!first.r.dst) {
        // Decided by the source alone: the first policy matches every outside destination.
        if (first.r.action.kind === 'mark') {
          const mark = hex(first.r.action.mark);
          for (const c of rangeToCidrs(g.range)) fast.push(`${c} skbmark ${mark}`);
          marked.push(g.range);
        }
      } else {
        group(slow, keyOf(rules), g.range, rules);
        marked.push(g.range);
      }
    }
    const local = deciding(
      g.rules.map((i) => ({ r: plan.rules[i]!, i })).filter(({ r }) => r.action.kind !== 'mark'),
    );
    if (local.length > 0) {
      group(snat, keyOf(local), g.range, local);
      here.push(g.range);
    }
  }

  const chains: IptChain[] = [];
  // Marking.
  const pre: string[] = [];
  if (marked.length > 0) {
    set('cluster', plan.cluster[family]);
    set('mark', marked);
    pre.push(
      `-m set ! --match-set ${s('mark')} src -j RETURN`,
      '-m conntrack --ctdir REPLY -j RETURN',
      `-m set --match-set ${s('cluster')} dst -j RETURN`,
    );
    if (fast.length > 0) {
      sets.push({ name: s('fast'), family, skbinfo: true, members: fast });
      pre.push(`-j SET --map-set ${s('fast')} src --map-mark`);
      if (slow.size > 0) pre.push(`-m mark --mark ${base}/0xff000000 -j RETURN`);
    }
    for (const g of slow.values()) {
      const name = `EGW-MG-${g.k}`;
      set(`mg${g.k}`, g.ranges);
      pre.push(`-m set --match-set ${s(`mg${g.k}`)} src -g ${name}`);
      const rules: string[] = [];
      for (const { r, i } of g.rules) {
        if (r.action.kind === 'mark') {
          const mark = r.action.mark;
          const target = `EGW-MARK-${hex8(mark)}`;
          if (!markChains.has(mark))
            markChains.set(mark, {
              table: 'mangle',
              name: target,
              rules: [`-j MARK --set-xmark ${hex(mark)}/0xffffffff`],
            });
          rules.push(`${dstMatch(i, r)}${comment(r)} -g ${target}`);
        } else rules.push(`${dstMatch(i, r)}${comment(r)} -j RETURN`);
      }
      chains.push({ table: 'mangle', name, rules });
    }
  }
  chains.push({ table: 'mangle', name: 'EGW-PREROUTING', rules: pre }, ...markChains.values());
  chains.push({
    table: 'mangle',
    name: 'EGW-FORWARD',
    rules: [`-m mark --mark ${base}/0xff000000 -j MARK --set-xmark ${base}/0xffffffff`],
  });

  // The tunnel guard: only sources SNATed here may come through the tunnel.
  set('here', here);
  chains.push({
    table: 'filter',
    name: 'EGW-FORWARD',
    rules: [
      `-i ${cfg.vxlanName} -m conntrack --ctdir ORIGINAL -m set ! --match-set ${s('here')} src -j DROP`,
    ],
  });

  // SNAT.
  const post = [
    `-o ${cfg.vxlanName} -m mark --mark ${base} -j NETMAP --to ${family === 4 ? '0.0.0.0/0' : '::/0'}`,
  ];
  if (snat.size > 0) {
    if (!sets.some((x) => x.name === s('cluster'))) set('cluster', plan.cluster[family]);
    post.push(
      `-m set ! --match-set ${s('here')} src -j RETURN`,
      `-m set --match-set ${s('cluster')} dst -j RETURN`,
    );
    for (const g of snat.values()) {
      const name = `EGW-SG-${g.k}`;
      set(`sg${g.k}`, g.ranges);
      post.push(`-m set --match-set ${s(`sg${g.k}`)} src -g ${name}`);
      const rules: string[] = [];
      for (const { r, i } of g.rules) {
        const target = r.action.kind === 'snat' ? `SNAT --to-source ${r.action.to}` : 'MASQUERADE';
        rules.push(`${dstMatch(i, r)}${comment(r)} -j ${target}`);
      }
      chains.push({ table: 'nat', name, rules });
    }
  }
  chains.push({ table: 'nat', name: 'EGW-POSTROUTING', rules: post });
  return chains;
}

/** The ipsets and chains this node needs, in a stable order. */
export function renderIptables(plan: DatapathPlan, cfg: IptRenderConfig, families: Family[]): IptPlan {
  const sets: IpSetSpec[] = [];
  const chains: IptPlan['chains'] = { 4: [], 6: [] };
  for (const f of families) chains[f] = familyRules(plan, cfg, f, sets);
  sets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { sets, chains };
}
