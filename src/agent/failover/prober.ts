// Probes on the underlay: every interval this agent tells its peers who it hears and which
// EIPs it announces, and records what they tell it. A probe counts only if it is signed with
// the cluster's probe key, is fresh (not replayed, not stale: freshness.ts), and comes from
// the underlay address of the node it names; only the fields of the probe contract are read,
// with bounded sizes (src/api/contracts.ts, src/api/probe-auth.ts).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { encodeProbe, openProbe, parseProbe, sealProbe } from '../../api/contracts.ts';
import { canonicalIp, familyOf } from '../../common/ip.ts';
import type { Logger } from '../../common/log.ts';
import type { PeerView } from './decide.ts';
import { Freshness, type Verdict } from './freshness.ts';

export type DropReason = 'unsigned' | 'malformed' | 'wrong-address' | Exclude<Verdict, 'ok'>;

export interface ProberOptions {
  self: string;
  port: number;
  family: 4 | 6;
  log: Logger;
  /** signing key first, then other keys still accepted (rotation) */
  keys: () => readonly Buffer[];
  /** how far a probe's time may be from ours */
  maxSkewMs: number;
  /** the clock (monotonic ms) */
  now?: () => number;
  /** the wall clock (ms since the epoch), for probe times */
  wallNow?: () => number;
}

export class Prober {
  readonly #o: ProberOptions;
  readonly #peers = new Map<string, PeerView>();
  /** node → underlay address we accept its probes from and send ours to */
  #addresses = new Map<string, string>();
  #socket: Socket | undefined;
  #onChange: () => void = () => {};
  readonly #boot = randomBytes(8).readBigUInt64BE();
  #seq = 0n;
  readonly #fresh: Freshness;
  /** probes dropped, by reason (forgeries, replays and misconfigured peers show here) */
  readonly #drops = new Map<DropReason, number>();

  constructor(o: ProberOptions) {
    this.#o = o;
    this.#fresh = new Freshness(o.maxSkewMs);
  }

  #wall(): number {
    return this.#o.wallNow?.() ?? Date.now();
  }

  #drop(reason: DropReason, from: string): void {
    const n = (this.#drops.get(reason) ?? 0) + 1;
    this.#drops.set(reason, n);
    // Once, then every 1000th: a flood of forgeries must not flood the log.
    if (n === 1 || n % 1000 === 0) this.#o.log.warn({ reason, from, count: n }, 'failover probe dropped');
  }

  get peers(): ReadonlyMap<string, PeerView> {
    return this.#peers;
  }

  #now(): number {
    return this.#o.now?.() ?? performance.now();
  }

  /** Called when a probe changes what we know of a peer (new peer, hears or holds). */
  onChange(fn: () => void): void {
    this.#onChange = fn;
  }

  /** The nodes we talk to, with their underlay addresses (from their EgressTunnels). */
  setPeers(addresses: Map<string, string>): void {
    this.#addresses = new Map(
      [...addresses].filter(([n, ip]) => n !== this.#o.self && familyOf(ip) === this.#o.family),
    );
    for (const n of this.#peers.keys())
      if (!this.#addresses.has(n)) {
        this.#peers.delete(n);
        this.#fresh.forget(n);
      }
  }

  async start(): Promise<void> {
    const socket = createSocket({ type: this.#o.family === 4 ? 'udp4' : 'udp6', reuseAddr: true });
    socket.on('message', (data, rinfo) => this.#receive(data, rinfo.address));
    socket.on('error', (err) => this.#o.log.warn({ err: String(err) }, 'probe socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.#o.port, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#socket = socket;
  }

  #receive(data: Buffer, from: string): void {
    const opened = openProbe(data, this.#o.keys());
    if (!opened) {
      this.#drop('unsigned', from);
      return;
    }
    const m = parseProbe(opened.body);
    if (!m) {
      this.#drop('malformed', from);
      return;
    }
    const expected = this.#addresses.get(m.node);
    if (!expected || canonicalIp(from) !== expected) {
      this.#drop('wrong-address', from);
      return;
    }
    const verdict = this.#fresh.check(m.node, opened, this.#wall());
    if (verdict !== 'ok') {
      this.#drop(verdict, from);
      return;
    }
    const old = this.#peers.get(m.node);
    const view: PeerView = { lastSeen: this.#now(), hears: new Set(m.hears), holds: new Set(m.holds) };
    this.#peers.set(m.node, view);
    const same = (a: ReadonlySet<string>, b: ReadonlySet<string>) =>
      a.size === b.size && [...a].every((x) => b.has(x));
    if (!old || !same(old.hears, view.hears) || !same(old.holds, view.holds)) this.#onChange();
  }

  /** Sends one probe to every peer (fire and forget: a lost probe is what we measure). */
  send(hears: string[], holds: string[], only?: ReadonlySet<string>): void {
    const socket = this.#socket;
    if (!socket) return;
    const [key] = this.#o.keys();
    if (!key) return;
    this.#seq++;
    const msg = sealProbe(
      encodeProbe(this.#o.self, hears, holds),
      { boot: this.#boot, seq: this.#seq, timeMs: this.#wall() },
      key,
    );
    for (const [node, ip] of this.#addresses) {
      if (!only || only.has(node)) socket.send(msg, this.#o.port, ip, () => {});
    }
  }

  stop(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }
}
