// Picks the packet backend at start (feature.datapathMode) and, once it carries the
// traffic, removes what the other backend left behind (a switch of mode, or `auto` choosing
// differently after a kernel upgrade): only one backend's state of ours stays in the kernel.
// - auto: loads a scratch nft table rendered with every nft feature our table uses (both
//   families, verdict maps with intervals, mark, SNAT, masquerade, the tunnel guard), then
//   deletes it; nftables where that works, iptables otherwise.
// - nftables / iptables: forced; a kernel that cannot is a configuration error.
// iptables.backendMode picks iptables-nft or iptables-legacy; `auto` follows the node.
import { ConfigError, type DatapathMode, type IptablesBackend as IptablesMode } from '../common/config.ts';
import { cidrToRange, type Family, parseCidr } from '../common/ip.ts';
import type { Logger } from '../common/log.ts';
import type { IptRenderConfig } from './ipt-render.ts';
import { familyTool, SET_MAXELEM } from './ipt-restore.ts';
import {
  type Exec,
  IptablesBackend,
  type IptVariant,
  peekSave,
  readOrEmpty,
  removeIptablesRules,
  removeOurSets,
} from './iptables.ts';
import type { Kernel } from './kernel.ts';
import { renderNft } from './nft-render.ts';
import { NftBackend, type PacketBackend } from './packet-backend.ts';
import type { DatapathPlan, PolicyRule } from './planner.ts';

export interface ChoiceOptions {
  mode: DatapathMode;
  iptables: { backendMode: IptablesMode; lockFilePath: string };
  kernel: Kernel;
  exec: Exec;
  log: Logger;
  families: Family[];
  render: IptRenderConfig;
}

export interface Choice {
  backend: PacketBackend;
  why: string;
}

const PROBE_TABLE = 'egressgateway_probe';
const r = (cidr: string) => cidrToRange(parseCidr(cidr));
const firstLine = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).split('\n').find((l) => l.trim()) ?? 'failed';

/** A plan that makes the renderer use every construct our table has. */
function probePlan(markBase: number): DatapathPlan {
  const rules: PolicyRule[] = [];
  for (const [f, src, dst, eip] of [
    [4, '10.255.0.0/24', '192.0.2.0/24', '192.0.2.1'],
    [6, 'fd00:ffff::/64', '2001:db8::/32', '2001:db8::1'],
  ] as const) {
    rules.push(
      {
        policy: 'probe',
        family: f,
        src: [r(src)],
        dst: [r(dst)],
        action: { kind: 'mark', mark: markBase + 1 },
      },
      { policy: 'probe', family: f, src: [r(src)], action: { kind: 'snat', to: eip } },
      { policy: 'probe', family: f, src: [r(src)], dst: [r(dst)], action: { kind: 'masquerade' } },
    );
  }
  return {
    peers: [],
    routes: [],
    cluster: { 4: [r('10.0.0.0/16')], 6: [r('fd00::/64')] },
    rules,
    announce: [],
    held: [],
    problems: [],
  };
}

/** Undefined when the kernel (and nft) load everything our nftables table uses; else why not. */
export async function probeNft(kernel: Kernel, render: IptRenderConfig): Promise<string | undefined> {
  const text = renderNft(probePlan(render.markBase), { ...render, table: PROBE_TABLE });
  try {
    await kernel.nft(text);
  } catch (err) {
    return firstLine(err);
  } finally {
    await kernel.nft(`table inet ${PROBE_TABLE}\ndelete table inet ${PROBE_TABLE}\n`).catch(() => undefined);
  }
  return undefined;
}

/** Undefined when this iptables variant and ipset can carry our rules; else why not. */
export async function probeIptables(
  exec: Exec,
  variant: IptVariant,
  families: Family[],
): Promise<string | undefined> {
  for (const f of families) {
    const set = `egw${f}-probe`;
    const netmap = f === 4 ? '0.0.0.0/0' : '::/0';
    const restore = (lines: string[]) =>
      exec(familyTool(f, variant, 'restore'), ['--noflush', '-w', '10'], { input: `${lines.join('\n')}\n` });
    try {
      await exec('ipset', ['restore'], {
        input: `create ${set} hash:net family ${f === 4 ? 'inet' : 'inet6'} maxelem ${SET_MAXELEM} skbinfo -exist\n`,
      });
      await restore([
        '*mangle',
        ':EGW-PROBE - [0:0]',
        `-A EGW-PROBE -m set --match-set ${set} src -j SET --map-set ${set} src --map-mark`,
        '-A EGW-PROBE -m conntrack --ctdir REPLY -m comment --comment probe -j MARK --set-xmark 0x1/0xffffffff',
        'COMMIT',
        '*nat',
        ':EGW-PROBE - [0:0]',
        `-A EGW-PROBE -m mark --mark 0x1 -j NETMAP --to ${netmap}`,
        'COMMIT',
      ]);
    } catch (err) {
      return `IPv${f}: ${firstLine(err)}`;
    } finally {
      const gone = ['*mangle', ':EGW-PROBE - [0:0]', '-X EGW-PROBE', 'COMMIT'];
      await restore(gone).catch(() => undefined);
      await restore(gone.map((l) => (l === '*mangle' ? '*nat' : l))).catch(() => undefined);
      await exec('ipset', ['destroy', set]).catch(() => undefined);
    }
  }
  return undefined;
}

const ruleCount = (text: string) =>
  text.split('\n').filter((l) => l.startsWith('-A ') && !l.includes(' EGW-')).length;
const KUBE_MARKERS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

/** iptables.backendMode → the variant, and why. */
export async function chooseVariant(
  exec: Exec,
  mode: IptablesMode,
): Promise<{ variant: IptVariant; why: string }> {
  if (mode !== 'auto') return { variant: mode, why: `iptables.backendMode ${mode}` };
  const seen: Record<IptVariant, { rules: number; kube: boolean }> = {
    nft: { rules: 0, kube: false },
    legacy: { rules: 0, kube: false },
  };
  for (const v of ['nft', 'legacy'] as const)
    for (const f of [4, 6] as const) {
      const text = await peekSave(exec, f, v);
      seen[v].rules += ruleCount(text);
      seen[v].kube ||= KUBE_MARKERS.test(text);
    }
  const counts = `iptables-nft ${seen.nft.rules} rules, iptables-legacy ${seen.legacy.rules}`;
  if (seen.nft.kube !== seen.legacy.kube) {
    const variant = seen.nft.kube ? 'nft' : 'legacy';
    return { variant, why: `kube-proxy/kubelet chains are in iptables-${variant} (${counts})` };
  }
  if (seen.nft.rules !== seen.legacy.rules) {
    const variant = seen.nft.rules > seen.legacy.rules ? 'nft' : 'legacy';
    return { variant, why: `the node's rules are in iptables-${variant} (${counts})` };
  }
  const version = await readOrEmpty(exec, 'iptables', ['--version']);
  const variant = version.includes('legacy') ? 'legacy' : 'nft';
  return { variant, why: `no rules either way; the system iptables is ${variant} (${counts})` };
}

/** The backend for this node, following feature.datapathMode; throws ConfigError if it cannot. */
export async function chooseBackend(o: ChoiceOptions): Promise<Choice> {
  const iptables = async (why: string): Promise<Choice> => {
    const v = await chooseVariant(o.exec, o.iptables.backendMode);
    const problem = await probeIptables(o.exec, v.variant, o.families);
    if (problem)
      throw new ConfigError([
        `feature.datapathMode: ${why}, but iptables-${v.variant} with ipset cannot carry our rules here (${problem})`,
      ]);
    const backend = new IptablesBackend({
      log: o.log,
      exec: o.exec,
      variant: v.variant,
      families: o.families,
      render: o.render,
      lockFile: o.iptables.lockFilePath,
    });
    return { backend, why: `${why}; iptables-${v.variant}: ${v.why}` };
  };
  if (o.mode === 'iptables') return iptables('datapathMode iptables');
  const problem = await probeNft(o.kernel, o.render);
  if (!problem)
    return {
      backend: new NftBackend(o.kernel, o.render),
      why: `${o.mode === 'auto' ? 'datapathMode auto: ' : 'datapathMode nftables: '}the kernel loads every nftables feature our table uses`,
    };
  if (o.mode === 'nftables')
    throw new ConfigError([
      `feature.datapathMode: nftables was asked for, but the kernel cannot load our nftables table (${problem}); use datapathMode auto or iptables`,
    ]);
  return iptables(`datapathMode auto: the kernel cannot load our nftables table (${problem})`);
}

/** Removes every trace of ours from the backend (and iptables variant) not in use. */
export async function removeOtherBackends(o: ChoiceOptions, chosen: PacketBackend): Promise<string[]> {
  const removed: string[] = [];
  if (chosen instanceof IptablesBackend) {
    const had = await o.kernel.nftTableExists().catch(() => false);
    if (had) {
      await o.kernel.removeNft();
      removed.push('nftables table');
    }
  }
  for (const v of ['nft', 'legacy'] as const) {
    if (chosen instanceof IptablesBackend && chosen.variant === v) continue;
    const n = await removeIptablesRules({ exec: o.exec, lockFile: o.iptables.lockFilePath }, v);
    if (n > 0) removed.push(`${n} iptables-${v} chains`);
  }
  if (!(chosen instanceof IptablesBackend)) {
    const n = await removeOurSets(o.exec, o.log);
    if (n > 0) removed.push(`${n} ipsets`);
  }
  return removed;
}

/**
 * Chooses and logs the choice and why. The other backends' state is removed once the chosen
 * one has applied its first plan (both give pods the same EIP meanwhile; removing first
 * would let them leave with the node address until then), and again on remove().
 */
export async function startBackend(o: ChoiceOptions): Promise<PacketBackend> {
  const { backend, why } = await chooseBackend(o);
  o.log.info({ backend: backend.name, why }, `packet backend: ${backend.name}`);
  let cleaned = false;
  const cleanup = async () => {
    const removed = await removeOtherBackends(o, backend);
    if (removed.length > 0) o.log.info({ removed }, "removed the other packet backend's state");
    cleaned = true;
  };
  return {
    name: backend.name,
    async apply(plan, full) {
      const changed = await backend.apply(plan, full);
      if (!cleaned) await cleanup();
      return changed;
    },
    async remove() {
      await backend.remove();
      await cleanup();
    },
  };
}
