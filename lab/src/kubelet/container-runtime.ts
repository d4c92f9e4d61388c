// Runs lab containers as process groups, one per container, started through `ip netns exec`
// (network namespace + private mount namespace) and container-init (volumes, env). PIDs are
// kept in files so a restarted kubelet adopts running containers instead of losing them.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assertSafeName } from '../../../src/common/exec.ts';
import { cmdline } from '../controlplane/processes.ts';
import type { ContainerSpec } from './container-init.ts';

const INIT = fileURLToPath(new URL('./container-init.ts', import.meta.url));

export interface RunningContainer {
  pid: number;
  startedAt: Date;
  child?: ChildProcess;
  exit?: { code: number; at: Date };
}

function files(podDir: string, container: string) {
  assertSafeName('container name', container);
  return {
    spec: join(podDir, `${container}.spec.json`),
    pid: join(podDir, `${container}.pid`),
    log: join(podDir, `${container}.log`),
  };
}

export function logFile(podDir: string, container: string): string {
  return files(podDir, container).log;
}

function isOurs(pid: number, specFile: string): boolean {
  return cmdline(pid)?.includes(specFile) ?? false;
}

export function startContainer(
  podDir: string,
  netns: string,
  container: string,
  spec: ContainerSpec,
): RunningContainer {
  const f = files(podDir, container);
  writeFileSync(f.spec, JSON.stringify(spec));
  const out = openSync(f.log, 'a');
  try {
    const child = spawn(
      'ip',
      ['netns', 'exec', assertSafeName('network namespace', netns), process.execPath, INIT, f.spec],
      { detached: true, stdio: ['ignore', out, out] },
    );
    if (child.pid === undefined) throw new Error(`could not start container ${container}`);
    child.unref();
    writeFileSync(f.pid, String(child.pid));
    const rc: RunningContainer = { pid: child.pid, startedAt: new Date(), child };
    child.on('exit', (code, signal) => {
      rc.exit = { code: code ?? (signal === 'SIGKILL' ? 137 : 143), at: new Date() };
    });
    return rc;
  } finally {
    closeSync(out);
  }
}

/** A container left running by an earlier kubelet instance, if any. */
export function adoptContainer(podDir: string, container: string): RunningContainer | undefined {
  const f = files(podDir, container);
  let pid: number;
  try {
    pid = Number(readFileSync(f.pid, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isOurs(pid, f.spec)) return undefined;
  // The pid file was written when the container started.
  return { pid, startedAt: statSync(f.pid).mtime };
}

export function isAlive(podDir: string, container: string, rc: RunningContainer): boolean {
  if (rc.exit) return false;
  return isOurs(rc.pid, files(podDir, container).spec);
}

/** SIGTERM to the container's init, which passes it on; SIGKILL to the whole group after the grace. */
export async function stopContainer(
  podDir: string,
  container: string,
  rc: RunningContainer,
  graceMs: number,
): Promise<void> {
  const f = files(podDir, container);
  if (isOurs(rc.pid, f.spec)) {
    try {
      process.kill(rc.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && isOurs(rc.pid, f.spec)) await sleep(50);
  }
  try {
    process.kill(-rc.pid, 'SIGKILL');
  } catch {
    // no such group: everything already exited
  }
  rmSync(f.pid, { force: true });
}

/** Stops every container whose pid file is in `podDir`, without any in-memory state (node off). */
export async function stopAllIn(podDir: string, graceMs: number): Promise<void> {
  if (!existsSync(podDir)) return;
  for (const name of readdirSync(podDir)) {
    if (!name.endsWith('.pid')) continue;
    const container = name.slice(0, -4);
    const rc = adoptContainer(podDir, container);
    if (rc) await stopContainer(podDir, container, rc, graceMs);
  }
}
