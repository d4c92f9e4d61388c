// The wire contracts between the controller and the agents (and between agents): values one
// side writes and the other reads back. They live here, in one place both sides import, so
// the two can never disagree — the agent imports nothing from src/controller.
//   - the packet-mark range: derived from the configured base (`feature.mark`), never fixed;
//   - the label that ties an endpoint slice to its policy;
//   - the key that names an EIP (in gateway status candidates and in failover probes);
//   - the failover probe datagram that agents send each other on the underlay, and its signed
//     envelope (probe-auth.ts, re-exported here).

// ---- Packet marks -------------------------------------------------------------------------

/** Upstream's base (`feature.mark` when unset): node marks are 0x26000001 … 0x26fffffe. */
export const DEFAULT_MARK_BASE = 0x26000000;
/** The bits every node mark shares with the base: its top byte. */
export const MARK_BASE_MASK = 0xff000000;

export interface MarkRange {
  /** what tunnelled packets are reset to after routing; never a node's mark */
  base: number;
  first: number;
  last: number;
}

/** True for a usable base: only the top byte set, and not zero (mark 0 means "unmarked"). */
export function isMarkBase(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= 0xffffffff && (n & ~MARK_BASE_MASK) === 0;
}

/**
 * The node marks of a base: every value with that top byte except the base itself and the
 * all-ones tail (upstream's range, e.g. 0x26000001 … 0x26fffffe).
 */
export function markRange(base: number = DEFAULT_MARK_BASE): MarkRange {
  if (!isMarkBase(base)) throw new Error(`mark base ${formatMark(base)} must have only its top byte set`);
  return { base, first: base + 1, last: base + 0x00fffffe };
}

/** `0x26000001` style: lower-case, 8 hex digits (the form in EgressTunnel status). */
export function formatMark(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** A node mark from status text, or undefined if it does not parse or lies outside the range. */
export function parseMark(text: string | undefined, range: MarkRange = markRange()): number | undefined {
  if (typeof text !== 'string' || !/^0x[0-9a-fA-F]{1,8}$/.test(text)) return undefined;
  const n = Number.parseInt(text.slice(2), 16);
  return n >= range.first && n <= range.last ? n : undefined;
}

// ---- Labels -------------------------------------------------------------------------------

/** On every EgressEndpointSlice / EgressClusterEndpointSlice: the name of its policy. */
export const POLICY_NAME_LABEL = 'spidernet.io/policy-name';

// ---- EIP keys -----------------------------------------------------------------------------

/** Names one EIP (a v4/v6 pair, either side may be empty): `<ipv4>|<ipv6>`. */
export const eipKey = (ipv4?: string, ipv6?: string): string => `${ipv4 ?? ''}|${ipv6 ?? ''}`;

// ---- Failover probes ----------------------------------------------------------------------

export const PROBE_VERSION = 1;
/** A probe never needs more: bigger datagrams are dropped unread. */
export const PROBE_MAX_BYTES = 60_000;
export const PROBE_MAX_ITEMS = 4096;

/** One UDP datagram, JSON: who sent it, whom it hears, which EIP keys it announces. */
export interface ProbeMessage {
  v: typeof PROBE_VERSION;
  node: string;
  hears: string[];
  holds: string[];
}

export function encodeProbe(node: string, hears: string[], holds: string[]): Buffer {
  return Buffer.from(JSON.stringify({ v: PROBE_VERSION, node, hears, holds } satisfies ProbeMessage));
}

/** Parses a probe; undefined for anything that is not exactly one (only these fields are read). */
export function parseProbe(data: Buffer): ProbeMessage | undefined {
  if (data.length > PROBE_MAX_BYTES) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  const strings = (x: unknown): x is string[] =>
    Array.isArray(x) &&
    x.length <= PROBE_MAX_ITEMS &&
    x.every((s) => typeof s === 'string' && s.length <= 253);
  if (o['v'] !== PROBE_VERSION || typeof o['node'] !== 'string') return undefined;
  if (!strings(o['hears']) || !strings(o['holds'])) return undefined;
  return { v: PROBE_VERSION, node: o['node'], hears: o['hears'], holds: o['holds'] };
}

/** The signed envelope every probe travels in (HMAC, boot, sequence, time). */
export {
  MIN_PROBE_KEY_BYTES,
  type OpenedProbe,
  openProbe,
  type ProbeStamp,
  sealProbe,
} from './probe-auth.ts';
