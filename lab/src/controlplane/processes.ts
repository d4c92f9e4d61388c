// Starts long-running lab processes detached (they outlive the CLI that started them) and stops
// them by recorded PID only. Before signalling, the PID is checked to still run the binary we
// started, so a recycled PID is never killed.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertSafeName } from '../../../src/common/exec.ts';

export interface ManagedProcess {
  name: string;
  pid: number;
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
  /** run inside this network namespace (`ip netns exec` replaces itself, so the PID is the binary's) */
  netns?: string;
  env?: NodeJS.ProcessEnv;
}

export function startProcess(spec: StartSpec): ManagedProcess {
  const out = openSync(spec.logFile, 'a');
  try {
    const [file, args] = spec.netns
      ? ['ip', ['netns', 'exec', assertSafeName('network namespace', spec.netns), spec.binary, ...spec.args]]
      : [spec.binary, spec.args];
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

function procState(pid: number): { argv0: string; args: string[]; zombie: boolean } | undefined {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return { argv0: cmdline[0] ?? '', args: cmdline.slice(1), zombie: state === 'Z' || state === 'X' };
  } catch {
    return undefined;
  }
}

/** True when `pid` still runs the process we started (not a recycled PID, not a zombie). */
export function isRunning(p: ManagedProcess): boolean {
  const st = procState(p.pid);
  if (!st || st.zombie) return false;
  // Right after spawn, `ip netns exec` may not have exec'd the binary yet.
  return st.argv0 === p.binary || (st.argv0 === 'ip' && st.args.includes(p.binary));
}

export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<void> {
  if (!isRunning(p)) return;
  process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(p)) return;
    await sleep(50);
  }
  if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
  while (isRunning(p)) await sleep(20);
}

/** Sends SIGKILL without a grace period: for fault injection (a crash, not a shutdown). */
export async function killProcess(p: ManagedProcess): Promise<void> {
  if (!isRunning(p)) return;
  process.kill(p.pid, 'SIGKILL');
  while (isRunning(p)) await sleep(20);
}
