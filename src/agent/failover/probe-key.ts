// The cluster's probe key, from the Secret the chart mounts (files `key` and, while a key is
// being rotated, `previous`). Re-read when the files change — the kubelet updates a mounted
// Secret in place — so a rotation needs no restart and causes no failover: probes are
// signed with `key` and accepted under either.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MIN_PROBE_KEY_BYTES } from '../../api/contracts.ts';

export class ProbeKeyError extends Error {}

function readKey(path: string, required: boolean): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProbeKeyError(
      `PROBE_KEY_DIR: cannot read the failover probe key "${path}": ${(err as Error).message}; the chart creates it (Secret <release>-probe-key)`,
    );
  }
  const key = Buffer.from(raw.toString('utf8').trim());
  if (key.length < MIN_PROBE_KEY_BYTES)
    throw new ProbeKeyError(
      `PROBE_KEY_DIR: the failover probe key "${path}" has ${key.length} bytes; use at least ${MIN_PROBE_KEY_BYTES} random bytes`,
    );
  return key;
}

export class ProbeKeys {
  readonly #dir: string;
  #stamp = '';
  #keys: Buffer[] = [];

  /** Throws ProbeKeyError naming the problem when the key is missing or too short. */
  constructor(dir: string) {
    this.#dir = dir;
    this.#load();
  }

  #load(): void {
    const current = readKey(join(this.#dir, 'key'), true)!;
    const previous = readKey(join(this.#dir, 'previous'), false);
    this.#keys = previous && !previous.equals(current) ? [current, previous] : [current];
  }

  /** Signing key first, then any other key still accepted. Cheap: re-reads only on change. */
  keys(): readonly Buffer[] {
    let stamp = '';
    try {
      const s = statSync(join(this.#dir, 'key'));
      stamp = `${s.mtimeMs}:${s.ino}:${s.size}`;
    } catch {
      return this.#keys; // mid-update (the kubelet swaps a symlink): keep what we have
    }
    if (stamp !== this.#stamp) {
      try {
        this.#load();
        this.#stamp = stamp;
      } catch {
        // a half-written update: keep the keys we have and try again next time
      }
    }
    return this.#keys;
  }
}
