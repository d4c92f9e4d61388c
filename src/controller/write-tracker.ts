// Our own writes that the cache has not shown yet. A reconcile that runs on a cache older
// than its previous writes would undo or repeat them: create a second slice for endpoints it
// has already placed, or send an update bound to fail with a conflict. At 64 workers and 100
// pod changes/s that doubled the slice creations (1,710 for 1,000 policies) and the writes.
// So a key waits until the cache has caught up with what it wrote (the object's watch event
// queues it again); an expectation that never comes true (someone deleted the object first)
// expires rather than blocking the key for ever.
export const DELETED = -1;

interface Expectation {
  generation: number;
  at: number;
}

export class WriteTracker {
  readonly #expect = new Map<string, Map<string, Expectation>>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#now = opts.now ?? Date.now;
  }

  /** We wrote `name` (owned by `owner`) and the apiserver answered with this generation. */
  wrote(owner: string, name: string, generation: number | undefined): void {
    let m = this.#expect.get(owner);
    if (!m) {
      m = new Map();
      this.#expect.set(owner, m);
    }
    m.set(name, { generation: generation ?? 1, at: this.#now() });
  }

  deleted(owner: string, name: string): void {
    this.wrote(owner, name, DELETED);
  }

  /** True once the cache shows every write made for `owner`; forgets those it shows. */
  caughtUp(
    owner: string,
    cached: (name: string) => { metadata?: { generation?: number } } | undefined,
  ): boolean {
    const m = this.#expect.get(owner);
    if (!m) return true;
    const now = this.#now();
    for (const [name, e] of m) {
      const obj = cached(name);
      const seen = e.generation === DELETED ? !obj : !!obj && (obj.metadata?.generation ?? 0) >= e.generation;
      if (seen || now - e.at > this.#ttlMs) m.delete(name);
    }
    if (m.size === 0) this.#expect.delete(owner);
    return m.size === 0;
  }

  forget(owner: string): void {
    this.#expect.delete(owner);
  }
}
