// A de-duplicating, rate-limited work queue with client-go's guarantees: a key is never
// processed by two workers at once; a key added while it is processed runs again after;
// failures retry with per-key exponential back-off; `forget` resets it on success.
export interface QueueHooks {
  depth?(n: number): void;
  added?(): void;
  retried?(): void;
}

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #hooks: QueueHooks;
  #shutdown = false;

  constructor(opts: { baseDelayMs?: number; maxDelayMs?: number; hooks?: QueueHooks } = {}) {
    this.#baseMs = opts.baseDelayMs ?? 5;
    this.#maxMs = opts.maxDelayMs ?? 60_000;
    this.#hooks = opts.hooks ?? {};
  }

  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutdown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#hooks.added?.();
    if (this.#processing.has(key)) return; // re-queued by done()
    const waiter = this.#waiters.shift();
    if (waiter) waiter(key);
    else this.#queue.push(key);
    this.#hooks.depth?.(this.#queue.length);
  }

  addAfter(key: string, ms: number): void {
    if (this.#shutdown) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  addRateLimited(key: string): void {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    this.#hooks.retried?.();
    this.addAfter(key, Math.min(this.#baseMs * 2 ** (n - 1), this.#maxMs));
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down. Call done(key) afterwards. */
  get(): Promise<string | undefined> {
    if (this.#shutdown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#hooks.depth?.(this.#queue.length);
      return Promise.resolve(this.#take(key));
    }
    return new Promise((resolve) =>
      this.#waiters.push((k) => resolve(k === undefined ? undefined : this.#take(k))),
    );
  }

  #take(key: string): string {
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  shutdown(): void {
    this.#shutdown = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}

/**
 * Runs `workers` loops that take keys and reconcile them until the queue shuts down.
 * `transient(err)` marks failures that say only "your view was a step behind" (a write
 * conflict): the key runs again shortly, without growing its back-off, since the newer
 * state is already on its way.
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  reconcile: (key: string) => Promise<void>,
  onError: (key: string, err: unknown) => void,
  transient: (err: unknown) => boolean = () => false,
): Promise<void> {
  const loop = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await reconcile(key);
        queue.forget(key);
      } catch (err) {
        onError(key, err);
        if (transient(err)) queue.addAfter(key, 50);
        else queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
