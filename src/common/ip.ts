// IP address math on bigints. Pools are kept as inclusive ranges so that a /64 costs the
// same as a single address: nothing here ever materialises an address list.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface IpRange {
  family: Family;
  /** first address, inclusive */
  start: bigint;
  /** last address, inclusive */
  end: bigint;
}

const MAX: Record<Family, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };
const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function familyOf(ip: string): Family | undefined {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  return undefined;
}

export function bitsOf(family: Family): number {
  return BITS[family];
}

/** Parses a textual IP. Throws with a message naming the bad value. */
export function parseIp(ip: string): { family: Family; value: bigint } {
  const family = familyOf(ip);
  if (family === 4) {
    const value = ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    return { family, value };
  }
  if (family === 6) return { family, value: parseIpv6(ip) };
  throw new Error(`"${ip}" is not an IP address`);
}

function parseIpv6(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIp(tail).value;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const restParts = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headParts.length - restParts.length;
  const parts = rest === undefined ? headParts : [...headParts, ...Array(missing).fill('0'), ...restParts];
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(Number.parseInt(part, 16)), 0n);
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
  }
  const hextets: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) hextets.push(Number((value >> shift) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero hextets, the first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = hextets.map((h) => h.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of an IP ("2001:DB8:0::1" → "2001:db8::1"), or undefined if not an IP. */
export function canonicalIp(ip: string): string | undefined {
  const family = familyOf(ip);
  if (!family) return undefined;
  return formatIp(family, parseIp(ip).value);
}

export interface Cidr {
  family: Family;
  /** network address (host bits cleared) */
  network: bigint;
  prefix: number;
}

/**
 * Parses "a.b.c.d/n" or "x::/n". With `allowPlainIp`, a bare IP is read as /32 or /128.
 * Host bits are tolerated (as Kubernetes does for many fields) and cleared.
 */
export function parseCidr(text: string, opts: { allowPlainIp?: boolean } = {}): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!opts.allowPlainIp) throw new Error(`"${text}" is not a CIDR (expected address/prefix)`);
    const { family, value } = parseIp(text);
    return { family, network: value, prefix: BITS[family] };
  }
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = familyOf(addr);
  if (!family) throw new Error(`"${text}" is not a CIDR: "${addr}" is not an IP address`);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > BITS[family]) {
    throw new Error(`"${text}" is not a CIDR: prefix must be 0-${BITS[family]}`);
  }
  const prefix = Number(prefixText);
  return { family, network: parseIp(addr).value & prefixMask(family, prefix), prefix };
}

export function prefixMask(family: Family, prefix: number): bigint {
  const hostBits = BigInt(BITS[family] - prefix);
  return MAX[family] ^ ((1n << hostBits) - 1n);
}

export function cidrToRange(cidr: Cidr): IpRange {
  const hostBits = BigInt(BITS[cidr.family] - cidr.prefix);
  return { family: cidr.family, start: cidr.network, end: cidr.network | ((1n << hostBits) - 1n) };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.family, cidr.network)}/${cidr.prefix}`;
}

/**
 * Parses one pool entry as upstream accepts them: a single IP, an "a-b" range, or a CIDR.
 * Throws with a message that names the value and the accepted forms.
 */
export function parsePoolEntry(text: string): IpRange {
  const entry = text.trim();
  if (entry.includes('/')) return cidrToRange(parseCidr(entry));
  const dash = entry.indexOf('-');
  if (dash >= 0) {
    const a = entry.slice(0, dash).trim();
    const b = entry.slice(dash + 1).trim();
    const fa = familyOf(a);
    const fb = familyOf(b);
    if (!fa || !fb) {
      throw new Error(`"${text}" is not a valid IP range: both ends of "start-end" must be IP addresses`);
    }
    if (fa !== fb) throw new Error(`"${text}" mixes IPv4 and IPv6 in one range`);
    const start = parseIp(a).value;
    const end = parseIp(b).value;
    if (start > end) throw new Error(`"${text}" is not a valid IP range: start is after end`);
    return { family: fa, start, end };
  }
  const family = familyOf(entry);
  if (!family) {
    throw new Error(`"${text}" is not an IP, an "a-b" range or a CIDR`);
  }
  const value = parseIp(entry).value;
  return { family, start: value, end: value };
}

export function rangeSize(r: IpRange): bigint {
  return r.end - r.start + 1n;
}

export function rangeContains(r: IpRange, family: Family, value: bigint): boolean {
  return r.family === family && value >= r.start && value <= r.end;
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** Sorts and merges ranges of one family; O(n log n) in the number of ranges. */
export function mergeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort((x, y) =>
    x.family !== y.family ? x.family - y.family : x.start < y.start ? -1 : x.start > y.start ? 1 : 0,
  );
  const out: IpRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === r.family && r.start <= last.end + 1n) {
      if (r.end > last.end) last.end = r.end;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** Total number of addresses covered by the (possibly overlapping) ranges. */
export function countAddresses(ranges: readonly IpRange[]): bigint {
  return mergeRanges(ranges).reduce((sum, r) => sum + rangeSize(r), 0n);
}

/** True if `ip` (text) lies in any of the ranges. */
export function poolContains(ranges: readonly IpRange[], ip: string): boolean {
  const family = familyOf(ip);
  if (!family) return false;
  const { value } = parseIp(ip);
  return ranges.some((r) => rangeContains(r, family, value));
}

/**
 * The n-th address (0-based) of the merged pool, or undefined past its end.
 * Lets allocators walk a pool without listing it.
 */
export function nthAddress(ranges: readonly IpRange[], n: bigint): bigint | undefined {
  let left = n;
  for (const r of mergeRanges(ranges)) {
    const size = rangeSize(r);
    if (left < size) return r.start + left;
    left -= size;
  }
  return undefined;
}
