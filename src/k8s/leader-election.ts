// Lease-based leader election with client-go's timing semantics: acquire when the lease is
// free or expired (renewTime + leaseDuration in the past, by our own clock), renew every
// retryPeriod, step down when a renewal has not succeeded within renewDeadline. Writes use
// optimistic concurrency (resourceVersion), so two candidates can never both win.
// Release on graceful stop hands over at once instead of after a lease duration.
import {
  ApiException,
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';
import type { Logger } from '../common/log.ts';

export interface LeaderElectionOptions {
  name: string;
  namespace: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, 'log' | 'onStartedLeading' | 'onStoppedLeading'>> &
    LeaderElectionOptions;
  readonly #api: CoordinationV1Api;
  #leading: AbortController | undefined;
  #stopped = false;
  #observed: { holder: string; renewTime: number; localSeen: number; rv: string } | undefined;

  constructor(kc: KubeConfig, o: LeaderElectionOptions) {
    this.#o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...o };
    this.#api = kc.makeApiClient(CoordinationV1Api);
  }

  isLeader(): boolean {
    return this.#leading !== undefined;
  }

  async run(): Promise<void> {
    let lastRenew = 0;
    while (!this.#stopped) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#o.log.warn({ err: String(err) }, 'leader election: lease update failed');
      }
      const now = Date.now();
      if (ok) {
        lastRenew = now;
        if (!this.#leading) {
          this.#leading = new AbortController();
          this.#o.log.info({ identity: this.#o.identity }, 'became leader');
          this.#o.onStartedLeading(this.#leading.signal);
        }
      } else if (this.#leading && now - lastRenew > this.#o.renewDeadlineMs) {
        this.#stepDown('renew deadline passed');
      }
      await new Promise((r) => setTimeout(r, this.#o.retryPeriodMs));
    }
  }

  #stepDown(reason: string): void {
    if (!this.#leading) return;
    this.#o.log.warn({ reason }, 'lost leadership');
    this.#leading.abort();
    this.#leading = undefined;
    this.#o.onStoppedLeading();
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.#o;
    const now = new Date();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      renewTime: new V1MicroTime(now.getTime()),
    };
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await this.#api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: new V1MicroTime(now.getTime()), leaseTransitions: 0 },
        },
      });
      return true;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const rv = lease.metadata?.resourceVersion ?? '';
    // Expiry is judged by when *we* saw the lease change, not by the holder's clock.
    if (!this.#observed || this.#observed.rv !== rv) {
      this.#observed = { holder, renewTime: 0, localSeen: Date.now(), rv };
    }
    const expired = Date.now() - this.#observed.localSeen > (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && !expired) return false;
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    lease.spec = {
      ...lease.spec,
      ...spec,
      leaseTransitions: transitions,
      ...(holder === identity ? {} : { acquireTime: new V1MicroTime(now.getTime()) }),
    };
    try {
      const updated = await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
      this.#observed = {
        holder: identity,
        renewTime: now.getTime(),
        localSeen: Date.now(),
        rv: updated.metadata?.resourceVersion ?? '',
      };
      return true;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) return false; // someone else wrote first
      throw err;
    }
  }

  /** Stops campaigning; a leader releases the lease so a standby takes over at once. */
  async stop(release = true): Promise<void> {
    this.#stopped = true;
    const wasLeader = this.#leading !== undefined;
    this.#stepDown('stopping');
    if (!release || !wasLeader) return;
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: new V1MicroTime(Date.now()),
      };
      await this.#api.replaceNamespacedLease({
        name: this.#o.name,
        namespace: this.#o.namespace,
        body: lease,
      });
    } catch (err) {
      this.#o.log.warn({ err: String(err) }, 'could not release the lease');
    }
  }
}
