// The agent's datapath planner: the cluster as the agent's caches see it, in; the kernel
// state this node should have, out. Pure and deterministic (sorted everywhere), so the same
// caches always give the same plan and the adapters can skip work when nothing changed.
// Everything read here was written by someone else (controller, users, other agents):
// values that do not parse are skipped and reported, never fatal.
import { eipKey, type MarkRange, markRange, parseMark } from '../api/contracts.ts';
import type {
  EgressClusterInfo,
  EgressClusterPolicy,
  EgressPolicy,
  EgressTunnel,
} from '../api/types.generated.ts';
import {
  canonicalIp,
  cidrToRange,
  type Family,
  familyOf,
  formatIp,
  type IpRange,
  mergeRanges,
  parseCidr,
} from '../common/ip.ts';

export interface PlannerConfig {
  node: string;
  families: { ipv4: boolean; ipv6: boolean };
  vxlan: { name: string; id: number; port: number };
  /** the top byte every node mark shares, e.g. 0x26000000 */
  markBase: number;
  /** prefix lengths of the tunnel subnets, for the tunnel device's addresses */
  tunnelSubnets: { ipv4?: string; ipv6?: string };
}

export interface ParentInterface {
  name: string;
  ipv4?: string;
  ipv6?: string;
}

export interface SliceView {
  /** `<namespace>/<policy>` for EgressPolicy slices, `<policy>` for cluster ones */
  policyKey: string;
  endpoints: { ipv4?: string[]; ipv6?: string[]; node?: string }[];
}

export interface DatapathInput {
  parent?: ParentInterface;
  tunnels: EgressTunnel[];
  policies: EgressPolicy[];
  clusterPolicies: EgressClusterPolicy[];
  slices: SliceView[];
  clusterInfo?: EgressClusterInfo;
  /**
   * Fast failover's view (src/agent/failover): who carries each EIP (by `eipKey`) instead of
   * the policy status, and which EIPs this node may announce. Absent: the controller's
   * placement, announced where it says.
   */
  failover?: {
    carrier: ReadonlyMap<string, string>;
    hold: ReadonlySet<string>;
    /** EIPs this node is a takeover candidate for */
    standby?: ReadonlySet<string>;
  };
}

export interface VxlanPlan {
  name: string;
  vni: number;
  port: number;
  parent: string;
  /** underlay address the tunnel is sourced from */
  local: string;
  mac: string;
  /** tunnel addresses with prefix, e.g. 192.200.0.2/16 */
  addresses: string[];
}

export interface PeerPlan {
  node: string;
  mac: string;
  /** the peer's underlay address: FDB destination */
  underlay: string;
  /** the peer's tunnel addresses: permanent neighbours on the tunnel device */
  tunnelIps: string[];
}

export interface MarkRoute {
  family: Family;
  mark: number;
  /** routing table id (the mark, as upstream numbers them) */
  table: number;
  via: string;
}

export type RuleAction =
  | { kind: 'mark'; mark: number }
  | { kind: 'snat'; to: string }
  | { kind: 'masquerade' };

export interface PolicyRule {
  /** `EgressPolicy ns/name` or `EgressClusterPolicy name` */
  policy: string;
  family: Family;
  /** merged source ranges (pods, podSubnet) */
  src: IpRange[];
  /** merged destination ranges; undefined = everywhere outside the cluster */
  dst?: IpRange[];
  action: RuleAction;
}

export interface DatapathPlan {
  vxlan?: VxlanPlan;
  peers: PeerPlan[];
  routes: MarkRoute[];
  /** ranges that policies never capture (cluster, nodes, services, tunnels) */
  cluster: { 4: IpRange[]; 6: IpRange[] };
  /**
   * In policy order (the first match wins): `mark` for policies carried by another node,
   * `snat`/`masquerade` for those carried here
   */
  rules: PolicyRule[];
  /** EIPs this node answers ARP/NDP for */
  announce: string[];
  /** the same, as EIP keys (`eipKey`), for this node's probes */
  held: string[];
  /** what was skipped and why, for logs and events */
  problems: string[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

type AnyPolicy = (EgressPolicy | EgressClusterPolicy) & { kindLabel: string; key: string };

function ipOf(family: Family, text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const ip = canonicalIp(text);
  return ip && familyOf(ip) === family ? ip : undefined;
}

function rangesOf(family: Family, texts: unknown, problems: string[], what: string): IpRange[] {
  if (!Array.isArray(texts)) return [];
  const out: IpRange[] = [];
  for (const t of texts) {
    if (typeof t !== 'string') continue;
    try {
      const c = parseCidr(t.trim(), { allowPlainIp: true });
      if (c.family === family) out.push(cidrToRange(c));
    } catch {
      problems.push(`${what}: "${t}" is not an IP or CIDR; ignored`);
    }
  }
  return out;
}

function hostRange(family: Family, ip: string): IpRange {
  const c = parseCidr(ip, { allowPlainIp: true });
  return { family, start: c.network, end: c.network };
}

interface TunnelFacts {
  node: string;
  mac?: string;
  mark?: number;
  tunnel: { 4?: string; 6?: string };
  underlay: { 4?: string; 6?: string };
}

/** Marks outside the configured range are the controller's stale allocations: not used. */
function tunnelFacts(t: EgressTunnel, marks: MarkRange): TunnelFacts | undefined {
  const node = t.metadata?.name ?? '';
  if (!NODE_NAME.test(node)) return undefined;
  const s = t.status?.tunnel;
  const mac = typeof s?.mac === 'string' && MAC.test(s.mac.toLowerCase()) ? s.mac.toLowerCase() : undefined;
  return {
    node,
    ...(mac ? { mac } : {}),
    ...(parseMark(t.status?.mark, marks) !== undefined ? { mark: parseMark(t.status?.mark, marks)! } : {}),
    tunnel: { 4: ipOf(4, s?.ipv4), 6: ipOf(6, s?.ipv6) },
    underlay: { 4: ipOf(4, s?.parent?.ipv4), 6: ipOf(6, s?.parent?.ipv6) },
  };
}

function clusterRanges(
  family: Family,
  info: EgressClusterInfo | undefined,
  cfg: PlannerConfig,
  problems: string[],
): IpRange[] {
  const s = info?.status;
  const key = family === 4 ? 'ipv4' : 'ipv6';
  const texts: unknown[] = [];
  for (const v of Object.values(s?.nodeIP ?? {}))
    texts.push(...((v as Record<string, unknown[]>)?.[key] ?? []));
  for (const v of Object.values(s?.podCIDR ?? {}))
    texts.push(...((v as Record<string, unknown[]>)?.[key] ?? []));
  texts.push(...((s?.clusterIP as Record<string, unknown[]> | undefined)?.[key] ?? []));
  texts.push(...(Array.isArray(s?.extraCidr) ? s.extraCidr : []));
  const subnet = family === 4 ? cfg.tunnelSubnets.ipv4 : cfg.tunnelSubnets.ipv6;
  if (subnet) texts.push(subnet);
  return mergeRanges(rangesOf(family, texts, problems, 'EgressClusterInfo default'));
}

function sortedPolicies(input: DatapathInput): AnyPolicy[] {
  const all: AnyPolicy[] = [
    ...input.policies.map((p) => ({
      ...p,
      kindLabel: 'EgressPolicy',
      key: `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`,
    })),
    ...input.clusterPolicies.map((p) => ({
      ...p,
      kindLabel: 'EgressClusterPolicy',
      key: p.metadata?.name ?? '',
    })),
  ];
  const prio = (p: AnyPolicy) => {
    const n = Number((p.spec as { priority?: unknown } | undefined)?.priority);
    return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
  };
  // Lower priority value first, then namespaced before cluster-wide, then by name: the first
  // matching rule wins, so overlapping policies resolve the same way on every node.
  return all.sort(
    (a, b) =>
      prio(a) - prio(b) ||
      (a.kindLabel === b.kindLabel ? 0 : a.kindLabel === 'EgressPolicy' ? -1 : 1) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

export function planDatapath(cfg: PlannerConfig, input: DatapathInput): DatapathPlan {
  const problems: string[] = [];
  const families: Family[] = [
    ...(cfg.families.ipv4 ? [4 as const] : []),
    ...(cfg.families.ipv6 ? [6 as const] : []),
  ];
  const underlayFamily: Family = cfg.families.ipv4 ? 4 : 6;
  const facts = new Map<string, TunnelFacts>();
  const marks = markRange(cfg.markBase);
  for (const t of input.tunnels) {
    const f = tunnelFacts(t, marks);
    if (f) facts.set(f.node, f);
    else problems.push(`EgressTunnel "${t.metadata?.name}": not a node name; ignored`);
  }
  const self = facts.get(cfg.node);

  // The tunnel device, once the controller has given this node its identity.
  let vxlan: VxlanPlan | undefined;
  const local = input.parent?.[underlayFamily === 4 ? 'ipv4' : 'ipv6'];
  if (self?.mac && input.parent && local) {
    const addresses: string[] = [];
    for (const fam of families) {
      const ip = self.tunnel[fam];
      const subnet = fam === 4 ? cfg.tunnelSubnets.ipv4 : cfg.tunnelSubnets.ipv6;
      if (ip && subnet) addresses.push(`${ip}/${parseCidr(subnet).prefix}`);
    }
    if (addresses.length === families.length)
      vxlan = {
        name: cfg.vxlan.name,
        vni: cfg.vxlan.id,
        port: cfg.vxlan.port,
        parent: input.parent.name,
        local,
        mac: self.mac,
        addresses,
      };
  }

  // Peers: every other node the tunnel can reach; routes: every other node with a mark.
  const peers: PeerPlan[] = [];
  const routes: MarkRoute[] = [];
  const reachable = new Map<string, TunnelFacts>();
  for (const f of [...facts.values()].sort((a, b) => (a.node < b.node ? -1 : 1))) {
    if (f.node === cfg.node) continue;
    const underlay = f.underlay[underlayFamily];
    if (!f.mac || !underlay) continue;
    const tunnelIps = families.map((fam) => f.tunnel[fam]).filter((x): x is string => !!x);
    if (tunnelIps.length === 0) continue;
    peers.push({ node: f.node, mac: f.mac, underlay, tunnelIps });
    if (f.mark === undefined) continue;
    reachable.set(f.node, f);
    for (const fam of families) {
      const via = f.tunnel[fam];
      if (via) routes.push({ family: fam, mark: f.mark, table: f.mark, via });
    }
  }

  const cluster = {
    4: cfg.families.ipv4 ? clusterRanges(4, input.clusterInfo, cfg, problems) : [],
    6: cfg.families.ipv6 ? clusterRanges(6, input.clusterInfo, cfg, problems) : [],
  };

  // Sources per policy: its endpoints (all of them where it leaves, this node's elsewhere).
  const slicesByPolicy = new Map<string, SliceView['endpoints']>();
  for (const s of input.slices) {
    const list = slicesByPolicy.get(s.policyKey) ?? [];
    if (Array.isArray(s.endpoints)) list.push(...s.endpoints);
    slicesByPolicy.set(s.policyKey, list);
  }

  const rules: PolicyRule[] = [];
  const announce = new Set<string>();
  const held = new Set<string>();
  for (const p of sortedPolicies(input)) {
    const eipId = eipKey(p.status?.eip?.ipv4, p.status?.eip?.ipv6);
    const placed = typeof p.status?.node === 'string' ? p.status.node : '';
    const carrier = (p.spec?.egressIP?.useNodeIP ? undefined : input.failover?.carrier.get(eipId)) ?? placed;
    if (!carrier) continue;
    const here = carrier === cfg.node;
    const via = here ? undefined : reachable.get(carrier);
    if (!here && !via) {
      problems.push(`${p.kindLabel} ${p.key}: carried by "${carrier}", which has no usable tunnel yet`);
      continue;
    }
    const useNodeIP = p.spec?.egressIP?.useNodeIP === true;
    const label = `${p.kindLabel} ${p.key}`;
    const endpoints = slicesByPolicy.get(p.key) ?? [];
    // A standby (a failover candidate that does not carry it now) SNATs the policy too:
    // traffic that reaches it while the carrier changes leaves with the EIP, never with
    // this node's own address.
    const standby = !here && !useNodeIP && (input.failover?.standby?.has(eipId) ?? false);
    for (const fam of families) {
      const key = fam === 4 ? 'ipv4' : 'ipv6';
      const subnets = rangesOf(fam, p.spec?.appliedTo?.podSubnet, problems, label);
      const local: IpRange[] = [...subnets];
      const all: IpRange[] = [...subnets];
      for (const e of endpoints) {
        for (const ip of Array.isArray(e[key]) ? e[key] : []) {
          const c = ipOf(fam, ip);
          if (!c) continue;
          all.push(hostRange(fam, c));
          if (e.node === cfg.node) local.push(hostRange(fam, c));
        }
      }
      const destTexts = Array.isArray(p.spec?.destSubnet) ? p.spec.destSubnet : [];
      let dst: IpRange[] | undefined;
      if (destTexts.length > 0) {
        dst = mergeRanges(rangesOf(fam, destTexts, problems, label));
        // Destinations given, none of this family: this family is not captured.
        if (dst.length === 0) continue;
      }
      const rule = (src: IpRange[]) => ({
        policy: label,
        family: fam,
        src: mergeRanges(src),
        ...(dst ? { dst } : {}),
      });
      const eip = ipOf(fam, p.status?.eip?.[key]);
      if (!here) {
        if (via!.tunnel[fam] && local.length > 0)
          rules.push({ ...rule(local), action: { kind: 'mark', mark: via!.mark! } });
        if (standby && eip && all.length > 0) rules.push({ ...rule(all), action: { kind: 'snat', to: eip } });
        continue;
      }
      if (all.length === 0) continue;
      if (useNodeIP) {
        rules.push({ ...rule(all), action: { kind: 'masquerade' } });
        continue;
      }
      // No EIP of this family (single-stack pool): leave it to the node's own NAT.
      if (!eip) continue;
      rules.push({ ...rule(all), action: { kind: 'snat', to: eip } });
      if (!input.failover || input.failover.hold.has(eipId)) {
        announce.add(eip);
        held.add(eipId);
      }
    }
  }

  return {
    ...(vxlan ? { vxlan } : {}),
    peers,
    routes,
    cluster,
    rules,
    announce: [...announce].sort(),
    held: [...held].sort(),
    problems,
  };
}

/** An IpRange as nft writes it: a single address, or first-last. */
export function formatRange(r: IpRange): string {
  return r.start === r.end
    ? formatIp(r.family, r.start)
    : `${formatIp(r.family, r.start)}-${formatIp(r.family, r.end)}`;
}
