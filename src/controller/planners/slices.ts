// EgressEndpointSlices: which pods a policy selects, cut into slices of at most
// maxNumberEndpointPerSlice, with minimal churn — an endpoint stays in the slice it is in,
// new ones fill slices with room before a new slice is made, empty slices go away — so one
// pod change rewrites one slice, not all of them.
import { familyOf } from '../../common/ip.ts';
import { type LabelSelector, selects } from './label-selector.ts';

export interface SlicePod {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  podIPs: string[];
  nodeName?: string;
  terminating?: boolean;
  hostNetwork?: boolean;
}

export interface SlicePolicy {
  cluster: boolean;
  name: string;
  namespace?: string;
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  podSubnet?: string[];
}

export interface Endpoint {
  ns: string;
  pod: string;
  ipv4: string[];
  ipv6: string[];
  node: string;
}

export interface ExistingSlice {
  name: string;
  endpoints: Endpoint[];
}

export interface SlicePlan {
  create: Endpoint[][];
  update: { name: string; endpoints: Endpoint[] }[];
  delete: string[];
}

export const POLICY_LABEL = 'spidernet.io/policy-name';
const key = (e: { ns: string; pod: string }) => `${e.ns}/${e.pod}`;
const byKey = (a: Endpoint, b: Endpoint) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/**
 * The pods a policy applies to. hostNetwork pods are left out: their traffic has the node's
 * address, which the policy cannot tell apart from the node's own. A podSubnet policy has no
 * per-pod endpoints: the datapath matches its CIDRs directly.
 */
export function desiredEndpoints(
  policy: SlicePolicy,
  pods: readonly SlicePod[],
  namespaceLabels: ReadonlyMap<string, Record<string, string> | undefined>,
): Endpoint[] {
  if (!policy.podSelector || (policy.podSubnet?.length ?? 0) > 0) return [];
  const out: Endpoint[] = [];
  for (const p of pods) {
    if (p.terminating || p.hostNetwork || p.podIPs.length === 0) continue;
    if (!policy.cluster && p.namespace !== policy.namespace) continue;
    if (
      policy.cluster &&
      policy.namespaceSelector &&
      !selects(policy.namespaceSelector, namespaceLabels.get(p.namespace))
    )
      continue;
    if (!selects(policy.podSelector, p.labels)) continue;
    out.push({
      ns: p.namespace,
      pod: p.name,
      ipv4: p.podIPs.filter((ip) => familyOf(ip) === 4).sort(),
      ipv6: p.podIPs.filter((ip) => familyOf(ip) === 6).sort(),
      node: p.nodeName ?? '',
    });
  }
  return out.sort(byKey);
}

function same(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return JSON.stringify([...a].sort(byKey)) === JSON.stringify([...b].sort(byKey));
}

export function planSlices(
  desired: readonly Endpoint[],
  existing: readonly ExistingSlice[],
  maxPerSlice: number,
): SlicePlan {
  const max = Math.max(1, maxPerSlice);
  const want = new Map(desired.map((e) => [key(e), e]));
  const placed = new Set<string>();
  const slices = [...existing]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((s) => {
      const kept: Endpoint[] = [];
      for (const e of s.endpoints) {
        const k = key(e);
        const w = want.get(k);
        if (w && !placed.has(k) && kept.length < max) {
          kept.push(w);
          placed.add(k);
        }
      }
      return { name: s.name, before: s.endpoints, endpoints: kept };
    });
  const pending = desired.filter((e) => !placed.has(key(e)));
  for (const s of slices) {
    while (s.endpoints.length < max && pending.length > 0) s.endpoints.push(pending.shift()!);
  }
  const create: Endpoint[][] = [];
  while (pending.length > 0) create.push(pending.splice(0, max));
  const update: SlicePlan['update'] = [];
  const del: string[] = [];
  for (const s of slices) {
    if (s.endpoints.length === 0) del.push(s.name);
    else if (!same(s.endpoints, s.before))
      update.push({ name: s.name, endpoints: [...s.endpoints].sort(byKey) });
  }
  return { create, update, delete: del };
}
