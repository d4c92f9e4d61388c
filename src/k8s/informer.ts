// A reflector plus an indexed cache, on @kubernetes/client-node's Watch. Unlike the
// library's informer it never stops: every watch end resumes from the last resourceVersion,
// a 410 Gone (as HTTP status or as an ERROR event) relists, and errors back off with jitter.
// Handlers see (old, new) and run in event order; a relist synthesizes the adds, updates and
// deletes that happened while the watch was down, so consumers stay level-correct.
import { type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';
import { ApiStatusError, getJson } from './raw-get.ts';

export type Handler<T> = (event: 'add' | 'update' | 'delete', obj: T, old: T | undefined) => void;

export interface InformerOptions {
  /** e.g. 'v1' or 'egressgateway.spidernet.io/v1beta1' */
  apiVersion: string;
  kind: string;
  /** list/watch path, e.g. '/api/v1/nodes' or '/apis/<group>/<version>/<plural>' */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  log: Logger;
  /** extra indexes: name → function from object to index values */
  indexers?: Record<string, (obj: KubernetesObject) => string[]>;
  /** cap for the error back-off (ms) */
  maxBackoffMs?: number;
  /** keep only what consumers read (e.g. slim pods), to bound memory at scale */
  transform?: (obj: KubernetesObject) => KubernetesObject;
}

export function objectKey(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name}` : (o.metadata?.name ?? '');
}

class GoneError extends Error {}

export class Informer<T extends KubernetesObject> {
  readonly #o: InformerOptions;
  readonly #kc: KubeConfig;
  readonly #items = new Map<string, T>();
  readonly #indexes = new Map<string, Map<string, Set<string>>>();
  readonly #handlers: Handler<T>[] = [];
  #resourceVersion = '';
  #synced!: () => void;
  readonly synced: Promise<void>;
  #hasSynced = false;
  #abort: AbortController | undefined;
  #stopped = false;
  /** counters for tests and metrics */
  readonly stats = { lists: 0, watches: 0, relistsOnGone: 0, errors: 0 };

  constructor(kc: KubeConfig, o: InformerOptions) {
    this.#kc = kc;
    this.#o = o;
    this.synced = new Promise((r) => {
      this.#synced = r;
    });
    for (const name of Object.keys(o.indexers ?? {})) this.#indexes.set(name, new Map());
  }

  /** the kind this informer caches, e.g. 'Pod' */
  get kind(): string {
    return this.#o.kind;
  }

  onChange(h: Handler<T>): void {
    this.#handlers.push(h);
  }

  hasSynced(): boolean {
    return this.#hasSynced;
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  byIndex(index: string, value: string): T[] {
    const keys = this.#indexes.get(index)?.get(value);
    return keys ? [...keys].map((k) => this.#items.get(k)!).filter(Boolean) : [];
  }

  /**
   * Fault injection for tests: drop the current watch and resume from `resourceVersion`
   * (e.g. "1", long compacted, to provoke a 410 and a relist).
   */
  resumeFrom(resourceVersion: string): void {
    this.#resourceVersion = resourceVersion;
    this.#abort?.abort();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  /** Runs until stop(): list, then watch, forever. */
  async run(): Promise<void> {
    let backoff = 200;
    const max = this.#o.maxBackoffMs ?? 30_000;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        await this.#watch();
        backoff = 200;
      } catch (err) {
        if (this.#stopped) break;
        if (err instanceof GoneError) {
          this.stats.relistsOnGone++;
          this.#o.log.info({ kind: this.#o.kind }, 'resourceVersion too old (410); relisting');
          needList = true;
          continue;
        }
        this.stats.errors++;
        const wait = backoff / 2 + Math.random() * backoff;
        this.#o.log.warn(
          { kind: this.#o.kind, err: String(err), retryMs: Math.round(wait) },
          'list/watch failed',
        );
        await new Promise((r) => setTimeout(r, wait));
        backoff = Math.min(backoff * 2, max);
      }
    }
  }

  async #list(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await getJson<{ items?: T[]; metadata?: { continue?: string; resourceVersion?: string } }>(
        this.#kc,
        this.#o.path,
        {
          limit: 500,
          continue: cont,
          labelSelector: this.#o.labelSelector,
          fieldSelector: this.#o.fieldSelector,
        },
      ).catch((err: unknown) => {
        // A continue token can expire (410) like a resourceVersion: start over with a fresh list.
        if (err instanceof ApiStatusError && err.statusCode === 410) throw new GoneError();
        throw err;
      });
      // List items carry no apiVersion/kind; watch events do. Make the cache uniform, since
      // whole objects from it are sent back in writes.
      for (const i of page.items ?? []) {
        i.apiVersion = this.#o.apiVersion;
        i.kind = this.#o.kind;
        items.push(this.#shape(i));
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    this.stats.lists++;
    this.#replace(items);
    this.#resourceVersion = rv;
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#synced();
    }
  }

  #watch(): Promise<void> {
    this.stats.watches++;
    return new Promise((resolve, reject) => {
      const params: Record<string, string | boolean> = {
        allowWatchBookmarks: true,
        resourceVersion: this.#resourceVersion,
      };
      if (this.#o.labelSelector) params['labelSelector'] = this.#o.labelSelector;
      if (this.#o.fieldSelector) params['fieldSelector'] = this.#o.fieldSelector;
      let gone = false;
      new Watch(this.#kc)
        .watch(
          this.#o.path,
          params,
          (phase, obj: T & { code?: number }) => {
            if (phase === 'ERROR') {
              if (obj.code === 410) gone = true;
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) this.#resourceVersion = rv;
            if (phase === 'BOOKMARK') return;
            if (phase === 'DELETED') this.#delete(objectKey(obj));
            else this.#upsert(this.#shape(obj));
          },
          (err: unknown) => {
            if (gone || (err as { statusCode?: number; code?: number })?.statusCode === 410)
              reject(new GoneError());
            else if (err && !['TimeoutError', 'AbortError'].includes((err as Error).name)) reject(err);
            else resolve(); // closed by the server or idle: resume from the last resourceVersion
          },
        )
        .then((ac) => {
          this.#abort = ac;
          if (this.#stopped) ac.abort();
        })
        .catch(reject);
    });
  }

  /**
   * What the cache keeps of an object: never managedFields (nobody reads them; on a big
   * cluster they are a large share of every object), and the caller's transform.
   */
  #shape(obj: T): T {
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    return this.#o.transform ? (this.#o.transform(obj) as T) : obj;
  }

  #emit(event: 'add' | 'update' | 'delete', obj: T, old: T | undefined): void {
    for (const h of this.#handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.#o.log.error({ err: String(err) }, 'informer handler threw');
      }
    }
  }

  #index(key: string, obj: T | undefined, add: boolean): void {
    if (!obj) return;
    for (const [name, fn] of Object.entries(this.#o.indexers ?? {})) {
      const idx = this.#indexes.get(name)!;
      for (const v of fn(obj)) {
        let set = idx.get(v);
        if (!set) {
          set = new Set();
          idx.set(v, set);
        }
        if (add) set.add(key);
        else {
          set.delete(key);
          if (set.size === 0) idx.delete(v);
        }
      }
    }
  }

  #upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.#items.get(key);
    this.#index(key, old, false);
    this.#items.set(key, obj);
    this.#index(key, obj, true);
    this.#emit(old ? 'update' : 'add', obj, old);
  }

  #delete(key: string): void {
    const old = this.#items.get(key);
    if (!old) return;
    this.#index(key, old, false);
    this.#items.delete(key);
    this.#emit('delete', old, old);
  }

  #replace(items: T[]): void {
    const fresh = new Set(items.map(objectKey));
    for (const key of [...this.#items.keys()]) if (!fresh.has(key)) this.#delete(key);
    for (const obj of items) {
      const old = this.#items.get(objectKey(obj));
      if (old?.metadata?.resourceVersion === obj.metadata?.resourceVersion && old) continue;
      this.#upsert(obj);
    }
  }
}
