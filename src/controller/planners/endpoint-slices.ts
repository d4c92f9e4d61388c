// EgressEndpointSlice / EgressClusterEndpointSlice planning (pure): which pods a policy applies
// to, and how to cut them into slices of at most maxPerSlice endpoints with minimal churn:
// - an endpoint stays in the slice it is already in (only its IPs/node are refreshed);
// - new endpoints fill slices with room before any new slice is created — slices that are being
//   rewritten anyway first, so a pod add usually costs no extra write;
// - slices left empty are deleted; a slice whose content is unchanged is not rewritten.
// Fixes against upstream (reference §3.5, §8): podSubnet policies are not mistaken for "no
// selection", hostNetwork and terminating pods are not captured, IPs are canonical and sorted,
// duplicate endpoints across slices are repaired.
import { POLICY_NAME_LABEL } from '../../api/contracts.ts';
import { canonicalIp, familyOf, parseIp } from '../../common/ip.ts';
import { type LabelSelector, matchesSelector } from './selector.ts';

export const DEFAULT_MAX_PER_SLICE = 100;
const API_VERSION = 'egressgateway.spidernet.io/v1beta1';

export type PolicyKind = 'EgressPolicy' | 'EgressClusterPolicy';

export interface PolicySummary {
  kind: PolicyKind;
  name: string;
  /** required for EgressPolicy; ignored for EgressClusterPolicy */
  namespace?: string;
  uid: string;
  podSelector?: LabelSelector;
  /** EgressClusterPolicy only; unset = every namespace */
  namespaceSelector?: LabelSelector;
  podSubnet?: string[];
}

export interface PodSummary {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  podIPs: string[];
  nodeName?: string;
  terminating?: boolean;
  hostNetwork?: boolean;
}

export interface NamespaceSummary {
  name: string;
  labels?: Record<string, string>;
}

export interface Endpoint {
  ns: string;
  pod: string;
  ipv4: string[];
  ipv6: string[];
  node: string;
}

/** An endpoint as read from the API server: fields may be missing. */
export interface StoredEndpoint {
  ns?: string;
  pod?: string;
  ipv4?: string[];
  ipv6?: string[];
  node?: string;
}

export interface ExistingSlice {
  name: string;
  endpoints?: StoredEndpoint[];
}

export interface SliceDiff {
  /** endpoint lists of slices to create (generateName: sliceGenerateName(policy)) */
  create: Endpoint[][];
  update: { name: string; endpoints: Endpoint[] }[];
  delete: string[];
}

export interface EndpointSlicePlan {
  /** every endpoint the policy selects, sorted by namespace then pod */
  desired: Endpoint[];
  diff: SliceDiff;
}

export function sliceLabels(policyName: string): Record<string, string> {
  return { [POLICY_NAME_LABEL]: policyName };
}

/**
 * The metadata.generateName prefix for a policy's slices: "<policy>-". The API server appends 5
 * random characters (and truncates long prefixes itself); if "<policy>-" would not leave room for
 * them within the 253-character name limit, the bare policy name is used, as upstream does.
 */
export function sliceGenerateName(policyName: string): string {
  const prefix = `${policyName}-`;
  return prefix.length > 253 - 5 ? policyName : prefix;
}

export function sliceKind(
  policy: Pick<PolicySummary, 'kind'>,
): 'EgressEndpointSlice' | 'EgressClusterEndpointSlice' {
  return policy.kind === 'EgressClusterPolicy' ? 'EgressClusterEndpointSlice' : 'EgressEndpointSlice';
}

/** The controller ownerReference that lets garbage collection delete slices with their policy. */
export function sliceOwnerReference(policy: Pick<PolicySummary, 'kind' | 'name' | 'uid'>): {
  apiVersion: string;
  kind: PolicyKind;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
} {
  return {
    apiVersion: API_VERSION,
    kind: policy.kind,
    name: policy.name,
    uid: policy.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

const keyOf = (e: { ns?: string; pod?: string }) => `${e.ns}/${e.pod}`;

function compareEndpoints(a: { ns: string; pod: string }, b: { ns: string; pod: string }): number {
  if (a.ns !== b.ns) return a.ns < b.ns ? -1 : 1;
  if (a.pod !== b.pod) return a.pod < b.pod ? -1 : 1;
  return 0;
}

function compareIps(a: string, b: string): number {
  const x = parseIp(a).value;
  const y = parseIp(b).value;
  return x < y ? -1 : x > y ? 1 : 0;
}

// Every reconcile of a policy re-reads its pods' IPs; parsing them each time was a fifth of
// the controller's CPU under pod churn. A pod's IP text maps to one canonical form for ever,
// so remember it (bounded: forgotten wholesale when full).
const canonical = new Map<string, string | undefined>();
function canonicalOnce(ip: string): string | undefined {
  let c = canonical.get(ip);
  if (c === undefined && !canonical.has(ip)) {
    if (canonical.size >= 200_000) canonical.clear();
    c = canonicalIp(ip.trim());
    canonical.set(ip, c);
  }
  return c;
}

function splitIps(ips: readonly string[]): { ipv4: string[]; ipv6: string[] } {
  const canon = new Set<string>();
  for (const ip of ips) {
    const c = typeof ip === 'string' ? canonicalOnce(ip) : undefined;
    if (c) canon.add(c);
  }
  const all = [...canon];
  return {
    ipv4: all.filter((ip) => familyOf(ip) === 4).sort(compareIps),
    ipv6: all.filter((ip) => familyOf(ip) === 6).sort(compareIps),
  };
}

/**
 * The endpoints a policy selects, sorted by namespace then pod.
 * - EgressPolicy: pods of its own namespace whose labels match podSelector.
 * - EgressClusterPolicy: pods of every namespace matching podSelector, or, with namespaceSelector,
 *   only of namespaces (known in `namespaces`) whose labels match it.
 * - No podSelector ⇒ nothing (an absent selector selects nothing). A podSubnet policy without a
 *   podSelector therefore has no per-pod endpoints: the datapath matches its CIDRs directly
 *   (upstream accepted podSubnet and then did nothing with it). With both set, podSelector
 *   still selects pods; the CIDRs are the datapath's concern.
 * - Excluded: pods without a (valid) IP, terminating pods (their IP may be reused by a new pod
 *   before the old one is gone), and hostNetwork pods: they share the node's network namespace,
 *   so their "pod IPs" are the node's own addresses — adding them would steer all of the node's
 *   traffic (kubelet, other host-network processes) through the gateway, and host-network
 *   traffic never passes the pod-side path the policy hooks anyway.
 * - Duplicate pods (same namespace/name) in the input: the first one wins.
 */
export function selectEndpoints(
  policy: PolicySummary,
  pods: readonly PodSummary[],
  namespaces: readonly NamespaceSummary[],
): Endpoint[] {
  if (!policy.podSelector) return [];
  const cluster = policy.kind === 'EgressClusterPolicy';
  if (!cluster && !policy.namespace) return [];
  let allowedNs: Set<string> | undefined;
  if (cluster && policy.namespaceSelector) {
    allowedNs = new Set(
      namespaces.filter((n) => matchesSelector(policy.namespaceSelector, n.labels)).map((n) => n.name),
    );
  }
  const out = new Map<string, Endpoint>();
  for (const p of pods) {
    if (p.terminating || p.hostNetwork) continue;
    if (!cluster && p.namespace !== policy.namespace) continue;
    if (allowedNs && !allowedNs.has(p.namespace)) continue;
    if (!matchesSelector(policy.podSelector, p.labels)) continue;
    const key = keyOf({ ns: p.namespace, pod: p.name });
    if (out.has(key)) continue;
    const { ipv4, ipv6 } = splitIps(p.podIPs ?? []);
    if (ipv4.length === 0 && ipv6.length === 0) continue;
    out.set(key, { ns: p.namespace, pod: p.name, ipv4, ipv6, node: p.nodeName ?? '' });
  }
  return [...out.values()].sort(compareEndpoints);
}

const sameList = (a: readonly unknown[] | undefined, b: readonly string[]) =>
  (a ?? []).length === b.length && b.every((x, i) => a![i] === x);

/** Same endpoints, in any order (the stored order is whoever wrote it last). */
function sameContent(before: readonly StoredEndpoint[], after: readonly Endpoint[]): boolean {
  if (before.length !== after.length) return false;
  const stored = new Map<string, StoredEndpoint>();
  for (const e of before) stored.set(keyOf(e), e);
  if (stored.size !== before.length) return false; // a duplicate: rewrite
  return after.every((e) => {
    const s = stored.get(keyOf(e));
    return (
      s !== undefined && (s.node ?? '') === e.node && sameList(s.ipv4, e.ipv4) && sameList(s.ipv6, e.ipv6)
    );
  });
}

/**
 * The minimal set of writes that turns `existing` into slices holding exactly `desired`, no slice
 * above maxPerSlice and no endpoint twice. Slices are visited in name order; inside a slice that
 * holds more than maxPerSlice (e.g. after the limit was lowered) or a duplicate, the endpoints
 * kept are the first ones in namespace/pod order — the rest move like new endpoints.
 */
export function diffSlices(
  desired: readonly Endpoint[],
  existing: readonly ExistingSlice[],
  maxPerSlice: number = DEFAULT_MAX_PER_SLICE,
): SliceDiff {
  const max = Number.isFinite(maxPerSlice) ? Math.max(1, Math.floor(maxPerSlice)) : DEFAULT_MAX_PER_SLICE;
  const want = new Map<string, Endpoint>();
  for (const e of desired) if (!want.has(keyOf(e))) want.set(keyOf(e), e);
  const placed = new Set<string>();
  const slices = [...existing]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => {
      const before = s.endpoints ?? [];
      const kept: Endpoint[] = [];
      const candidates = before
        .filter((e) => typeof e?.ns === 'string' && typeof e.pod === 'string')
        .map((e) => ({ ns: e.ns as string, pod: e.pod as string }))
        .sort(compareEndpoints);
      for (const c of candidates) {
        const key = keyOf(c);
        const w = want.get(key);
        if (!w || placed.has(key) || kept.length >= max) continue;
        kept.push(w);
        placed.add(key);
      }
      return { name: s.name, before, endpoints: kept, changed: !sameContent(before, kept) };
    });
  const pending = [...want.values()].filter((e) => !placed.has(keyOf(e))).sort(compareEndpoints);
  // Slices already being rewritten take new endpoints first: they cost no extra write.
  const fillOrder = [...slices.filter((s) => s.changed), ...slices.filter((s) => !s.changed)];
  let next = 0;
  for (const s of fillOrder) {
    if (next >= pending.length) break;
    const room = max - s.endpoints.length;
    if (room <= 0) continue;
    s.endpoints.push(...pending.slice(next, next + room));
    next += Math.min(room, pending.length - next);
    s.changed = true;
  }
  const create: Endpoint[][] = [];
  for (; next < pending.length; next += max) create.push(pending.slice(next, next + max));
  const update: SliceDiff['update'] = [];
  const del: string[] = [];
  for (const s of slices) {
    if (s.endpoints.length === 0) {
      del.push(s.name);
      continue;
    }
    const endpoints = [...s.endpoints].sort(compareEndpoints);
    if (s.changed && !sameContent(s.before, endpoints)) update.push({ name: s.name, endpoints });
  }
  return { create, update, delete: del };
}

export function planEndpointSlices(input: {
  policy: PolicySummary;
  pods: readonly PodSummary[];
  namespaces: readonly NamespaceSummary[];
  existing: readonly ExistingSlice[];
  maxPerSlice?: number;
}): EndpointSlicePlan {
  const desired = selectEndpoints(input.policy, input.pods, input.namespaces);
  return { desired, diff: diffSlices(desired, input.existing, input.maxPerSlice ?? DEFAULT_MAX_PER_SLICE) };
}
