// Drops replayed and stale probes. Per sending node it remembers the last accepted
// (boot, seq, time): within one boot a probe must carry a higher sequence number; a new boot
// (the agent restarted) must be newer than the last probe accepted from that node; and any
// probe's wall-clock time must be within `maxSkewMs` of ours (clusters run NTP; a node
// whose clock is further off is told so in the log). A replay of a recorded probe is thus
// useless once its sender has sent a later one, and useless to anyone after `maxSkewMs`.
import type { ProbeStamp } from '../../api/contracts.ts';

export type Verdict = 'ok' | 'replayed' | 'stale' | 'clock-skew';

export class Freshness {
  readonly #maxSkewMs: number;
  readonly #last = new Map<string, ProbeStamp>();

  constructor(maxSkewMs: number) {
    this.#maxSkewMs = maxSkewMs;
  }

  check(node: string, p: ProbeStamp, nowMs: number): Verdict {
    if (Math.abs(p.timeMs - nowMs) > this.#maxSkewMs) return 'clock-skew';
    const last = this.#last.get(node);
    if (last) {
      if (p.boot === last.boot) {
        if (p.seq <= last.seq) return 'replayed';
      } else if (p.timeMs <= last.timeMs) return 'stale';
    }
    this.#last.set(node, { boot: p.boot, seq: p.seq, timeMs: p.timeMs });
    return 'ok';
  }

  forget(node: string): void {
    this.#last.delete(node);
  }
}
