// The iptables + ipset packet backend: writes what ipt-render.ts plans with `ipset restore`
// (new sets filled, changed sets rebuilt aside and swapped in) and one
// `ip[6]tables-<variant>-restore --noflush -w` per family (our chains only, jumps inserted
// when missing). The variant (iptables-nft or iptables-legacy) is the one the node's other
// rule writers use, so our NAT decisions and theirs meet in the same tables.
import { assertSafeName, CommandError, type RunOptions, type RunResult, run } from '../common/exec.ts';
import type { Family } from '../common/ip.ts';
import type { Logger } from '../common/log.ts';
import { CHAIN_PREFIX, type IptRenderConfig, renderIptables, SET_PATTERN } from './ipt-render.ts';
import { calicoBefore, familyTool, ipsetInput, parseSave, restoreInput, staleSets } from './ipt-restore.ts';
import type { PacketBackend } from './packet-backend.ts';
import type { DatapathPlan } from './planner.ts';

export type IptVariant = 'nft' | 'legacy';
export type Exec = (tool: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

/** Runs tools in a network namespace (tests) or in our own. */
export function nsExec(netns?: string): Exec {
  if (netns) assertSafeName('network namespace', netns);
  return (tool, args, opts = {}) =>
    netns ? run('ip', ['netns', 'exec', netns, tool, ...args], opts) : run(tool, args, opts);
}

/** Output of a read-only tool, or '' when it is missing or fails (nothing of ours there). */
export async function readOrEmpty(exec: Exec, tool: string, args: string[]): Promise<string> {
  try {
    return (await exec(tool, args)).stdout;
  } catch (err) {
    if (err instanceof CommandError) return '';
    throw err;
  }
}

/**
 * A variant's tables as `ip[6]tables-<variant>-save` prints them, for looking only: '' when
 * the tool is missing or fails, and for iptables-legacy when the kernel has no legacy table
 * in this namespace (so merely looking never instantiates one).
 */
export async function peekSave(exec: Exec, family: Family, variant: IptVariant): Promise<string> {
  if (variant === 'legacy') {
    const names = await readOrEmpty(exec, 'cat', [`/proc/net/ip${family === 6 ? '6' : ''}_tables_names`]);
    if (!names.trim()) return '';
  }
  return readOrEmpty(exec, familyTool(family, variant, 'save'), []);
}

export interface IptablesOptions {
  log: Logger;
  exec: Exec;
  variant: IptVariant;
  families: Family[];
  render: IptRenderConfig;
  /** the xtables lock file (XTABLES_LOCKFILE; iptables-legacy honours it) */
  lockFile?: string;
  /** `-w` seconds to wait for the xtables lock */
  lockWaitSeconds?: number;
}

const setNames = async (exec: Exec) =>
  new Set(
    (await readOrEmpty(exec, 'ipset', ['list', '-n']))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );

/** Destroys our sets not in `keep`; one still used by someone's rules is reported, not fatal. */
export async function destroySets(exec: Exec, names: string[], log: Logger): Promise<void> {
  if (names.length === 0) return;
  try {
    await exec('ipset', ['restore'], { input: `${names.map((n) => `destroy ${n}`).join('\n')}\n` });
  } catch {
    for (const n of names)
      await exec('ipset', ['destroy', n]).catch((err: unknown) =>
        log.warn({ set: n, err: String(err) }, 'could not destroy our ipset (still in use?)'),
      );
  }
}

function restoreArgs(o: Pick<IptablesOptions, 'lockWaitSeconds'>): string[] {
  return ['--noflush', '-w', String(o.lockWaitSeconds ?? 10)];
}
const lockEnv = (lockFile?: string): RunOptions =>
  lockFile ? { env: { ...process.env, XTABLES_LOCKFILE: lockFile } } : {};

/**
 * Reads a family's tables and restores `input(saved)`; on a failure (someone changed the
 * tables between our read and our write) reads again and retries, up to three times.
 * Returns the tables as read before the last write.
 */
async function restoreFamily(
  o: Pick<IptablesOptions, 'exec' | 'lockFile' | 'lockWaitSeconds'>,
  variant: IptVariant,
  family: Family,
  input: (saved: ReturnType<typeof parseSave>) => string,
): Promise<ReturnType<typeof parseSave>> {
  for (let attempt = 1; ; attempt++) {
    const saved = parseSave(
      (await o.exec(familyTool(family, variant, 'save'), [], lockEnv(o.lockFile))).stdout,
    );
    const text = input(saved);
    if (!text) return saved;
    try {
      await o.exec(familyTool(family, variant, 'restore'), restoreArgs(o), {
        input: text,
        ...lockEnv(o.lockFile),
      });
      return saved;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/**
 * Removes our chains and jumps from one variant's tables (both families); tables without
 * anything of ours are not touched (or even created). Returns how many chains went.
 */
export async function removeIptablesRules(
  o: Pick<IptablesOptions, 'exec' | 'lockFile' | 'lockWaitSeconds'>,
  variant: IptVariant,
): Promise<number> {
  let removed = 0;
  for (const family of [4, 6] as const) {
    const text = await peekSave(o.exec, family, variant);
    if (!text.includes(CHAIN_PREFIX)) continue;
    await restoreFamily(o, variant, family, (saved) => {
      for (const t of saved.values())
        removed += [...t.chains].filter((c) => c.startsWith(CHAIN_PREFIX)).length;
      return restoreInput([], saved);
    });
  }
  return removed;
}

/** Destroys every ipset of ours (after no rule uses them any more). */
export async function removeOurSets(exec: Exec, log: Logger): Promise<number> {
  const names = [...(await setNames(exec))].filter((n) => SET_PATTERN.test(n)).sort();
  await destroySets(exec, names, log);
  return names.length;
}

export class IptablesBackend implements PacketBackend {
  readonly name = 'iptables' as const;
  readonly #o: IptablesOptions;
  /** members each set got last */
  readonly #applied = new Map<string, string>();
  #lastChains = '';
  #lastSets = '';
  /** our sets in the kernel after the last successful apply (re-read on full passes) */
  #known: Set<string> | undefined;
  /** what was last reported per family */
  readonly #calico = new Map<Family, string>();
  #calicoAhead: string[] = [];

  constructor(o: IptablesOptions) {
    this.#o = o;
    assertSafeName('tunnel device', o.render.vxlanName, 15);
  }

  get variant(): IptVariant {
    return this.#o.variant;
  }

  /** Calico's chains found before ours when our chains were last written (`table hook → chain`). */
  calicoAhead(): string[] {
    return [...this.#calicoAhead];
  }

  async apply(plan: DatapathPlan, full = false): Promise<boolean> {
    const { exec, families, log } = this.#o;
    const want = renderIptables(plan, this.#o.render, families);
    const chainsKey = JSON.stringify(want.chains);
    const setsKey = JSON.stringify(want.sets);
    if (!full && chainsKey === this.#lastChains && setsKey === this.#lastSets) return false;
    // Sets first: the rules refer to them by name.
    const known = this.#known;
    this.#known = undefined;
    const existing = full || !known ? await setNames(exec) : known;
    if (full) this.#applied.clear();
    const script = ipsetInput(want.sets, existing, this.#applied);
    const chainsSame = chainsKey === this.#lastChains;
    // what is in the kernel is unknown until both steps succeeded
    this.#lastSets = this.#lastChains = '';
    if (script) await exec('ipset', ['restore'], { input: script });
    for (const s of want.sets) this.#applied.set(s.name, s.members.join('\n'));
    this.#lastSets = setsKey;
    // Chains: rewritten when they changed (a pod change usually changes only set members).
    if (full || !chainsSame) {
      for (const f of families) {
        const saved = await restoreFamily(this.#o, this.#o.variant, f, (s) =>
          restoreInput(want.chains[f], s),
        );
        this.#checkCalico(saved, f);
      }
    }
    this.#lastChains = chainsKey;
    const stale = staleSets(existing, want.sets, SET_PATTERN);
    for (const n of stale) this.#applied.delete(n);
    await destroySets(exec, stale, log);
    this.#known = new Set(want.sets.map((s) => s.name));
    return true;
  }

  /** Calico in chainInsertMode Insert runs its chains before ours: its masquerade wins. */
  #checkCalico(saved: ReturnType<typeof parseSave>, family: Family): void {
    const found = [
      ...calicoBefore(saved, 'nat', 'POSTROUTING').map((c) => `nat POSTROUTING → ${c}`),
      ...calicoBefore(saved, 'mangle', 'PREROUTING').map((c) => `mangle PREROUTING → ${c}`),
    ];
    if (family === this.#o.families[0]) this.#calicoAhead = [];
    this.#calicoAhead.push(...found.map((f) => `IPv${family} ${f}`));
    const key = found.join(',');
    if (key === (this.#calico.get(family) ?? '')) return;
    this.#calico.set(family, key);
    if (found.length === 0) {
      this.#o.log.info({ family }, "Calico's chains no longer run before ours");
      return;
    }
    this.#o.log.warn(
      { family, before: found },
      "Calico's chains run before ours (Felix chainInsertMode Insert): its natOutgoing masquerade can take selected pods' traffic before our SNAT. Fix: set chainInsertMode: Append in the FelixConfiguration 'default' (or FELIX_CHAININSERTMODE=Append), or use feature.datapathMode nftables, which does not depend on rule order",
    );
  }

  /** Our chains, jumps and sets gone from this variant. */
  async remove(): Promise<void> {
    await removeIptablesRules(this.#o, this.#o.variant);
    await removeOurSets(this.#o.exec, this.#o.log);
    this.#applied.clear();
    this.#lastChains = this.#lastSets = '';
    this.#known = undefined;
  }
}
