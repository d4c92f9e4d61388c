// EIP allocation and placement for one EgressGateway: pure, deterministic, stable.
// - Every policy gets its EIP pair: explicit, the gateway default (shared, every user listed),
//   a free pool address (`rr`), or its node's own address (`useNodeIP`).
// - Each EIP lives on exactly one usable gateway node; it stays there while that node stays
//   usable; EIPs without a usable node go to the least-loaded node, one at a time, so a
//   failed node's EIPs spread over all remaining nodes.
// - Per EIP, an ordered candidate list (current node first, then rendezvous-hash order) lets
//   agents fail over without waiting for the controller.
// - The gateway's status.nodeList and every policy's status are derived from one placement,
//   so they always agree.
import { eipKey } from '../../api/contracts.ts';
import { defaultEip, inPool, parsePool, poolSize } from '../../api/pools.ts';
import { type Family, familyOf, formatIp, type IpRange, parseIp } from '../../common/ip.ts';

export interface GatewayInput {
  name: string;
  ipv4Pool: string[];
  ipv6Pool: string[];
  ipv4DefaultEIP?: string;
  ipv6DefaultEIP?: string;
  enableIPv4: boolean;
  enableIPv6: boolean;
}

export interface GatewayNode {
  name: string;
  /** Ready Node and a tunnel its agent reports Ready */
  usable: boolean;
  /** shown in status.nodeList[].status: the tunnel phase, or Pending */
  phase: string;
  ipv4?: string;
  ipv6?: string;
}

export interface PolicyInput {
  /** namespace empty for an EgressClusterPolicy */
  namespace: string;
  name: string;
  ipv4?: string;
  ipv6?: string;
  useNodeIP: boolean;
  allocatorPolicy: string;
  /** what the policy's status says now (kept for rr and as placement memory) */
  current?: { ipv4?: string; ipv6?: string; node?: string };
}

export interface EipEntry {
  ipv4: string;
  ipv6: string;
  policies: { name: string; namespace: string }[];
}

export interface GatewayPlan {
  nodeList: { name: string; status: string; eips: EipEntry[] }[];
  ipUsage: { ipv4Total: number; ipv4Free: number; ipv6Total: number; ipv6Free: number };
  eipCandidates: { ipv4: string; ipv6: string; nodes: string[] }[];
  /** key `${namespace}/${name}` → status to write */
  policies: Map<string, { eip: { ipv4: string; ipv6: string }; node: string }>;
  /** policies that could not get an address, with why */
  failures: { policy: string; reason: string }[];
}

export const policyKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/** How many nodes each EIP's candidate list names: the holder and three standbys. */
export const MAX_CANDIDATES = 4;

/**
 * 32-bit FNV-1a with murmur3's finalizer: deterministic everywhere, well mixed, and cheap.
 * (A SHA-1 per (EIP, node) pair cost 19 of 54 CPU seconds at 100 nodes per gateway.)
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Rendezvous (highest random weight) order of nodes for a key: stable, spreads keys evenly. */
export function rendezvous(key: string, nodes: readonly string[]): string[] {
  return nodes
    .map((n) => ({ n, score: hash32(`${key}|${n}`) }))
    .sort((a, b) => b.score - a.score || (a.n < b.n ? -1 : 1))
    .map((x) => x.n);
}

interface Unit {
  key: string;
  ipv4: string;
  ipv6: string;
  useNodeIP: boolean;
  policies: PolicyInput[];
}

function toNumber(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

/** The n-th usable address of a pool (ranges already parsed), or undefined. */
function nth(ranges: readonly IpRange[], n: bigint): string | undefined {
  let left = n;
  for (const r of ranges) {
    const size = r.end - r.start + 1n;
    if (left < size) return formatIp(r.family, r.start + left);
    left -= size;
  }
  return undefined;
}

function indexOf(ranges: readonly IpRange[], ip: string | undefined): bigint | undefined {
  if (!ip) return undefined;
  const fam = familyOf(ip);
  if (!fam) return undefined;
  const v = parseIp(ip).value;
  let base = 0n;
  for (const r of ranges) {
    if (r.family === fam && v >= r.start && v <= r.end) return base + (v - r.start);
    base += r.end - r.start + 1n;
  }
  return undefined;
}

export function planGateway(
  gw: GatewayInput,
  nodes: readonly GatewayNode[],
  policies: readonly PolicyInput[],
): GatewayPlan {
  const v4 = gw.enableIPv4 ? parsePool(gw.ipv4Pool, 4, 'ipv4').ranges : [];
  const v6 = gw.enableIPv6 ? parsePool(gw.ipv6Pool, 6, 'ipv6').ranges : [];
  const d4 = gw.ipv4DefaultEIP || (v4.length ? defaultEip(v4) : '') || '';
  const d6 = gw.ipv6DefaultEIP || (v6.length ? defaultEip(v6) : '') || '';
  const failures: GatewayPlan['failures'] = [];
  const sortedPolicies = [...policies].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));

  // 1. Addresses. Explicit and default first, so rr never takes an address someone names.
  const units = new Map<string, Unit>();
  const taken = new Set<string>();
  const addTo = (key: string, ipv4: string, ipv6: string, p: PolicyInput, useNodeIP = false) => {
    let u = units.get(key);
    if (!u) {
      u = { key, ipv4, ipv6, useNodeIP, policies: [] };
      units.set(key, u);
    }
    u.policies.push(p);
    if (ipv4) taken.add(ipv4);
    if (ipv6) taken.add(ipv6);
  };
  const rrPolicies: PolicyInput[] = [];
  for (const p of sortedPolicies) {
    if (p.useNodeIP) addTo(`node:${policyKey(p)}`, '', '', p, true);
    else if (p.ipv4 || p.ipv6) addTo(eipKey(p.ipv4, p.ipv6), p.ipv4 ?? '', p.ipv6 ?? '', p);
    else if (p.allocatorPolicy === 'rr') rrPolicies.push(p);
    else if (d4 || d6) addTo(eipKey(d4, d6), d4, d6, p);
    else failures.push({ policy: policyKey(p), reason: `gateway ${gw.name} has no default EIP and no pool` });
  }
  // rr: keep the current pair when still valid and free, else the lowest free index.
  // IPv4 and IPv6 pair by index (the webhook keeps both pools the same size in dual stack).
  const size4 = poolSize(v4);
  const size6 = poolSize(v6);
  const size = v4.length && v6.length ? (size4 < size6 ? size4 : size6) : v4.length ? size4 : size6;
  const pairAt = (i: bigint) => ({
    ipv4: v4.length ? (nth(v4, i) ?? '') : '',
    ipv6: v6.length ? (nth(v6, i) ?? '') : '',
  });
  const free = (pair: { ipv4: string; ipv6: string }) =>
    !(pair.ipv4 && taken.has(pair.ipv4)) && !(pair.ipv6 && taken.has(pair.ipv6));
  const needRr: PolicyInput[] = [];
  for (const p of rrPolicies) {
    const cur = p.current;
    const i = indexOf(v4.length ? v4 : v6, v4.length ? cur?.ipv4 : cur?.ipv6);
    const pair = i !== undefined && i < size ? pairAt(i) : undefined;
    if (
      pair &&
      free(pair) &&
      (!v4.length || pair.ipv4 === cur?.ipv4) &&
      (!v6.length || pair.ipv6 === cur?.ipv6)
    ) {
      addTo(eipKey(pair.ipv4, pair.ipv6), pair.ipv4, pair.ipv6, p);
    } else needRr.push(p);
  }
  let cursor = 0n;
  for (const p of needRr) {
    // Allocated addresses are few: skipping past them is O(policies), never O(pool).
    while (cursor < size && !free(pairAt(cursor))) cursor++;
    if (cursor >= size) {
      failures.push({
        policy: policyKey(p),
        reason: `no free address left in the pools of gateway ${gw.name}`,
      });
      continue;
    }
    const pair = pairAt(cursor);
    addTo(eipKey(pair.ipv4, pair.ipv6), pair.ipv4, pair.ipv6, p);
  }

  // 2. Placement. Memory of where each unit was: any of its policies' current node.
  const usable = nodes
    .filter((n) => n.usable)
    .map((n) => n.name)
    .sort();
  const usableSet = new Set(usable);
  const load = new Map(usable.map((n) => [n, 0]));
  const placement = new Map<string, string>();
  const orderedUnits = [...units.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  const unplaced: Unit[] = [];
  for (const u of orderedUnits) {
    const was = u.policies.map((p) => p.current?.node).find((n) => n && usableSet.has(n));
    if (was) {
      placement.set(u.key, was);
      load.set(was, (load.get(was) ?? 0) + 1);
    } else unplaced.push(u);
  }
  for (const u of unplaced) {
    if (usable.length === 0) break;
    const order = rendezvous(u.key, usable);
    let best = order[0]!;
    for (const n of order) if ((load.get(n) ?? 0) < (load.get(best) ?? 0)) best = n;
    placement.set(u.key, best);
    load.set(best, (load.get(best) ?? 0) + 1);
  }

  // 3. Outputs, all from the one placement.
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const eipsOn = new Map<string, EipEntry[]>();
  const policyStatus: GatewayPlan['policies'] = new Map();
  const candidates: GatewayPlan['eipCandidates'] = [];
  for (const u of orderedUnits) {
    const node = placement.get(u.key) ?? '';
    const refs = u.policies.map((p) => ({ name: p.name, namespace: p.namespace }));
    if (node) {
      const list = eipsOn.get(node) ?? [];
      // useNodeIP policies share one bucket per node with empty addresses, as upstream shows.
      const bucket = u.useNodeIP ? list.find((e) => !e.ipv4 && !e.ipv6) : undefined;
      if (bucket) bucket.policies.push(...refs);
      else list.push({ ipv4: u.ipv4, ipv6: u.ipv6, policies: refs });
      eipsOn.set(node, list);
    }
    if (!u.useNodeIP) {
      const rest = rendezvous(u.key, usable).filter((n) => n !== node);
      candidates.push({
        ipv4: u.ipv4,
        ipv6: u.ipv6,
        nodes: (node ? [node, ...rest] : rest).slice(0, MAX_CANDIDATES),
      });
    }
    for (const p of u.policies) {
      const n = nodeByName.get(node);
      const eip = u.useNodeIP
        ? { ipv4: gw.enableIPv4 ? (n?.ipv4 ?? '') : '', ipv6: gw.enableIPv6 ? (n?.ipv6 ?? '') : '' }
        : { ipv4: u.ipv4, ipv6: u.ipv6 };
      policyStatus.set(policyKey(p), { eip, node });
    }
  }
  for (const entries of eipsOn.values()) {
    for (const e of entries) e.policies.sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
    entries.sort((a, b) => (eipKey(a.ipv4, a.ipv6) < eipKey(b.ipv4, b.ipv6) ? -1 : 1));
  }
  const nodeList = [...nodes]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((n) => ({ name: n.name, status: n.phase, eips: eipsOn.get(n.name) ?? [] }));

  // In use = carried by a node now; an EIP with no usable node is free again (as upstream counts).
  const used = (fam: Family, ranges: readonly IpRange[]) =>
    new Set(
      [...units.values()]
        .filter((u) => placement.has(u.key))
        .map((u) => (fam === 4 ? u.ipv4 : u.ipv6))
        .filter((ip) => ip && inPool(ranges, ip)),
    ).size;
  const ipUsage = {
    ipv4Total: toNumber(size4),
    ipv4Free: toNumber(size4 - BigInt(used(4, v4))),
    ipv6Total: toNumber(size6),
    ipv6Free: toNumber(size6 - BigInt(used(6, v6))),
  };
  return { nodeList, ipUsage, eipCandidates: candidates, policies: policyStatus, failures };
}
