// Runs fast failover for one agent: probes every interval, decides (decide.ts) and asks
// for a datapath sync when who carries or holds an EIP changes.
import type { Config } from '../../common/config.ts';
import type { Logger } from '../../common/log.ts';
import { decide, type EipCandidates, type FailoverDecision } from './decide.ts';
import { Prober } from './prober.ts';

/** Probes whose time is further than this from ours are dropped (clusters run NTP). */
export const PROBE_MAX_SKEW_MS = 5000;

export interface FailoverView {
  carrier: ReadonlyMap<string, string>;
  hold: ReadonlySet<string>;
  /** EIPs this node is a candidate for */
  standby: ReadonlySet<string>;
}

export class FailoverRunner {
  readonly #self: string;
  readonly #cfg: Config['feature']['fastFailover'];
  readonly #log: Logger;
  readonly #prober: Prober;
  readonly #onDecision: () => void;
  readonly #startedAt = performance.now();
  #candidates: EipCandidates[] = [];
  /** every node in some candidate list */
  #gateways = new Set<string>();
  #expected = new Set<string>();
  #holding = new Set<string>();
  #last: FailoverDecision | undefined;
  #tick: NodeJS.Timeout | undefined;

  constructor(o: {
    self: string;
    config: Config['feature']['fastFailover'];
    family: 4 | 6;
    log: Logger;
    /** the cluster's probe key(s): signing key first (probe-key.ts) */
    keys: () => readonly Buffer[];
    onDecision: () => void;
  }) {
    this.#self = o.self;
    this.#cfg = o.config;
    this.#log = o.log;
    this.#onDecision = o.onDecision;
    this.#prober = new Prober({
      self: o.self,
      port: o.config.port,
      family: o.family,
      log: o.log,
      keys: o.keys,
      maxSkewMs: PROBE_MAX_SKEW_MS,
    });
    this.#prober.onChange(() => this.#step(false));
  }

  async start(): Promise<void> {
    await this.#prober.start();
    this.#tick = setInterval(() => this.#step(true), this.#cfg.intervalMs);
  }

  /** The peers (node → underlay address) and the controller's candidate lists. */
  update(peers: Map<string, string>, candidates: EipCandidates[]): void {
    this.#prober.setPeers(peers);
    this.#expected = new Set([...peers.keys()].filter((n) => n !== this.#self));
    this.#candidates = candidates;
    this.#gateways = new Set(candidates.flatMap((c) => c.nodes));
  }

  /** What this node announces now (after the kernel applied it). */
  setHolding(keys: readonly string[]): void {
    this.#holding = new Set(keys);
  }

  holding(): ReadonlySet<string> {
    return this.#holding;
  }

  /** The current decision; before the first one, hold nothing and follow the controller. */
  view(): FailoverView {
    const standby = new Set(this.#candidates.filter((c) => c.nodes.includes(this.#self)).map((c) => c.key));
    return { ...(this.#last ?? { carrier: new Map(), hold: new Set() }), standby };
  }

  #step(send: boolean): void {
    const d = decide(
      {
        self: this.#self,
        startedAt: this.#startedAt,
        now: performance.now(),
        expected: this.#expected,
        peers: this.#prober.peers,
      },
      this.#candidates,
      { fenceAfterMs: this.#cfg.fenceAfterMs, deadAfterMs: this.#cfg.deadAfterMs },
    );
    if (send) {
      // Gateway nodes talk to every node (others must learn who holds what); the others
      // only to gateway nodes. Reports are only about gateway nodes: probes stay small.
      const gateways = this.#gateways;
      const to = gateways.has(this.#self) ? undefined : gateways;
      this.#prober.send(
        d.hears.filter((n) => gateways.has(n)),
        [...this.#holding],
        to,
      );
    }
    const prev = this.#last;
    const same =
      prev !== undefined &&
      prev.hold.size === d.hold.size &&
      [...d.hold].every((k) => prev.hold.has(k)) &&
      prev.carrier.size === d.carrier.size &&
      [...d.carrier].every(([k, v]) => prev.carrier.get(k) === v);
    this.#last = d;
    if (!same) {
      this.#log.info(
        { hold: [...d.hold], carrier: Object.fromEntries(d.carrier), hears: d.hears },
        'failover decision changed',
      );
      this.#onDecision();
    }
  }

  stop(): void {
    clearInterval(this.#tick);
    this.#prober.stop();
  }
}
