// Thin adapters over iproute2 and sysctl for the lab's network namespaces. Every name is
// validated before it reaches a command line, and nothing here touches the caller's own
// namespace: links are created inside lab namespaces with `ip -n`.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { assertSafeName, run } from '../../../src/common/exec.ts';
import { LAB_PREFIX } from './topology.ts';

function labNs(name: string): string {
  assertSafeName('network namespace', name);
  if (!name.startsWith(LAB_PREFIX))
    throw new Error(`refusing to touch namespace "${name}": not a lab namespace`);
  return name;
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list']);
  if (!stdout.trim()) return [];
  return (JSON.parse(stdout) as { name: string }[]).map((n) => n.name);
}

export async function listLabNetns(): Promise<string[]> {
  return (await listNetns()).filter((n) => n.startsWith(LAB_PREFIX));
}

export async function netnsExists(name: string): Promise<boolean> {
  return (await listNetns()).includes(labNs(name));
}

const NETNS_DIR = '/run/netns';
// Present while /run/netns is a mount point because the lab's first namespace made it one.
const NETNS_MOUNT_MARKER = '/run/egressgateway-lab.netns-mount';

function isMountPoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path);
}

/** Creates the namespace with loopback up; a no-op when it exists. */
export async function ensureNetns(name: string): Promise<boolean> {
  if (await netnsExists(name)) return false;
  // `ip netns add` turns /run/netns into a shared mount point the first time on a machine and
  // leaves it there; remember that it was us, so `down` can leave the machine as it found it.
  if (!isMountPoint(NETNS_DIR) && !existsSync(NETNS_MOUNT_MARKER))
    writeFileSync(NETNS_MOUNT_MARKER, 'made by the egressgateway lab\n');
  await run('ip', ['netns', 'add', labNs(name)]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return true;
}

export async function deleteNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await run('ip', ['netns', 'delete', labNs(name)]);
}

/**
 * Runs iproute2 commands (one per line, without the leading `ip`) in one process. Fails on the
 * first error, naming the line, so a half-built namespace is noticed at once.
 */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  for (const l of lines) if (/[\n;&|`$]/.test(l)) throw new Error(`unsafe ip batch line: ${l}`);
  await run('ip', ['-n', labNs(ns), '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

export async function ip(ns: string, args: readonly string[], okCodes?: number[]): Promise<string> {
  const { stdout } = await run('ip', ['-n', labNs(ns), ...args], okCodes ? { okCodes } : {});
  return stdout;
}

const SYSCTL_KEY = /^[a-z0-9_]+(\/[A-Za-z0-9_.-]+)+$/;

/** Keys use the slash form (`net/ipv4/conf/eth0/proxy_arp`), which also works for dotted names. */
export async function sysctl(ns: string, values: Record<string, string | number>): Promise<void> {
  const args: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!SYSCTL_KEY.test(k)) throw new Error(`invalid sysctl key "${k}"`);
    if (!/^-?[0-9]+$/.test(String(v))) throw new Error(`invalid sysctl value for ${k}: "${v}"`);
    args.push(`${k}=${v}`);
  }
  if (args.length) await run('ip', ['netns', 'exec', labNs(ns), 'sysctl', '-q', '-w', ...args]);
}

/** Runs a program inside the namespace (argument array, no shell). */
export async function nsRun(
  ns: string,
  file: string,
  args: readonly string[],
  opts: { input?: string; okCodes?: number[]; timeoutMs?: number } = {},
) {
  return run('ip', ['netns', 'exec', labNs(ns), file, ...args], opts);
}

/** PIDs of processes whose network namespace is `name` (found via /proc, not by name match). */
export async function pidsInNetns(name: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', labNs(name)], { okCodes: [0, 1] });
  return stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Deletes every lab namespace; deleting the router's takes all underlay veths with it. */
export async function deleteAllLabNetns(): Promise<string[]> {
  const names = await listLabNetns();
  for (const n of names) await deleteNetns(n);
  await releaseNetnsMount();
  return names;
}

/** Undoes iproute2's /run/netns mount point if the lab made it and no namespace is left. */
export async function releaseNetnsMount(): Promise<void> {
  if (!existsSync(NETNS_MOUNT_MARKER)) return;
  if (isMountPoint(NETNS_DIR)) {
    if (readdirSync(NETNS_DIR).length > 0) return; // someone's namespaces still live there
    await run('umount', [NETNS_DIR]);
  }
  rmSync(NETNS_MOUNT_MARKER, { force: true });
}
