// Kubernetes Events for the controller's decisions (EIP assigned/moved/released, allocation
// failures, node usability), aggregated: a repeat of the same reason and message on the
// same object bumps the count of one Event instead of creating another.
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

  constructor(kc: KubeConfig, component: string, log: Logger) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#component = component;
    this.#log = log;
  }

  async record(obj: Involved, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.namespace || 'default';
    const key = `${obj.kind}/${namespace}/${obj.name}/${reason}/${message}`;
    const now = new Date();
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
