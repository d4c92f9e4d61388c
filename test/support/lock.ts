// A cross-process lock for tests that need a machine-wide resource (the lab's fixed namespace
// names, the shared apiserver's cluster-scoped singletons). mkdir is atomic; the owner's PID
// is recorded so a lock left by a crashed test process is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function ownerAlive(dir: string): boolean {
  try {
    const pid = Number(readFileSync(`${dir}/pid`, 'utf8'));
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists; no pid file yet means the owner is between mkdir and write.
    return (
      (err as NodeJS.ErrnoException).code === 'EPERM' || (err as NodeJS.ErrnoException).code === 'ENOENT'
    );
  }
}

/** Runs `fn` while holding the named lock. */
export async function withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const dir = `/tmp/egw-test-lock-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/pid`, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!ownerAlive(dir)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`lock ${name} still held after ${timeoutMs} ms`);
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
