// EgressClusterInfo/default status planning (pure): the cluster's own address ranges, which
// egress policies never capture. Fixes against upstream (reference §3.6, §8 items 12-13):
// - status.podCidrMode is written, and shows the EFFECTIVE mode ('auto' resolves to 'calico'
//   when Calico IP pools can be listed, else 'k8s');
// - 'k8s' mode is implemented: the union of the nodes' spec.podCIDRs;
// - a detector that is turned off clears its part of the status (upstream left stale values);
// - service CIDRs not known yet leave status.clusterIP out instead of blocking anything;
// - extraCidr is normalized: plain IPs become /32 or /128 (upstream copied them verbatim and the
//   agent then ignored them), invalid entries are dropped (admission refuses them).
// The result is the WHOLE status: a field that is absent here must be absent in the stored status
// (write it with an update of the status subresource, not a merge patch).
import { type Cidr, canonicalIp, type Family, formatCidr, parseCidr, parseIp } from '../../common/ip.ts';

/** The single podCIDR key used in 'k8s' mode (upstream's documented `status.podCIDR["k8s"]`). */
export const K8S_POD_CIDR_KEY = 'k8s';

export type EffectivePodCidrMode = 'k8s' | 'calico' | '';

export interface ClusterInfoSpecInput {
  autoDetect?: { podCidrMode?: string; clusterIP?: boolean; nodeIP?: boolean };
  extraCidr?: string[];
}

export interface ClusterInfoInput {
  spec: ClusterInfoSpecInput | undefined;
  nodes: readonly { name: string; internalIPs: readonly string[]; podCIDRs: readonly string[] }[];
  /** detected service CIDRs; undefined = not known (yet) */
  serviceCidrs: readonly string[] | undefined;
  /** Calico IP pools; undefined = Calico is not installed (the IPPool CRD cannot be listed) */
  calicoPools: readonly { name: string; cidr: string; disabled?: boolean }[] | undefined;
}

export interface IpLists {
  ipv4: string[];
  ipv6: string[];
}

export interface ClusterInfoStatusPlan {
  podCidrMode: EffectivePodCidrMode;
  nodeIP?: Record<string, IpLists>;
  clusterIP?: IpLists;
  podCIDR?: Record<string, IpLists>;
  extraCidr?: string[];
}

/**
 * The mode in effect. Missing ⇒ 'auto' (the CRD default). 'auto' ⇒ 'calico' when Calico is
 * installed, else 'k8s'. '' ⇒ off. Anything else (refused at admission) is treated as off.
 */
export function effectivePodCidrMode(
  configured: string | undefined,
  calicoInstalled: boolean,
): EffectivePodCidrMode {
  const mode = configured ?? 'auto';
  if (mode === 'k8s' || mode === 'calico') return mode;
  if (mode === 'auto') return calicoInstalled ? 'calico' : 'k8s';
  return '';
}

function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.prefix - b.prefix;
}

/** Canonical CIDR text ("10.0.0.5" → "10.0.0.5/32"), or undefined when not parseable. */
export function normalizeCidr(text: string): string | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return formatCidr(parseCidr(text.trim(), { allowPlainIp: true }));
  } catch {
    return undefined;
  }
}

function parseAll(items: readonly string[]): Cidr[] {
  const seen = new Map<string, Cidr>();
  for (const item of items) {
    if (typeof item !== 'string') continue;
    try {
      const c = parseCidr(item.trim(), { allowPlainIp: true });
      seen.set(formatCidr(c), c);
    } catch {
      // invalid entries are dropped
    }
  }
  return [...seen.values()].sort(compareCidrs);
}

/** CIDRs deduplicated, canonical, split by family and sorted by address. */
function cidrLists(items: readonly string[]): IpLists {
  const all = parseAll(items);
  const of = (f: Family) => all.filter((c) => c.family === f).map(formatCidr);
  return { ipv4: of(4), ipv6: of(6) };
}

/** Plain IPs deduplicated, canonical, split by family and sorted by address. */
function ipLists(items: readonly string[]): IpLists {
  const canon = new Set<string>();
  for (const ip of items) {
    const c = typeof ip === 'string' ? canonicalIp(ip.trim()) : undefined;
    if (c) canon.add(c);
  }
  const parsed = [...canon].map((ip) => ({ ip, ...parseIp(ip) }));
  parsed.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return {
    ipv4: parsed.filter((p) => p.family === 4).map((p) => p.ip),
    ipv6: parsed.filter((p) => p.family === 6).map((p) => p.ip),
  };
}

function sortedRecord(entries: Map<string, IpLists>): Record<string, IpLists> {
  const out: Record<string, IpLists> = {};
  for (const k of [...entries.keys()].sort()) out[k] = entries.get(k) as IpLists;
  return out;
}

export function planClusterInfoStatus(input: ClusterInfoInput): ClusterInfoStatusPlan {
  const auto = input.spec?.autoDetect ?? {};
  const podCidrMode = effectivePodCidrMode(auto.podCidrMode, input.calicoPools !== undefined);
  const status: ClusterInfoStatusPlan = { podCidrMode };

  if (auto.nodeIP !== false) {
    // Every node gets an entry (empty lists while it has no InternalIP), as upstream does.
    const byNode = new Map<string, string[]>();
    for (const n of input.nodes) byNode.set(n.name, [...(byNode.get(n.name) ?? []), ...n.internalIPs]);
    status.nodeIP = sortedRecord(new Map([...byNode].map(([name, ips]) => [name, ipLists(ips)])));
  }

  if (auto.clusterIP !== false && input.serviceCidrs !== undefined) {
    status.clusterIP = cidrLists(input.serviceCidrs);
  }

  if (podCidrMode === 'k8s') {
    // One entry: the union of every node's spec.podCIDRs (the kube-controller-manager's
    // --cluster-cidr split into per-node blocks; reading the flag itself would need the
    // control-plane pod, which managed clusters do not expose).
    const lists = cidrLists(input.nodes.flatMap((n) => n.podCIDRs));
    const entries = new Map<string, IpLists>();
    if (lists.ipv4.length > 0 || lists.ipv6.length > 0) entries.set(K8S_POD_CIDR_KEY, lists);
    status.podCIDR = sortedRecord(entries);
  } else if (podCidrMode === 'calico') {
    const byPool = new Map<string, string[]>();
    for (const p of input.calicoPools ?? []) {
      if (p.disabled) continue;
      byPool.set(p.name, [...(byPool.get(p.name) ?? []), p.cidr]);
    }
    const entries = new Map<string, IpLists>();
    for (const [name, cidrs] of byPool) {
      const lists = cidrLists(cidrs);
      if (lists.ipv4.length > 0 || lists.ipv6.length > 0) entries.set(name, lists);
    }
    status.podCIDR = sortedRecord(entries);
  }

  const extra = parseAll(input.spec?.extraCidr ?? []).map(formatCidr);
  if (extra.length > 0) status.extraCidr = extra;
  return status;
}
