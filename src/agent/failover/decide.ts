// Who carries each EIP right now, decided by every agent from what it hears on the underlay
// (probes every ~100 ms), without waiting for the controller. Pure: the probe state and the
// clock come in, the decision goes out.
//
// Safety (never two nodes answering ARP for one EIP):
// - a node takes an EIP only if every candidate before it in the controller's order is
//   dead: silent to it for `deadAfterMs` *and* not heard by any peer it hears;
// - a node that hears no peer for `fenceAfterMs` (< deadAfterMs) gives up what it holds, so
//   a cut-off holder has withdrawn before anyone may take over;
// - nobody takes an EIP that an alive peer says it holds: a returning node waits until the
//   stand-in has let go (hand-back costs one or two probe intervals, never an overlap);
// - a freshly started agent holds nothing until it has listened for `deadAfterMs`;
// - only an EIP's candidates may claim it.
// Liveness is one-hop and reported second-hand, so an asymmetric link (A cannot hear B, C
// can) never makes A take B's EIPs.

export interface PeerView {
  /** when its last probe arrived (local monotonic ms) */
  lastSeen: number;
  /** the nodes it hears */
  hears: ReadonlySet<string>;
  /** the EIP keys it announces */
  holds: ReadonlySet<string>;
}

export interface FailoverTiming {
  fenceAfterMs: number;
  deadAfterMs: number;
}

export interface EipCandidates {
  /** `eipKey(ipv4, ipv6)` (src/api/contracts.ts) of a gateway status candidate */
  key: string;
  /** takeover order from the controller; the first carries it by the controller's choice */
  nodes: string[];
}

export interface FailoverState {
  self: string;
  startedAt: number;
  now: number;
  /** every other agent we expect to hear (nodes with a usable tunnel) */
  expected: ReadonlySet<string>;
  peers: ReadonlyMap<string, PeerView>;
}

export interface FailoverDecision {
  /** EIP key → the node that carries it (where traffic is sent); absent: no opinion */
  carrier: Map<string, string>;
  /** EIP keys this node should announce */
  hold: Set<string>;
  /** the nodes this node hears now (sent in its probes) */
  hears: string[];
}

export function decide(s: FailoverState, eips: EipCandidates[], t: FailoverTiming): FailoverDecision {
  const heardWithin = (ms: number) =>
    [...s.peers]
      .filter(([n, p]) => n !== s.self && s.expected.has(n) && s.now - p.lastSeen <= ms)
      .map(([n]) => n);
  const hears = heardWithin(t.deadAfterMs).sort();
  const alive = new Set([s.self, ...hears]);
  const reportedAlive = (n: string) => hears.some((p) => p !== n && s.peers.get(p)!.hears.has(n));
  const dead = (n: string) => !alive.has(n) && !reportedAlive(n);
  const warm = s.now - s.startedAt >= t.deadAfterMs;
  // Fenced: we expect peers and hear none of them recently. Our view is then worthless.
  const fenced = s.expected.size > 0 && heardWithin(t.fenceAfterMs).length === 0;

  const carrier = new Map<string, string>();
  const hold = new Set<string>();
  for (const e of eips) {
    // Only a candidate's claim counts: a node outside the controller's list (a misbehaving
    // or impersonating agent) can neither hold an EIP back nor draw its traffic.
    const claimants = hears.filter((p) => e.nodes.includes(p) && s.peers.get(p)!.holds.has(e.key));
    const order = (n: string) => {
      const i = e.nodes.indexOf(n);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    claimants.sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1));
    const idx = e.nodes.indexOf(s.self);
    const mayHold =
      idx >= 0 && warm && !fenced && claimants.length === 0 && e.nodes.slice(0, idx).every((n) => dead(n));
    if (mayHold) hold.add(e.key);
    // Where to send traffic: whoever says it holds the EIP; else ourselves if we do; else
    // the first candidate not known dead (before we have listened long enough: the
    // controller's choice).
    const by =
      claimants[0] ?? (mayHold ? s.self : undefined) ?? (warm ? e.nodes.find((n) => !dead(n)) : e.nodes[0]);
    if (by) carrier.set(e.key, by);
  }
  return { carrier, hold, hears };
}
