// Starts long-running lab processes detached (they outlive the CLI that started them), each
// under a keepalive wrapper that restarts it like a kubelet restarts a static pod, and stops
// them by recorded PID only. Before signalling, a PID is checked to still run what we started,
// so a recycled PID is never killed.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assertSafeName } from '../../../src/common/exec.ts';

const KEEPALIVE = fileURLToPath(new URL('./keepalive.ts', import.meta.url));

export interface ManagedProcess {
  name: string;
  /** the keepalive wrapper's PID */
  pid: number;
  /** file where the wrapper records the current child PID */
  pidFile: string;
  binary: string;
  args: string[];
  logFile: string;
  netns?: string;
}

export interface StartSpec {
  name: string;
  binary: string;
  args: string[];
  logFile: string;
  /** run inside this network namespace (`ip netns exec` replaces itself, so the PID is the wrapper's) */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Join only the network namespace (nsenter), keeping the machine's mount namespace, for
   * processes that create network namespaces themselves: `ip netns add` inside the private
   * mount namespace of `ip netns exec` would make namespaces nobody else can see.
   */
  netOnly?: boolean;
}

export function startProcess(spec: StartSpec): ManagedProcess {
  const out = openSync(spec.logFile, 'a');
  const pidFile = `${spec.logFile}.pid`;
  try {
    const wrapped = [KEEPALIVE, '--pidfile', pidFile, '--', spec.binary, ...spec.args];
    const ns = spec.netns ? assertSafeName('network namespace', spec.netns) : undefined;
    const [file, args] = !ns
      ? [process.execPath, wrapped]
      : spec.netOnly
        ? ['nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, ...wrapped]]
        : ['ip', ['netns', 'exec', ns, process.execPath, ...wrapped]];
    const child = spawn(file, args as string[], {
      detached: true,
      stdio: ['ignore', out, out],
      env: spec.env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.binary})`);
    child.unref();
    const proc: ManagedProcess = {
      name: spec.name,
      pid: child.pid,
      pidFile,
      binary: spec.binary,
      args: spec.args,
      logFile: spec.logFile,
    };
    if (spec.netns) proc.netns = spec.netns;
    return proc;
  } finally {
    closeSync(out);
  }
}

/** argv of a live process (not a zombie), or undefined. */
export function cmdline(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** True when the keepalive wrapper for `p` still runs (not a recycled PID, not a zombie). */
export function isRunning(p: ManagedProcess): boolean {
  const argv = cmdline(p.pid);
  if (!argv) return false;
  return argv.includes(KEEPALIVE) && argv.includes(p.pidFile);
}

/** The component's own PID, if it runs right now (it may be between restarts). */
export function childPid(p: ManagedProcess): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(p.pidFile, 'utf8'));
  } catch {
    return undefined;
  }
  const argv = cmdline(pid);
  return argv?.[0] === p.binary ? pid : undefined;
}

/** Running means: wrapper alive and the component itself alive. */
export function isHealthy(p: ManagedProcess): boolean {
  return isRunning(p) && childPid(p) !== undefined;
}

async function waitGone(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!check()) return true;
    await sleep(25);
  }
  return !check();
}

export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<void> {
  const child = childPid(p);
  if (isRunning(p)) process.kill(p.pid, 'SIGTERM');
  const gone = () => isRunning(p) || (child !== undefined && cmdline(child)?.[0] === p.binary);
  if (await waitGone(gone, graceMs + 2000)) return;
  if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
  if (child !== undefined && cmdline(child)?.[0] === p.binary) process.kill(child, 'SIGKILL');
  await waitGone(gone, 5000);
}

/**
 * Ends the component itself and lets the wrapper start it again: SIGKILL for a crash,
 * SIGTERM for a graceful restart. Resolves once a new instance runs.
 */
export async function restartChild(p: ManagedProcess, crash: boolean): Promise<void> {
  const old = childPid(p);
  if (old === undefined) throw new Error(`${p.name} is not running; start the lab first`);
  process.kill(old, crash ? 'SIGKILL' : 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const now = childPid(p);
    if (now !== undefined && now !== old) return;
    await sleep(50);
  }
  throw new Error(`${p.name} did not come back within 30 s; see ${p.logFile}`);
}
