// Our own writes that the cache has not shown yet, laid over it. A reconcile that reads only
// the cache right after writing would undo or repeat its write: create a second slice for
// endpoints it has already placed, or send an update bound to fail with a conflict. Waiting
// for the watch to show each write instead costs a policy that changes often a full
// apiserver round trip per write (measured: a quarter of a second per change at 100 pod
// changes/s). So the objects the apiserver returned are used in place of older cached ones
// until the cache shows them (same or newer generation). When someone else wrote after us (a
// conflict), neither copy is current: the owner waits until the cache shows that write.
// An entry the cache never confirms expires rather than shadowing the cache for ever.
import type { KubernetesObject } from '@kubernetes/client-node';

type Entry<T> =
  /** the object as the apiserver returned it after our write */
  | { state: 'written'; obj: T; generation: number; resourceVersion: string; at: number }
  /** we deleted it (or found it gone) */
  | { state: 'deleted'; at: number }
  /** someone wrote after our write (the apiserver refused the next one with a conflict) */
  | { state: 'superseded'; generation: number; resourceVersion: string; at: number };

export class OwnWrites<T extends KubernetesObject> {
  readonly #byOwner = new Map<string, Map<string, Entry<T>>>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#now = opts.now ?? Date.now;
  }

  #set(owner: string, name: string, e: Entry<T>): void {
    let m = this.#byOwner.get(owner);
    if (!m) {
      m = new Map();
      this.#byOwner.set(owner, m);
    }
    m.set(name, e);
  }

  /** We created or updated an object owned by `owner`; `obj` is the apiserver's answer. */
  wrote(owner: string, obj: T): void {
    // Kept as the cache keeps objects: without managedFields, which a write based on it would
    // otherwise send back.
    const { managedFields: _, ...metadata } = obj.metadata ?? {};
    this.#set(owner, metadata.name ?? '', {
      state: 'written',
      obj: { ...obj, metadata },
      generation: metadata.generation ?? 1,
      resourceVersion: metadata.resourceVersion ?? '',
      at: this.#now(),
    });
  }

  /** We deleted `name`, or a write found it gone. */
  deleted(owner: string, name: string): void {
    this.#set(owner, name, { state: 'deleted', at: this.#now() });
  }

  /** A write based on our copy of `name` was refused with a conflict: someone wrote since. */
  superseded(owner: string, name: string): void {
    const e = this.#byOwner.get(owner)?.get(name);
    if (e?.state !== 'written') return; // the refused write was based on the cache: nothing to wait for
    this.#set(owner, name, {
      state: 'superseded',
      generation: e.generation,
      resourceVersion: e.resourceVersion,
      at: this.#now(),
    });
  }

  /**
   * The owner's objects as of our last writes: `cached` (what the cache holds for the owner)
   * with each object we wrote since replaced by our copy, our creations added and our
   * deletions removed; or undefined while someone else's write is still on its way to the
   * cache (wait for the watch). Entries the cache has caught up with are dropped.
   */
  view(owner: string, cached: readonly T[]): T[] | undefined {
    const m = this.#byOwner.get(owner);
    if (!m) return [...cached];
    const now = this.#now();
    const byName = new Map(cached.map((o) => [o.metadata!.name!, o]));
    let wait = false;
    for (const [name, e] of m) {
      const c = byName.get(name);
      const generation = c?.metadata?.generation ?? 0;
      const caughtUp =
        e.state === 'written'
          ? c !== undefined && generation >= e.generation
          : e.state === 'deleted'
            ? c === undefined
            : c === undefined ||
              (generation >= e.generation && c.metadata?.resourceVersion !== e.resourceVersion);
      if (caughtUp || now - e.at > this.#ttlMs) {
        m.delete(name);
        continue;
      }
      if (e.state === 'written') byName.set(name, e.obj);
      else if (e.state === 'deleted') byName.delete(name);
      else wait = true;
    }
    if (m.size === 0) this.#byOwner.delete(owner);
    return wait ? undefined : [...byName.values()];
  }

  /**
   * True when a watch event only shows our own last write (same resourceVersion) or deletion:
   * it brings nothing the owner's next reconcile does not already know. The cache holds it
   * now (handlers run after the cache is updated), so the entry is no longer needed.
   */
  echoed(owner: string, event: 'add' | 'update' | 'delete', obj: T): boolean {
    const m = this.#byOwner.get(owner);
    const name = obj.metadata?.name ?? '';
    const e = m?.get(name);
    const echo =
      event === 'delete'
        ? e?.state === 'deleted'
        : e?.state === 'written' && e.resourceVersion === obj.metadata?.resourceVersion;
    if (echo) {
      m!.delete(name);
      if (m!.size === 0) this.#byOwner.delete(owner);
    }
    return echo;
  }

  forget(owner: string): void {
    this.#byOwner.delete(owner);
  }
}
