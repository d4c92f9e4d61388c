// EgressClusterInfo/default status: the cluster's own address ranges (node IPs, service
// CIDRs, pod CIDRs, extra CIDRs), which egress policies never capture. Each detector that is
// turned off clears its part (upstream left stale values), and podCidrMode shows the mode
// actually in effect (upstream never wrote it).
import { familyOf, formatCidr, parseCidr } from '../../common/ip.ts';

export interface ClusterInfoSpec {
  autoDetect?: { podCidrMode?: string; clusterIP?: boolean; nodeIP?: boolean };
  extraCidr?: string[];
}

export interface ClusterInfoInput {
  spec: ClusterInfoSpec | undefined;
  nodes: { name: string; internalIPs: string[]; podCIDRs: string[] }[];
  /** detected service CIDRs; undefined = not known (yet) */
  serviceCidrs: string[] | undefined;
  /** Calico IP pools; undefined = Calico is not installed */
  calicoPools: { name: string; cidr: string; disabled?: boolean }[] | undefined;
}

type Lists = { ipv4: string[]; ipv6: string[] };

export interface ClusterInfoStatus {
  podCidrMode: string;
  nodeIP?: Record<string, Lists>;
  clusterIP?: Lists;
  podCIDR?: Record<string, Lists>;
  extraCidr?: string[];
}

function split(items: readonly string[]): Lists {
  const uniq = [...new Set(items)];
  return {
    ipv4: uniq.filter((x) => familyOf(x.split('/')[0]!) === 4).sort(),
    ipv6: uniq.filter((x) => familyOf(x.split('/')[0]!) === 6).sort(),
  };
}

function sortedRecord(entries: [string, Lists][]): Record<string, Lists> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function effectivePodCidrMode(
  configured: string | undefined,
  calicoInstalled: boolean,
): '' | 'k8s' | 'calico' {
  const mode = configured ?? 'auto';
  if (mode === 'k8s' || mode === 'calico') return mode;
  if (mode === 'auto') return calicoInstalled ? 'calico' : 'k8s';
  return '';
}

export function planClusterInfoStatus(input: ClusterInfoInput): ClusterInfoStatus {
  const auto = input.spec?.autoDetect ?? {};
  const mode = effectivePodCidrMode(auto.podCidrMode, input.calicoPools !== undefined);
  const status: ClusterInfoStatus = { podCidrMode: mode };
  if (auto.nodeIP !== false) {
    status.nodeIP = sortedRecord(input.nodes.map((n) => [n.name, split(n.internalIPs)]));
  }
  if (auto.clusterIP !== false && input.serviceCidrs) status.clusterIP = split(input.serviceCidrs);
  if (mode === 'k8s') {
    status.podCIDR = sortedRecord(
      input.nodes.filter((n) => n.podCIDRs.length).map((n) => [n.name, split(n.podCIDRs)]),
    );
  } else if (mode === 'calico') {
    status.podCIDR = sortedRecord(
      (input.calicoPools ?? []).filter((p) => !p.disabled).map((p) => [p.name, split([p.cidr])]),
    );
  }
  const extra: string[] = [];
  for (const c of input.spec?.extraCidr ?? []) {
    try {
      extra.push(formatCidr(parseCidr(c.trim(), { allowPlainIp: true })));
    } catch {
      // refused at admission; an entry that slipped in before the webhook is skipped
    }
  }
  if (extra.length) status.extraCidr = [...new Set(extra)].sort();
  return status;
}
