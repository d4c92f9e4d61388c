// Pure text work for the iptables backend: reads `iptables-save` output and writes the
// `iptables-restore --noflush` and `ipset restore` inputs that move the kernel to the plan.
// Only our chains (EGW-*) and our jumps are written; every other rule stays untouched.
// A chain declared in a --noflush restore is flushed and refilled, so a sync rewrites our
// chains wholesale in one atomic commit per table; jumps are inserted only when missing.
import type { Family } from '../common/ip.ts';
import {
  CHAIN_PREFIX,
  IPT_JUMPS,
  type IpSetSpec,
  type IptChain,
  type IptHook,
  type IptJump,
  type IptTable,
  JUMP_COMMENT,
} from './ipt-render.ts';

export interface SavedTable {
  /** every chain declared in the table */
  chains: Set<string>;
  /** every `-A …` line, in order */
  rules: string[];
}

/** `iptables-save` output → table → chains and rules. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: [] };
      tables.set(line.slice(1).trim(), cur);
    } else if (!cur) continue;
    else if (line.startsWith(':')) cur.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) cur.rules.push(line);
  }
  return tables;
}

const TABLES: readonly IptTable[] = ['mangle', 'filter', 'nat'];
const jumpTarget = (line: string) => / -[jg] (\S+)$/.exec(line)?.[1];
const ours = (name: string) => name.startsWith(CHAIN_PREFIX);
const jumpLine = (j: IptJump) => `-m comment --comment ${JUMP_COMMENT} -j ${j.chain}`;

/**
 * The restore input that makes our chains exactly `desired` (none: remove them all) and our
 * jumps present exactly once each; chains and jumps of ours not desired are removed. Empty
 * when there is nothing to do (no desired chain and none of ours in the kernel).
 */
export function restoreInput(desired: IptChain[], saved: Map<string, SavedTable>): string {
  const out: string[] = [];
  for (const table of TABLES) {
    const want = desired.filter((c) => c.table === table);
    const have = saved.get(table) ?? { chains: new Set<string>(), rules: [] };
    const stale = [...have.chains].filter((c) => ours(c) && !want.some((w) => w.name === c)).sort();
    if (want.length === 0 && stale.length === 0) continue;
    out.push(`*${table}`);
    for (const c of [...want.map((w) => w.name), ...stale]) out.push(`:${c} - [0:0]`);
    for (const c of want) for (const r of c.rules) out.push(`-A ${c.name} ${r}`);
    const jumps = want.length > 0 ? IPT_JUMPS.filter((j) => j.table === table) : [];
    // Jumps from built-in chains into ours: keep one canonical jump per desired hook, drop
    // the rest (duplicates, jumps to chains that go away, ours at hooks no longer used).
    const kept = new Set<string>();
    for (const line of have.rules) {
      const hook = line.split(' ')[1];
      const target = jumpTarget(line);
      if (!hook || ours(hook) || !target || !ours(target)) continue;
      const j = jumps.find((x) => x.hook === hook && x.chain === target);
      const key = `${hook} ${target}`;
      if (j && line === `-A ${hook} ${jumpLine(j)}` && !kept.has(key)) kept.add(key);
      else out.push(`-D ${line.slice(3)}`);
    }
    for (const j of jumps) if (!kept.has(`${j.hook} ${j.chain}`)) out.push(`-I ${j.hook} 1 ${jumpLine(j)}`);
    for (const c of stale) out.push(`-X ${c}`);
    out.push('COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/**
 * The chains that run before ours at a hook, if any of them belongs to Calico (`cali-*`):
 * with Felix's `chainInsertMode: Insert` its rules (natOutgoing masquerade) see pod traffic
 * first.
 */
export function calicoBefore(saved: Map<string, SavedTable>, table: IptTable, hook: IptHook): string[] {
  const before: string[] = [];
  for (const line of saved.get(table)?.rules ?? []) {
    if (!line.startsWith(`-A ${hook} `)) continue;
    const target = jumpTarget(line);
    if (target && ours(target)) return before.filter((t) => t.startsWith('cali-'));
    if (target) before.push(target);
  }
  return [];
}

/** Sizes every set can grow to (per family, per set): far above any cluster's pod count. */
export const SET_MAXELEM = 1_048_576;

const header = (name: string, s: IpSetSpec) =>
  `create ${name} hash:net family ${s.family === 4 ? 'inet' : 'inet6'} maxelem ${SET_MAXELEM}${s.skbinfo ? ' skbinfo' : ''}`;
const tempName = (s: IpSetSpec) => `egw${s.family}-tmp${s.skbinfo ? 'x' : ''}`;

/** The sets whose membership admits a source to our rules (checked before the others). */
const GATE = /^egw[46]-(mark|here)$/;
const cidrOf = (member: string) => member.split(' ')[0]!;

/**
 * The `ipset restore` input that gives every desired set its members. A new set is created
 * and filled. An existing one with a few changes (a pod came or went) gets just those
 * (`add -exist`, which also updates a changed mark, and `del -exist`); one with many is
 * rebuilt in a temporary set and swapped in (atomic for the rules that use it). Order keeps
 * every moment consistent: additions to the sets that decide before additions to the gate
 * sets (`egw4-mark`, `egw4-here`), removals from the gates before the rest, so a source is
 * never admitted by a gate without its decision being in place. `applied` holds what each
 * set got last (an existing set not in it is rebuilt).
 */
export function ipsetInput(
  desired: IpSetSpec[],
  existing: ReadonlySet<string>,
  applied: ReadonlyMap<string, string>,
): string {
  const phase: Record<'build' | 'gateBuild' | 'gateDel' | 'del', string[]> = {
    build: [],
    gateBuild: [],
    gateDel: [],
    del: [],
  };
  const temps = new Set<string>();
  for (const s of desired) {
    const key = s.members.join('\n');
    const prev = existing.has(s.name) ? applied.get(s.name) : undefined;
    if (prev === key) continue;
    const gate = GATE.test(s.name);
    const build = gate ? phase.gateBuild : phase.build;
    const adds = (name: string) => s.members.map((m) => `add ${name} ${m}`);
    if (!existing.has(s.name)) {
      build.push(header(s.name, s), ...adds(s.name));
      continue;
    }
    if (prev !== undefined) {
      const old = prev ? prev.split('\n') : [];
      const had = new Set(old);
      const keep = new Set(s.members.map(cidrOf));
      const added = s.members.filter((m) => !had.has(m));
      const removed = old.filter((m) => !keep.has(cidrOf(m))).map(cidrOf);
      if (added.length + removed.length <= Math.max(64, s.members.length / 4)) {
        build.push(...added.map((m) => `add ${s.name} ${m} -exist`));
        (gate ? phase.gateDel : phase.del).push(...removed.map((m) => `del ${s.name} ${m} -exist`));
        continue;
      }
    }
    const tmp = tempName(s);
    temps.add(tmp);
    build.push(header(tmp, s), ...adds(tmp), `swap ${tmp} ${s.name}`, `destroy ${tmp}`);
  }
  // a temporary set left behind by an interrupted run would make `create` fail
  const leftovers = [...temps].filter((t) => existing.has(t)).map((t) => `destroy ${t}`);
  const out = [...leftovers, ...phase.build, ...phase.gateBuild, ...phase.gateDel, ...phase.del];
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Our sets in the kernel that the plan does not use (after the rules stopped using them). */
export function staleSets(existing: Iterable<string>, desired: IpSetSpec[], pattern: RegExp): string[] {
  const want = new Set(desired.map((s) => s.name));
  return [...existing].filter((n) => pattern.test(n) && !want.has(n)).sort();
}

export const familyTool = (family: Family, variant: 'nft' | 'legacy', what: 'save' | 'restore') =>
  `${family === 4 ? 'iptables' : 'ip6tables'}-${variant}-${what}`;
