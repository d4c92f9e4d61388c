// Runs lab containers with runc from their images: each container gets a bundle in its pod's
// directory (config.json from oci-spec.ts, and an overlay of the unpacked image as its root
// filesystem, so the image itself is never written to), then `runc run` in the foreground,
// detached from the kubelet: runc passes its stdio (the container log) and the signals it gets
// to the container, and exits with the container's code. The container's PID is kept in a
// file, so a restarted kubelet adopts running containers instead of losing them.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { assertSafeName } from '../../../src/common/exec.ts';
import { capsFromMask } from './oci-spec.ts';

const run = promisify(execFile);

export interface RunningContainer {
  pid: number;
  startedAt: Date;
  child?: ChildProcess;
  exit?: { code: number; at: Date };
}

export interface RuntimeOptions {
  /** runc's state directory, one for the whole lab (container ids carry the pod UID) */
  runcRoot: string;
}

function files(podDir: string, container: string) {
  assertSafeName('container name', container);
  const bundle = join(podDir, container);
  return {
    bundle,
    config: join(bundle, 'config.json'),
    rootfs: join(bundle, 'rootfs'),
    upper: join(bundle, 'upper'),
    work: join(bundle, 'work'),
    pid: join(podDir, `${container}.pid`),
    log: join(podDir, `${container}.log`),
  };
}

/** runc's id for a container: unique in the lab because the pod directory is named by UID. */
function containerId(podDir: string, container: string): string {
  return assertSafeName('container id', `${podDir.slice(podDir.lastIndexOf('/') + 1)}-${container}`);
}

export function logFile(podDir: string, container: string): string {
  return files(podDir, container).log;
}

/** The rootfs path a container's processes see as `/`, for tests comparing it with the image. */
export function rootfsOf(podDir: string, container: string): string {
  return files(podDir, container).rootfs;
}

function isMounted(path: string): boolean {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.some((l) => l.split(' ')[4] === path);
}

async function mountOverlay(lower: string, f: ReturnType<typeof files>): Promise<void> {
  for (const p of [lower, f.upper, f.work])
    if (/[,:]/.test(p)) throw new Error(`overlay path ${p} has a ',' or ':'`);
  if (isMounted(f.rootfs)) await run('umount', [f.rootfs]);
  // A new container starts from the image, as a kubelet's restarted container does.
  rmSync(f.upper, { recursive: true, force: true });
  rmSync(f.work, { recursive: true, force: true });
  for (const d of [f.rootfs, f.upper, f.work]) mkdirSync(d, { recursive: true });
  await run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${f.upper},workdir=${f.work}`,
    f.rootfs,
  ]);
}

/** True when `pid` is the process of container `id` (runc puts it in a cgroup named by the id). */
function isOurs(pid: number, id: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return false;
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .some((l) => l.endsWith(`/${id}`));
  } catch {
    return false;
  }
}

/**
 * Writes a container's bundle: a fresh overlay of the image as its root filesystem and the
 * runtime config. Returns the arguments of the `runc` command that runs it in the foreground.
 */
export async function prepareBundle(
  o: RuntimeOptions,
  dir: string,
  container: string,
  imageRootfs: string,
  config: Record<string, unknown>,
): Promise<string[]> {
  const f = files(dir, container);
  const id = containerId(dir, container);
  // A container of the same id left by an earlier start (crashed, or killed with the node).
  await run('runc', ['--root', o.runcRoot, 'delete', '--force', id]).catch(() => undefined);
  await mountOverlay(imageRootfs, f);
  // The container's cgroup is named by its id (below the caller's own, in every hierarchy):
  // that is how a PID is recognised as this container's, and runc removes it on delete.
  const linux = { ...(config['linux'] as Record<string, unknown>), cgroupsPath: id };
  writeFileSync(f.config, JSON.stringify({ ...config, linux }, null, 1));
  rmSync(f.pid, { force: true });
  return ['--root', o.runcRoot, 'run', '--bundle', f.bundle, '--pid-file', f.pid, id];
}

export async function startContainer(
  o: RuntimeOptions,
  podDir: string,
  container: string,
  imageRootfs: string,
  config: Record<string, unknown>,
): Promise<RunningContainer> {
  const f = files(podDir, container);
  const args = await prepareBundle(o, podDir, container, imageRootfs, config);
  const out = openSync(f.log, 'a');
  let child: ChildProcess;
  try {
    child = spawn('runc', args, {
      detached: true,
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  const rc: RunningContainer = { pid: 0, startedAt: new Date(), child };
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      rc.exit = { code: code ?? (signal === 'SIGKILL' ? 137 : 143), at: new Date() };
      resolve();
    }),
  );
  child.unref();
  // runc writes the PID file once the container's process exists.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !rc.exit) {
    try {
      const pid = Number(readFileSync(f.pid, 'utf8'));
      if (pid > 0) {
        rc.pid = pid;
        return rc;
      }
    } catch {
      // not yet
    }
    await Promise.race([sleep(20), exited]);
  }
  if (rc.exit) throw new Error(`runc could not start ${container} (exit ${rc.exit.code}); see ${f.log}`);
  throw new Error(`runc did not start ${container} within 10 s; see ${f.log}`);
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
  if (!isOurs(pid, containerId(podDir, container))) return undefined;
  return { pid, startedAt: statSync(f.pid).mtime };
}

export function isAlive(podDir: string, container: string, rc: RunningContainer): boolean {
  if (rc.exit) return false;
  return isOurs(rc.pid, containerId(podDir, container));
}

/** SIGTERM to the container's first process; after the grace, runc kills and deletes it. */
export async function stopContainer(
  o: RuntimeOptions,
  podDir: string,
  container: string,
  rc: RunningContainer | undefined,
  graceMs: number,
): Promise<void> {
  const f = files(podDir, container);
  const id = containerId(podDir, container);
  if (rc && isOurs(rc.pid, id) && graceMs > 0) {
    try {
      process.kill(rc.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && isOurs(rc.pid, id)) await sleep(50);
  }
  // `delete --force` SIGKILLs whatever is left in the container and removes its state.
  await run('runc', ['--root', o.runcRoot, 'delete', '--force', id]).catch(() => undefined);
  if (existsSync(f.rootfs) && isMounted(f.rootfs)) await run('umount', ['--lazy', f.rootfs]);
  rmSync(f.bundle, { recursive: true, force: true });
  rmSync(f.pid, { force: true });
}

/** The containers that have (or had) a bundle in `podDir`. */
export function containersIn(podDir: string): string[] {
  if (!existsSync(podDir)) return [];
  return readdirSync(podDir).filter((n) => existsSync(join(podDir, n, 'config.json')));
}

/** Stops every container of a pod directory, without any in-memory state (node off, lab down). */
export async function stopAllIn(o: RuntimeOptions, podDir: string, graceMs: number): Promise<void> {
  for (const c of containersIn(podDir)) await stopContainer(o, podDir, c, adoptContainer(podDir, c), graceMs);
}

/** Kills and deletes every container runc still knows in this lab (lab down). */
export async function deleteAllContainers(o: RuntimeOptions): Promise<void> {
  if (!existsSync(o.runcRoot)) return;
  const { stdout } = await run('runc', ['--root', o.runcRoot, 'list', '--quiet']).catch(() => ({
    stdout: '',
  }));
  for (const id of stdout.split('\n').filter((x) => x !== '')) {
    await run('runc', ['--root', o.runcRoot, 'delete', '--force', assertSafeName('container id', id)]).catch(
      () => undefined,
    );
  }
}

/** Unmounts every mount below `dir` (the containers' root filesystems), deepest first. */
export function unmountAllUnder(dir: string): void {
  const prefix = `${dir.replace(/\/$/, '')}/`;
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) execFileSync('umount', ['--lazy', p]);
}

/** The capabilities this process may pass on (its bounding set): the lab's runtime's own. */
export function runtimeCapabilities(): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? capsFromMask(m[1]!) : [];
}
