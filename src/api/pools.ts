// EgressGateway IP pools as address ranges. Sizes, membership, overlaps and defaults are all
// computed on ranges, so a /64 IPv6 pool costs what a single address costs (upstream listed
// every address, §8.20).
import {
  type Family,
  familyOf,
  formatIp,
  type IpRange,
  mergeRanges,
  parseIp,
  parsePoolEntry,
  rangeContains,
  rangeSize,
} from '../common/ip.ts';

export interface ParsedPool {
  ranges: IpRange[];
  problems: string[];
}

const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };

/**
 * Parses one family's pool. IPv4 CIDRs larger than /31 lose their network and broadcast
 * addresses, as upstream counts them; ranges and single IPs keep every address.
 */
export function parsePool(entries: unknown, family: Family, field: string): ParsedPool {
  const ranges: IpRange[] = [];
  const problems: string[] = [];
  if (entries === undefined || entries === null) return { ranges, problems };
  if (!Array.isArray(entries)) return { ranges, problems: [`${field}: must be a list of strings`] };
  entries.forEach((e, i) => {
    const at = `${field}[${i}]`;
    if (typeof e !== 'string') {
      problems.push(`${at}: ${JSON.stringify(e)} is not a string; use a single IP, a range "a-b" or a CIDR`);
      return;
    }
    let r: IpRange;
    try {
      r = parsePoolEntry(e);
    } catch (err) {
      problems.push(
        `${at}: Failed to check IP: ${(err as Error).message}; use a single IP, a range "a-b" or a CIDR`,
      );
      return;
    }
    if (r.family !== family) {
      problems.push(`${at}: "${e}" is ${FAMILY_NAME[r.family]}; this list takes ${FAMILY_NAME[family]} only`);
      return;
    }
    if (family === 4 && e.includes('/') && rangeSize(r) > 2n)
      r = { ...r, start: r.start + 1n, end: r.end - 1n };
    const clash = ranges.findIndex((o) => o.start <= r.end && r.start <= o.end);
    if (clash >= 0) {
      problems.push(`${at}: "${e}" overlaps another entry of the same pool; list each address once`);
      return;
    }
    ranges.push(r);
  });
  return { ranges, problems };
}

export function poolSize(ranges: readonly IpRange[]): bigint {
  return mergeRanges(ranges).reduce((n, r) => n + rangeSize(r), 0n);
}

export function inPool(ranges: readonly IpRange[], ip: string): boolean {
  const family = familyOf(ip);
  if (!family) return false;
  const { value } = parseIp(ip);
  return ranges.some((r) => rangeContains(r, family, value));
}

/**
 * The default EIP a gateway gets when none is given: the highest address of its pool.
 * Deterministic (re-creating a gateway gives the same EIP), and for the seed's pool
 * 172.22.0.100-172.22.0.110 it is 172.22.0.110, the address the seed shows.
 */
export function defaultEip(ranges: readonly IpRange[]): string | undefined {
  const merged = mergeRanges(ranges);
  const last = merged[merged.length - 1];
  return last ? formatIp(last.family, last.end) : undefined;
}

/** The first address two pools share, or undefined. O(n log n) in the number of ranges. */
export function firstOverlap(a: readonly IpRange[], b: readonly IpRange[]): string | undefined {
  const ma = mergeRanges(a);
  const mb = mergeRanges(b);
  let i = 0;
  let j = 0;
  while (i < ma.length && j < mb.length) {
    const x = ma[i]!;
    const y = mb[j]!;
    if (x.family !== y.family) {
      if (x.family < y.family) i++;
      else j++;
      continue;
    }
    const start = x.start > y.start ? x.start : y.start;
    const end = x.end < y.end ? x.end : y.end;
    if (start <= end) return formatIp(x.family, start);
    if (x.end < y.end) i++;
    else j++;
  }
  return undefined;
}
