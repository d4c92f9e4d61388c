// host-local style IPAM for one node: pod key → address number, persisted in a JSON file so a
// kubelet restart keeps every pod's address (a restart must lose no allocation).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const FIRST = 2;
export const LAST = 254;

export class NodeIpam {
  readonly #file: string;
  #byKey: Map<string, number>;

  constructor(file: string) {
    this.#file = file;
    this.#byKey = new Map();
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(raw)) {
        // A hand-edited or torn file must not hand out one address twice: skip bad entries.
        if (typeof v === 'number' && Number.isInteger(v) && v >= FIRST && v <= LAST && !this.#taken(v))
          this.#byKey.set(k, v);
      }
    } catch {
      // no file yet: empty
    }
  }

  #taken(n: number): boolean {
    for (const v of this.#byKey.values()) if (v === n) return true;
    return false;
  }

  get(key: string): number | undefined {
    return this.#byKey.get(key);
  }

  keys(): string[] {
    return [...this.#byKey.keys()];
  }

  allocate(key: string): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const used = new Set(this.#byKey.values());
    for (let n = FIRST; n <= LAST; n++) {
      if (!used.has(n)) {
        this.#byKey.set(key, n);
        this.#save();
        return n;
      }
    }
    throw new Error(`no free pod address on this node (${LAST - FIRST + 1} in use)`);
  }

  release(key: string): void {
    if (this.#byKey.delete(key)) this.#save();
  }

  #save(): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(this.#byKey), null, 1)}\n`);
    renameSync(tmp, this.#file);
  }
}
