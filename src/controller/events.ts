// Kubernetes Events for the controller's decisions (EIP assigned/moved/released, allocation
// failures, node usability), aggregated: a repeat of the same reason and message on the
// same object bumps the count of one Event instead of creating another.
// Recording never blocks a reconcile: events go through a small bounded queue written in the
// background (a cold start places a thousand EIPs; their events must not slow the placing),
// and when the apiserver cannot keep up the oldest pending events are dropped and counted.
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';

export interface Involved {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #log: Logger;
  readonly #component: string;
  readonly #seen = new Map<string, { name: string; namespace: string; count: number }>();
  readonly #pending: (() => Promise<void>)[] = [];
  #writers = 0;
  readonly #maxPending: number;
  readonly #concurrency: number;
  /** events dropped because the backlog was full */
  dropped = 0;
  readonly #onDrop: (() => void) | undefined;

  constructor(
    kc: KubeConfig,
    component: string,
    log: Logger,
    opts: { maxPending?: number; concurrency?: number; onDrop?: () => void } = {},
  ) {
    this.#onDrop = opts.onDrop;
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#component = component;
    this.#log = log;
    this.#maxPending = opts.maxPending ?? 2000;
    this.#concurrency = opts.concurrency ?? 2;
  }

  /** Queues the event and returns at once; it is written in the background. */
  record(obj: Involved, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = new Date();
    this.#pending.push(() => this.#write(obj, type, reason, message, now));
    if (this.#pending.length > this.#maxPending) {
      this.#pending.shift();
      this.dropped++;
      this.#onDrop?.();
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#writers < this.#concurrency && this.#pending.length > 0) {
      const job = this.#pending.shift()!;
      this.#writers++;
      void job().finally(() => {
        this.#writers--;
        this.#pump();
      });
    }
  }

  async #write(obj: Involved, type: 'Normal' | 'Warning', reason: string, message: string, now: Date) {
    const namespace = obj.namespace || 'default';
    const key = `${obj.kind}/${namespace}/${obj.name}/${reason}/${message}`;
    try {
      const prev = this.#seen.get(key);
      if (prev) {
        prev.count++;
        const ev = await this.#core.readNamespacedEvent({ name: prev.name, namespace: prev.namespace });
        ev.count = prev.count;
        ev.lastTimestamp = now;
        await this.#core.replaceNamespacedEvent({ name: prev.name, namespace: prev.namespace, body: ev });
        return;
      }
      const body: CoreV1Event = {
        metadata: { generateName: `${obj.name}.`, namespace },
        involvedObject: { ...obj, namespace: obj.namespace ?? '' },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.#component },
        reportingComponent: this.#component,
      };
      const created = await this.#core.createNamespacedEvent({ namespace, body });
      this.#seen.set(key, { name: created.metadata!.name!, namespace, count: 1 });
      if (this.#seen.size > 10_000) this.#seen.clear();
    } catch (err) {
      // Events are best effort: never fail a reconcile over one.
      this.#log.debug({ err: String(err), reason }, 'event not recorded');
      this.#seen.delete(key);
    }
  }
}
