// EgressTunnel identities, one per node: tunnel addresses from the configured subnets, a
// MAC derived from the node name, and a packet mark unique in the range of the configured
// base (`feature.mark`; the agents route by the same range, src/api/contracts.ts). Pure and
// deterministic. Existing allocations are kept exactly (a controller restart moves
// nothing); duplicates go to the lexically-first node, garbage is re-allocated, never fatal.
import { createHash } from 'node:crypto';
import { DEFAULT_MARK_BASE, formatMark, markRange, parseMark } from '../../api/contracts.ts';
import {
  type Cidr,
  cidrToRange,
  type Family,
  familyOf,
  formatIp,
  parseCidr,
  parseIp,
} from '../../common/ip.ts';

export interface TunnelConfig {
  /** `feature.mark`: node marks are base+1 … base+0xfffffe; default 0x26000000 */
  markBase?: number;
  ipv4Subnet?: string;
  ipv6Subnet?: string;
}

export interface ExistingTunnel {
  node: string;
  ipv4?: string;
  ipv6?: string;
  mac?: string;
  mark?: string;
}

export interface TunnelIdentity {
  node: string;
  ipv4?: string;
  ipv6?: string;
  mac: string;
  mark: string;
}

export interface TunnelPlan {
  identities: Map<string, TunnelIdentity>;
  /** tunnels whose node no longer exists */
  orphans: string[];
  /** nodes that could not get an address (subnet exhausted) */
  exhausted: { node: string; family: Family }[];
}

/** `66` + 5 bytes of SHA-1(node + "egress"): locally administered, unicast, stable. */
export function tunnelMac(node: string, attempt = 0): string {
  const h = createHash('sha1')
    .update(`${node}egress${attempt ? `#${attempt}` : ''}`)
    .digest('hex');
  return ['66', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(':');
}

interface Space {
  family: Family;
  first: bigint;
  last: bigint;
}

/** Usable tunnel addresses: the subnet without its network address (and IPv4 broadcast). */
function space(subnet: string | undefined): Space | undefined {
  if (!subnet) return undefined;
  let c: Cidr;
  try {
    c = parseCidr(subnet);
  } catch {
    return undefined;
  }
  const r = cidrToRange(c);
  const last = c.family === 4 && r.end - r.start > 1n ? r.end - 1n : r.end;
  return { family: c.family, first: r.start + 1n, last };
}

function valueIn(s: Space, ip: string | undefined): bigint | undefined {
  if (!ip || familyOf(ip) !== s.family) return undefined;
  const v = parseIp(ip).value;
  return v >= s.first && v <= s.last ? v : undefined;
}

function lowestFree(s: Space, used: Set<bigint>): bigint | undefined {
  // Sorted scan over the (small) used set: O(n log n) whatever the subnet size.
  let candidate = s.first;
  for (const v of [...used].filter((x) => x >= s.first).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (v > candidate) break;
    if (v === candidate) candidate++;
  }
  return candidate <= s.last ? candidate : undefined;
}

export function planTunnels(
  nodes: readonly string[],
  existing: readonly ExistingTunnel[],
  cfg: TunnelConfig,
): TunnelPlan {
  const nodeSet = new Set(nodes);
  const byNode = new Map(existing.map((t) => [t.node, t]));
  const v4 = space(cfg.ipv4Subnet);
  const v6 = space(cfg.ipv6Subnet);
  const sorted = [...nodeSet].sort();
  const identities = new Map<string, TunnelIdentity>();
  const used4 = new Set<bigint>();
  const used6 = new Set<bigint>();
  const range = markRange(cfg.markBase ?? DEFAULT_MARK_BASE);
  const marks = new Set<number>();
  const macs = new Set<string>();
  const exhausted: TunnelPlan['exhausted'] = [];

  // Pass 1: keep every valid, unclaimed existing value (lexical order decides duplicates).
  const kept = new Map<string, Partial<TunnelIdentity>>();
  for (const node of sorted) {
    const t = byNode.get(node);
    const k: Partial<TunnelIdentity> = {};
    if (t) {
      const a4 = v4 && valueIn(v4, t.ipv4);
      if (a4 !== undefined && !used4.has(a4)) {
        used4.add(a4);
        k.ipv4 = formatIp(4, a4);
      }
      const a6 = v6 && valueIn(v6, t.ipv6);
      if (a6 !== undefined && !used6.has(a6)) {
        used6.add(a6);
        k.ipv6 = formatIp(6, a6);
      }
      // A mark of another base (feature.mark changed) is re-allocated like garbage.
      const m = parseMark(t.mark, range);
      if (m !== undefined && !marks.has(m)) {
        marks.add(m);
        k.mark = formatMark(m);
      }
      if (t.mac && t.mac === tunnelMac(node) && !macs.has(t.mac)) {
        macs.add(t.mac);
        k.mac = t.mac;
      }
    }
    kept.set(node, k);
  }
  // Pass 2: fill the gaps with the lowest free values.
  let nextMark = range.first;
  for (const node of sorted) {
    const k = kept.get(node)!;
    if (v4 && !k.ipv4) {
      const a = lowestFree(v4, used4);
      if (a === undefined) exhausted.push({ node, family: 4 });
      else {
        used4.add(a);
        k.ipv4 = formatIp(4, a);
      }
    }
    if (v6 && !k.ipv6) {
      const a = lowestFree(v6, used6);
      if (a === undefined) exhausted.push({ node, family: 6 });
      else {
        used6.add(a);
        k.ipv6 = formatIp(6, a);
      }
    }
    if (!k.mark) {
      while (marks.has(nextMark)) nextMark++;
      marks.add(nextMark);
      k.mark = formatMark(nextMark);
    }
    if (!k.mac) {
      let attempt = 0;
      let mac = tunnelMac(node);
      while (macs.has(mac)) mac = tunnelMac(node, ++attempt);
      macs.add(mac);
      k.mac = mac;
    }
    const id: TunnelIdentity = { node, mac: k.mac, mark: k.mark };
    if (k.ipv4) id.ipv4 = k.ipv4;
    if (k.ipv6) id.ipv6 = k.ipv6;
    identities.set(node, id);
  }
  const orphans = existing
    .map((t) => t.node)
    .filter((n) => !nodeSet.has(n))
    .sort();
  return { identities, orphans, exhausted };
}
