// The controller's reconcilers, wired to informers and work queues. Informers run on every
// replica (a standby has a warm cache); queues and writes only run while leading.
// Each reconciler is level-triggered: it reads the cache, asks a pure planner for the
// desired state and writes the difference; events only say which key to look at.

import { isDeepStrictEqual } from 'node:util';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  NetworkingV1Api,
  type V1Namespace,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { POLICY_NAME_LABEL } from '../api/contracts.ts';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';
import type {
  EgressClusterEndpointSlice,
  EgressClusterInfo,
  EgressClusterPolicy,
  EgressEndpointSlice,
  EgressGateway,
  EgressPolicy,
  EgressTunnel,
} from '../api/types.generated.ts';
import type { Config } from '../common/config.ts';
import type { Logger } from '../common/log.ts';
import type { controllerMetrics } from '../common/metrics.ts';
import { crdInformer } from '../k8s/crd-informer.ts';
import { Informer } from '../k8s/informer.ts';
import { runWorkers, WorkQueue } from '../k8s/workqueue.ts';
import { CalicoPoolWatch } from './calico-pools.ts';
import { EventRecorder } from './events.ts';
import { OwnWrites } from './own-writes.ts';
import {
  type ClusterInfoSpecInput as ClusterInfoSpec,
  planClusterInfoStatus,
} from './planners/cluster-info.ts';
import { diffSlices, type Endpoint, selectEndpoints } from './planners/endpoint-slices.ts';
import { type GatewayNode, type PolicyInput, planGateway, policyKey } from './planners/gateway.ts';
import { type LabelSelector, matchesSelector as selects } from './planners/selector.ts';
import { planTunnels, type TunnelIdentity } from './planners/tunnels.ts';
import { writeStatus } from './status-writer.ts';

export const GATEWAY_FINALIZER = 'egressgateway.spidernet.io/egressgateway';
type AnyPolicy = (EgressPolicy | EgressClusterPolicy) & KubernetesObject;
type SliceObject = KubernetesObject & { endpoints?: Endpoint[] };

function crd<T extends KubernetesObject>(
  kc: KubeConfig,
  plural: string,
  kind: string,
  log: Logger,
): Informer<T> {
  return crdInformer<T>(
    kc,
    plural,
    kind,
    log,
    plural === 'egresspolicies' || plural === 'egressclusterpolicies'
      ? {
          gateway: (o) => [String((o as AnyPolicy).spec?.egressGatewayName ?? '')],
          namespace: (o) => [o.metadata?.namespace ?? ''],
          term: (o) => [selectorTerm(o as AnyPolicy)],
        }
      : plural.endsWith('endpointslices')
        ? {
            policy: (o) => [
              `${o.metadata?.namespace ?? ''}/${o.metadata?.labels?.[POLICY_NAME_LABEL] ?? ''}`,
            ],
          }
        : undefined,
  );
}

/**
 * One label term every pod a policy selects must carry (`ns/key=value`), or `ns/*` when the
 * selector has no matchLabels; cluster policies use `*` for the namespace. A pod event then
 * looks only at the policies whose term it carries.
 */
export function selectorTerm(p: AnyPolicy): string {
  const ns = p.metadata?.namespace || '*';
  const first = Object.entries(
    (p.spec?.appliedTo?.podSelector as LabelSelector | undefined)?.matchLabels ?? {},
  ).sort()[0];
  return first ? `${ns}/${first[0]}=${first[1]}` : `${ns}/*`;
}

/** The fields of a Pod that endpoint slices depend on. */
export function slimPod(p: V1Pod): V1Pod {
  const m = p.metadata ?? {};
  return {
    metadata: {
      name: m.name!,
      namespace: m.namespace!,
      uid: m.uid!,
      resourceVersion: m.resourceVersion!,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: {
      containers: [],
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
      ...(p.spec?.hostNetwork ? { hostNetwork: true } : {}),
    },
    status: {
      ...(p.status?.phase ? { phase: p.status.phase } : {}),
      ...(p.status?.podIPs ? { podIPs: p.status.podIPs } : {}),
    },
  };
}

/** Runs `fn` over `items`, at most `width` at a time; rejects with the first failure. */
async function inParallel<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** The fields of a Node the controller reads (kubelets add image lists, capacity, ...). */
export function slimNode(n: V1Node): V1Node {
  const m = n.metadata ?? {};
  return {
    metadata: {
      name: m.name!,
      uid: m.uid!,
      resourceVersion: m.resourceVersion!,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: {
      ...(n.spec?.podCIDR ? { podCIDR: n.spec.podCIDR } : {}),
      ...(n.spec?.podCIDRs ? { podCIDRs: n.spec.podCIDRs } : {}),
    },
    status: {
      conditions: (n.status?.conditions ?? []).filter((c) => c.type === 'Ready'),
      ...(n.status?.addresses ? { addresses: n.status.addresses } : {}),
    },
  };
}

interface IdentityFields {
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  mac?: string | undefined;
  mark?: string | undefined;
}

/** The allocated part of a tunnel's status: what only the allocating pass may change. */
function tunnelIdentity(t: EgressTunnel | undefined): IdentityFields {
  const x = t?.status?.tunnel;
  return { ipv4: x?.ipv4, ipv6: x?.ipv6, mac: x?.mac, mark: t?.status?.mark };
}

/** A 409: our view was a step behind; the newer state is on its way through the watch. */
const isConflict = (err: unknown): boolean => err instanceof ApiException && err.code === 409;

export function nodeReady(n: V1Node | undefined): boolean {
  return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function internalIps(n: V1Node | undefined): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const a of n?.status?.addresses ?? []) {
    if (a.type !== 'InternalIP') continue;
    if (a.address.includes(':')) out.ipv6 ??= a.address;
    else out.ipv4 ??= a.address;
  }
  return out;
}

export interface Controllers {
  informers: Informer<KubernetesObject>[];
  /** resolves when every cache has synced */
  synced: Promise<void>;
  /** start the informers (every replica) */
  start(): void;
  /** start reconciling (on becoming leader); resolves when stopped */
  lead(signal: AbortSignal): Promise<void>;
  stop(): void;
}

/** Knobs for measurements (the scale benchmark); production uses the defaults. */
export interface ControllerTuning {
  /** concurrent endpoint-slice reconciles (default 32) */
  sliceWorkers?: number;
}

export function createControllers(
  kc: KubeConfig,
  config: Config,
  log: Logger,
  metrics?: ReturnType<typeof controllerMetrics>,
  tuning: ControllerTuning = {},
): Controllers {
  const f = config.feature;
  const nodes = new Informer<V1Node>(kc, {
    apiVersion: 'v1',
    kind: 'Node',
    path: '/api/v1/nodes',
    log,
    transform: (o) => slimNode(o as V1Node),
  });
  const gateways = crd<EgressGateway & KubernetesObject>(kc, 'egressgateways', 'EgressGateway', log);
  const policies = crd<EgressPolicy & KubernetesObject>(kc, 'egresspolicies', 'EgressPolicy', log);
  const clusterPolicies = crd<EgressClusterPolicy & KubernetesObject>(
    kc,
    'egressclusterpolicies',
    'EgressClusterPolicy',
    log,
  );
  const tunnels = crd<EgressTunnel & KubernetesObject>(kc, 'egresstunnels', 'EgressTunnel', log);
  // Pods are the bulk of the cache: keep only the fields the slices use, and index them by
  // label so a policy looks at the pods it can select, not at every pod.
  const pods = new Informer<V1Pod>(kc, {
    apiVersion: 'v1',
    kind: 'Pod',
    path: '/api/v1/pods',
    log,
    transform: (o) => slimPod(o as V1Pod),
    indexers: {
      namespace: (o) => [o.metadata?.namespace ?? ''],
      nsLabel: (o) =>
        Object.entries(o.metadata?.labels ?? {}).map(([k, v]) => `${o.metadata?.namespace}/${k}=${v}`),
      label: (o) => Object.entries(o.metadata?.labels ?? {}).map(([k, v]) => `${k}=${v}`),
    },
  });
  const namespaces = new Informer<V1Namespace>(kc, {
    apiVersion: 'v1',
    kind: 'Namespace',
    path: '/api/v1/namespaces',
    log,
  });
  const slices = crd<EgressEndpointSlice & KubernetesObject>(
    kc,
    'egressendpointslices',
    'EgressEndpointSlice',
    log,
  );
  const clusterSlices = crd<EgressClusterEndpointSlice & KubernetesObject>(
    kc,
    'egressclusterendpointslices',
    'EgressClusterEndpointSlice',
    log,
  );
  const infos = crd<EgressClusterInfo & KubernetesObject>(kc, 'egressclusterinfos', 'EgressClusterInfo', log);
  const informers = [
    nodes,
    gateways,
    policies,
    clusterPolicies,
    tunnels,
    pods,
    namespaces,
    slices,
    clusterSlices,
    infos,
  ] as Informer<KubernetesObject>[];
  const coreApi = kc.makeApiClient(CoreV1Api);
  const netApi = kc.makeApiClient(NetworkingV1Api);
  const api = kc.makeApiClient(CustomObjectsApi);
  const events = new EventRecorder(kc, 'egressgateway-controller', log, {
    onDrop: () => metrics?.eventsDropped.inc(),
  });
  const hooks = (name: string) =>
    metrics
      ? {
          depth: (n: number) => metrics.queueDepth.set({ name }, n),
          added: () => metrics.queueAdds.inc({ name }),
          retried: () => metrics.queueRetries.inc({ name }),
        }
      : {};
  // Endpoint slices this controller wrote that the cache may not show yet.
  const sliceWrites = new OwnWrites<SliceObject>();
  const tunnelQueue = new WorkQueue({ hooks: hooks('egresstunnel') });
  const gatewayQueue = new WorkQueue({ hooks: hooks('egressgateway') });
  const sliceQueue = new WorkQueue({ hooks: hooks('egressendpointslice') });
  const infoQueue = new WorkQueue({ hooks: hooks('egressclusterinfo') });
  const policyRef = (p: KubernetesObject) =>
    p.metadata?.namespace ? `egp/${p.metadata.namespace}/${p.metadata.name}` : `egcp//${p.metadata?.name}`;
  const allClusterPolicies = () => {
    for (const p of clusterPolicies.list()) sliceQueue.add(policyRef(p));
  };
  const allGateways = () => {
    for (const g of gateways.list()) gatewayQueue.add(g.metadata!.name!);
  };

  // The gateways whose node selector picks this node now or picked it before the change.
  const gatewaysOf = (...labelSets: (Record<string, string> | undefined)[]) => {
    for (const g of gateways.list()) {
      const sel = g.spec?.nodeSelector?.selector as LabelSelector | undefined;
      if (labelSets.some((l) => l !== undefined && selects(sel, l))) gatewayQueue.add(g.metadata!.name!);
    }
  };
  // Kubelets rewrite their Node often (heartbeat times, images, capacity): react only to what
  // tunnels, gateways and cluster info read, or 1,000 nodes keep every queue busy.
  nodes.onChange((e, n, old) => {
    const name = n.metadata!.name!;
    if (e !== 'update') {
      tunnelQueue.add('*');
      gatewaysOf(n.metadata?.labels ?? {});
      infoQueue.add('default');
      return;
    }
    const ready = nodeReady(n) !== nodeReady(old);
    const ips = !isDeepStrictEqual(internalIps(n), internalIps(old));
    if (ready) tunnelQueue.add(`node/${name}`);
    if (ready || ips || !isDeepStrictEqual(n.metadata?.labels, old?.metadata?.labels))
      gatewaysOf(n.metadata?.labels ?? {}, old?.metadata?.labels ?? {});
    if (ips || !isDeepStrictEqual(n.spec?.podCIDRs, old?.spec?.podCIDRs)) infoQueue.add('default');
  });
  infos.onChange(() => infoQueue.add('default'));
  const calico = new CalicoPoolWatch(kc, log, () => infoQueue.add('default'));
  // Only the policies that select the pod before or after the change need another look.
  pods.onChange((_e, pod, old) => {
    const ns = pod.metadata?.namespace ?? '';
    const terms = new Set<string>([`${ns}/*`, '*/*']);
    for (const labels of [pod.metadata?.labels, old?.metadata?.labels]) {
      for (const [k, v] of Object.entries(labels ?? {})) terms.add(`${ns}/${k}=${v}`).add(`*/${k}=${v}`);
    }
    for (const term of terms) {
      for (const p of [
        ...policies.byIndex('term', term),
        ...clusterPolicies.byIndex('term', term),
      ] as AnyPolicy[]) {
        const sel = p.spec?.appliedTo?.podSelector as LabelSelector | undefined;
        if (selects(sel, pod.metadata?.labels) || (old !== undefined && selects(sel, old.metadata?.labels)))
          sliceQueue.add(policyRef(p));
      }
    }
  });
  namespaces.onChange(() => allClusterPolicies());
  // A slice's own events matter when someone else changed it; the echo of our own write
  // would only cost a reconcile that finds nothing to do (one per write).
  for (const inf of [slices, clusterSlices] as Informer<KubernetesObject>[]) {
    inf.onChange((e, sl) => {
      const owner = sl.metadata?.labels?.[POLICY_NAME_LABEL];
      if (!owner) return;
      const ref = sl.metadata?.namespace ? `egp/${sl.metadata.namespace}/${owner}` : `egcp//${owner}`;
      if (!sliceWrites.echoed(ref, e, sl as SliceObject)) sliceQueue.add(ref);
    });
  }
  // Identity changes (and creations, deletions) need the allocating pass over all tunnels;
  // anything else (an agent reporting its parent or a heartbeat) only this tunnel's phase.
  // Gateways only read the phase.
  tunnels.onChange((e, t, old) => {
    const name = t.metadata!.name!;
    if (e !== 'update' || !isDeepStrictEqual(tunnelIdentity(t), tunnelIdentity(old))) tunnelQueue.add('*');
    else tunnelQueue.add(`node/${name}`);
    if (e !== 'update' || t.status?.phase !== old?.status?.phase)
      gatewaysOf(nodes.get(name)?.metadata?.labels ?? {});
  });
  gateways.onChange((_e, g) => gatewayQueue.add(g.metadata!.name!));
  for (const inf of [policies, clusterPolicies] as Informer<AnyPolicy>[]) {
    inf.onChange((_e, p, old) => {
      sliceQueue.add(policyRef(p));
      if (p.spec?.egressGatewayName) gatewayQueue.add(p.spec.egressGatewayName);
      if (old?.spec?.egressGatewayName) gatewayQueue.add(old.spec.egressGatewayName);
    });
  }

  // ---- EgressTunnel: one per node, identities from the planner, phase from node + agent.
  const tunnelCfg = {
    markBase: f.mark,
    ...(f.enableIPv4 ? { ipv4Subnet: f.tunnelIpv4Subnet } : {}),
    ...(f.enableIPv6 ? { ipv6Subnet: f.tunnelIpv6Subnet } : {}),
  };
  /** Every address the enabled families need, a MAC and a mark. */
  const complete = (id: IdentityFields): boolean =>
    (!tunnelCfg.ipv4Subnet || !!id.ipv4) && (!tunnelCfg.ipv6Subnet || !!id.ipv6) && !!id.mac && !!id.mark;
  const tunnelAllocated = (t: EgressTunnel | undefined): boolean => complete(tunnelIdentity(t));
  const tunnelPhase = (node: V1Node | undefined, t: EgressTunnel | undefined, allocated: boolean): string => {
    if (!allocated) return 'Pending';
    if (!nodeReady(node)) return 'NodeNotReady';
    const parent = t?.status?.tunnel?.parent;
    if (!parent?.name) return 'Init';
    if (f.gatewayFailover.enable) {
      const beat = Date.parse(t?.status?.lastHeartbeatTime ?? '');
      if (!Number.isFinite(beat) || Date.now() - beat > f.gatewayFailover.eipEvictionTimeout * 1000)
        return 'HeartbeatTimeout';
    }
    return 'Ready';
  };
  /** One tunnel's phase (agent report, node readiness, heartbeat); allocation is the full pass's. */
  async function reconcileTunnel(name: string): Promise<void> {
    const t = tunnels.get(name);
    const node = nodes.get(name);
    if (!t || !node || !tunnelAllocated(t)) {
      tunnelQueue.add('*');
      return;
    }
    const phase = tunnelPhase(node, t, true);
    if (phase !== t.status?.phase)
      await writeStatus(api, { plural: 'egresstunnels', name }, t, { ...t.status, phase });
  }
  async function reconcileTunnels(key: string): Promise<void> {
    if (key.startsWith('node/')) return reconcileTunnel(key.slice('node/'.length));
    const nodeNames = nodes.list().map((n) => n.metadata!.name!);
    const existing = tunnels.list().map((t) => ({
      node: t.metadata!.name!,
      ...(t.status?.tunnel?.ipv4 ? { ipv4: t.status.tunnel.ipv4 } : {}),
      ...(t.status?.tunnel?.ipv6 ? { ipv6: t.status.tunnel.ipv6 } : {}),
      ...(t.status?.tunnel?.mac ? { mac: t.status.tunnel.mac } : {}),
      ...(t.status?.mark ? { mark: t.status.mark } : {}),
    }));
    const plan = planTunnels(nodeNames, existing, tunnelCfg);
    for (const gone of plan.orphans) {
      const held = tunnelIdentity(tunnels.get(gone));
      const removed = await api
        .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'egresstunnels', name: gone })
        .then(
          () => true,
          (err) => {
            if (!(err instanceof ApiException && err.code === 404)) throw err;
            return false; // gone already (an earlier pass): released then
          },
        );
      if (removed) countAllocations(held, {});
    }
    for (const x of plan.exhausted) {
      events.record(
        { apiVersion: 'v1', kind: 'Node', name: x.node },
        'Warning',
        'TunnelAllocationFailed',
        `no free IPv${x.family} address left in the tunnel subnet`,
      );
    }
    // Independent per node: write them concurrently (bounded) so 1000 nodes do not queue up
    // behind one another. A conflict on one tunnel (its agent wrote first) must not stop the
    // others: the newer version's watch event brings that tunnel back. Other failures fail
    // the pass after the rest is written, and it is retried.
    let failure: unknown;
    await inParallel([...plan.identities], 32, async ([name, id]) => {
      try {
        await writeTunnel(name, id);
      } catch (err) {
        if (isConflict(err)) log.debug({ tunnel: name }, 'tunnel write conflict');
        else failure ??= err;
      }
    });
    if (failure) throw failure;
  }
  // Tunnels this replica created that its cache has not seen yet: the next pass (often
  // already queued by the first creations' events) must not create them again.
  const createdNotSeen = new Map<string, EgressTunnel & KubernetesObject>();
  tunnels.onChange((_e, t) => createdNotSeen.delete(t.metadata!.name!));
  async function writeTunnel(name: string, id: TunnelIdentity): Promise<void> {
    let t = tunnels.get(name) ?? createdNotSeen.get(name);
    if (!t) {
      t = (await api.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'egresstunnels',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'EgressTunnel', metadata: { name }, spec: {} },
      })) as EgressTunnel & KubernetesObject;
      createdNotSeen.set(name, t);
    }
    const parent = t.status?.tunnel?.parent;
    const status = {
      ...t.status,
      tunnel: {
        ...(id.ipv4 ? { ipv4: id.ipv4 } : {}),
        ...(id.ipv6 ? { ipv6: id.ipv6 } : {}),
        mac: id.mac,
        ...(parent ? { parent } : {}),
      },
      mark: id.mark,
      phase: tunnelPhase(nodes.get(name), t, complete(id)),
    };
    if (await writeStatus(api, { plural: 'egresstunnels', name }, t, status))
      countAllocations(tunnelIdentity(t), {
        ...(id.ipv4 ? { ipv4: id.ipv4 } : {}),
        ...(id.ipv6 ? { ipv6: id.ipv6 } : {}),
        mark: id.mark,
      });
  }
  /** Metrics for what a written (or removed) tunnel identity took or gave back. */
  function countAllocations(before: IdentityFields, after: IdentityFields): void {
    if (!metrics) return;
    for (const version of ['ipv4', 'ipv6'] as const) {
      if (after[version] && after[version] !== before[version]) metrics.tunnelIpAllocations.inc({ version });
      if (before[version] && before[version] !== after[version]) metrics.tunnelIpReleases.inc({ version });
    }
    if (after.mark && after.mark !== before.mark) metrics.markAllocations.inc();
    if (before.mark && before.mark !== after.mark) metrics.markReleases.inc();
  }

  // ---- EgressGateway: node list, EIP allocation and placement, policy status, finalizer.
  // The node series each gateway has in the EIP gauge, so nodes that left (and gateways
  // that are gone) stop being reported instead of showing their last count for ever.
  const eipSeries = new Map<string, Set<string>>();
  function setEipGauge(gateway: string, counts: [string, number][]): void {
    if (!metrics) return;
    const now = new Set(counts.map(([node]) => node));
    for (const node of eipSeries.get(gateway) ?? [])
      if (!now.has(node)) metrics.eipsPerNode.remove({ gateway, node });
    for (const [node, n] of counts) metrics.eipsPerNode.set({ gateway, node }, n);
    if (now.size) eipSeries.set(gateway, now);
    else eipSeries.delete(gateway);
  }
  async function reconcileGateway(name: string): Promise<void> {
    const gw = gateways.get(name);
    if (!gw) {
      setEipGauge(name, []);
      return;
    }
    const refs = [
      ...policies.byIndex('gateway', name),
      ...clusterPolicies.byIndex('gateway', name),
    ] as AnyPolicy[];
    if (gw.metadata?.deletionTimestamp) {
      if (refs.length === 0 && gw.metadata.finalizers?.includes(GATEWAY_FINALIZER)) {
        const body = {
          ...gw,
          metadata: {
            ...gw.metadata,
            finalizers: gw.metadata.finalizers.filter((x) => x !== GATEWAY_FINALIZER),
          },
        };
        await api.replaceClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egressgateways',
          name,
          body,
        });
      } else if (refs.length) {
        events.record(
          { apiVersion: `${GROUP}/${VERSION}`, kind: 'EgressGateway', name, uid: gw.metadata.uid ?? '' },
          'Warning',
          'DeletionBlocked',
          `still used by ${refs
            .map((p) => policyKey({ namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '' }))
            .sort()
            .join(', ')}`,
        );
      }
      return;
    }
    const selector = gw.spec?.nodeSelector?.selector as LabelSelector | undefined;
    const members: GatewayNode[] = nodes
      .list()
      .filter((n) => selects(selector, n.metadata?.labels))
      .map((n) => {
        const t = tunnels.get(n.metadata!.name!);
        const phase = t?.status?.phase ?? 'Pending';
        return {
          name: n.metadata!.name!,
          usable: nodeReady(n) && phase === 'Ready',
          phase,
          ...internalIps(n),
        };
      });
    const inputs: PolicyInput[] = refs
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => {
        const e = p.spec?.egressIP ?? {};
        const cur = p.status;
        return {
          namespace: p.metadata?.namespace ?? '',
          name: p.metadata!.name!,
          ...(e.ipv4 ? { ipv4: e.ipv4 } : {}),
          ...(e.ipv6 ? { ipv6: e.ipv6 } : {}),
          useNodeIP: e.useNodeIP === true,
          allocatorPolicy: e.allocatorPolicy ?? 'default',
          ...(cur
            ? { current: { ipv4: cur.eip?.ipv4 ?? '', ipv6: cur.eip?.ipv6 ?? '', node: cur.node ?? '' } }
            : {}),
        };
      });
    const plan = planGateway(
      {
        name,
        ipv4Pool: gw.spec?.ippools?.ipv4 ?? [],
        ipv6Pool: gw.spec?.ippools?.ipv6 ?? [],
        ...(gw.spec?.ippools?.ipv4DefaultEIP ? { ipv4DefaultEIP: gw.spec.ippools.ipv4DefaultEIP } : {}),
        ...(gw.spec?.ippools?.ipv6DefaultEIP ? { ipv6DefaultEIP: gw.spec.ippools.ipv6DefaultEIP } : {}),
        enableIPv4: f.enableIPv4,
        enableIPv6: f.enableIPv6,
      },
      members,
      inputs,
    );
    await writeStatus(api, { plural: 'egressgateways', name }, gw, {
      nodeList: plan.nodeList,
      ipUsage: plan.ipUsage,
      eipCandidates: plan.eipCandidates,
    });
    setEipGauge(
      name,
      plan.nodeList.map((n) => [n.name, n.eips?.length ?? 0]),
    );
    await inParallel(refs, 8, async (p) => {
      const key = policyKey({ namespace: p.metadata?.namespace ?? '', name: p.metadata!.name! });
      // No EIP (pool exhausted) or no usable gateway node: an empty status, as upstream
      // shows it, so nobody mistakes an unplaced EIP for a working one.
      const planned = plan.policies.get(key);
      const want = planned?.node ? planned : {};
      const cluster = !p.metadata?.namespace;
      const before = p.status?.node ?? '';
      const wantNode = 'node' in want ? want.node : '';
      const wrote = await writeStatus(
        api,
        {
          plural: cluster ? 'egressclusterpolicies' : 'egresspolicies',
          name: p.metadata!.name!,
          ...(cluster ? {} : { namespace: p.metadata!.namespace! }),
        },
        p,
        want,
      );
      if (wrote && wantNode !== before) {
        const reason = before ? (wantNode ? 'EIPMoved' : 'EIPUnplaced') : 'EIPAssigned';
        metrics?.eipPlacements.inc({ gateway: name, reason });
        const eip = planned
          ? [planned.eip.ipv4, planned.eip.ipv6].filter(Boolean).join(', ') || 'the node IP'
          : 'no EIP';
        events.record(
          {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: cluster ? 'EgressClusterPolicy' : 'EgressPolicy',
            name: p.metadata!.name!,
            ...(cluster ? {} : { namespace: p.metadata!.namespace! }),
            uid: p.metadata?.uid ?? '',
          },
          'Normal',
          reason,
          before
            ? wantNode
              ? `${eip} moved from ${before} to ${wantNode}`
              : `${eip} has no usable gateway node (was on ${before})`
            : `${eip} on ${wantNode}`,
        );
      }
    });
    for (const fail of plan.failures) log.warn({ gateway: name, ...fail }, 'EIP allocation failed');
    if (plan.failures.length) metrics?.eipAllocationFailures.inc({ gateway: name }, plan.failures.length);
  }

  // ---- Endpoint slices: the pods each policy selects, in slices owned by the policy.
  async function reconcileSlices(ref: string): Promise<void> {
    const [kind, namespace, name] = ref.split('/') as [string, string, string];
    const cluster = kind === 'egcp';
    const policy = (cluster ? clusterPolicies.get(name) : policies.get(`${namespace}/${name}`)) as
      | AnyPolicy
      | undefined;
    const plural = cluster ? 'egressclusterendpointslices' : 'egressendpointslices';
    // A deleted policy's slices go with it through their owner reference (garbage collector).
    if (!policy || policy.metadata?.deletionTimestamp) {
      sliceWrites.forget(ref);
      return;
    }
    const existing = sliceWrites.view(
      ref,
      (cluster ? clusterSlices : slices).byIndex(
        'policy',
        `${cluster ? '' : namespace}/${name}`,
      ) as SliceObject[],
    );
    if (!existing) {
      // Someone else's write is on its way to the cache; its watch event brings the key back
      // (this is only the safety net).
      sliceQueue.addAfter(ref, 1000);
      return;
    }
    const applied = policy.spec?.appliedTo ?? {};
    // The narrowest label index the selector allows; a scan only for expression-only selectors.
    const labelTerms = Object.entries((applied.podSelector as LabelSelector | undefined)?.matchLabels ?? {});
    const candidates = labelTerms.length
      ? labelTerms
          .map(([k, v]) =>
            cluster ? pods.byIndex('label', `${k}=${v}`) : pods.byIndex('nsLabel', `${namespace}/${k}=${v}`),
          )
          .reduce((a, b) => (b.length < a.length ? b : a))
      : cluster
        ? pods.list()
        : pods.byIndex('namespace', namespace);
    const desired = selectEndpoints(
      {
        kind: cluster ? 'EgressClusterPolicy' : 'EgressPolicy',
        name,
        uid: policy.metadata?.uid ?? '',
        ...(cluster ? {} : { namespace }),
        ...(applied.podSelector ? { podSelector: applied.podSelector as LabelSelector } : {}),
        ...((applied as { namespaceSelector?: LabelSelector }).namespaceSelector
          ? { namespaceSelector: (applied as { namespaceSelector: LabelSelector }).namespaceSelector }
          : {}),
        ...(applied.podSubnet ? { podSubnet: applied.podSubnet } : {}),
      },
      candidates.map((p) => ({
        name: p.metadata!.name!,
        namespace: p.metadata!.namespace!,
        ...(p.metadata?.labels ? { labels: p.metadata.labels } : {}),
        podIPs: (p.status?.podIPs ?? []).map((x) => x.ip),
        ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
        terminating:
          p.metadata?.deletionTimestamp !== undefined ||
          ['Succeeded', 'Failed'].includes(p.status?.phase ?? ''),
        hostNetwork: p.spec?.hostNetwork === true,
      })),
      cluster
        ? namespaces.list().map((n) => ({
            name: n.metadata!.name!,
            ...(n.metadata?.labels ? { labels: n.metadata.labels } : {}),
          }))
        : [],
    );
    const plan = diffSlices(
      desired,
      existing.map((x) => ({ name: x.metadata!.name!, endpoints: x.endpoints ?? [] })),
      f.maxNumberEndpointPerSlice,
    );
    const target = { group: GROUP, version: VERSION, plural };
    for (const endpoints of plan.create) {
      const body = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: cluster ? 'EgressClusterEndpointSlice' : 'EgressEndpointSlice',
        metadata: {
          generateName: `${name}-`,
          ...(cluster ? {} : { namespace }),
          labels: { [POLICY_NAME_LABEL]: name },
          ownerReferences: [
            {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: cluster ? 'EgressClusterPolicy' : 'EgressPolicy',
              name,
              uid: policy.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        endpoints,
      };
      const made = (
        cluster
          ? await api.createClusterCustomObject({ ...target, body })
          : await api.createNamespacedCustomObject({ ...target, namespace, body })
      ) as SliceObject;
      sliceWrites.wrote(ref, made);
    }
    // A conflict: someone wrote the slice after us; the next pass waits for the cache to show
    // that. Not found: it is gone, and the next pass recreates what it held.
    const refused = (slice: string) => (err: unknown) => {
      if (err instanceof ApiException && err.code === 409) sliceWrites.superseded(ref, slice);
      if (err instanceof ApiException && err.code === 404) sliceWrites.deleted(ref, slice);
      throw err;
    };
    for (const u of plan.update) {
      const cur = existing.find((x) => x.metadata?.name === u.name)!;
      const body = { ...cur, endpoints: u.endpoints };
      const made = (await (cluster
        ? api.replaceClusterCustomObject({ ...target, name: u.name, body })
        : api.replaceNamespacedCustomObject({ ...target, namespace, name: u.name, body })
      ).catch(refused(u.name))) as SliceObject;
      sliceWrites.wrote(ref, made);
    }
    for (const d of plan.delete) {
      await (cluster
        ? api.deleteClusterCustomObject({ ...target, name: d })
        : api.deleteNamespacedCustomObject({ ...target, namespace, name: d })
      ).catch((err: unknown) => {
        if (!(err instanceof ApiException && err.code === 404)) throw err; // gone already: as wanted
      });
      sliceWrites.deleted(ref, d);
    }
  }

  // ---- EgressClusterInfo/default: the cluster's own ranges.
  async function serviceCidrs(): Promise<string[] | undefined> {
    try {
      const list = await netApi.listServiceCIDR();
      const cidrs = list.items.flatMap((s) => s.spec?.cidrs ?? []);
      if (cidrs.length) return cidrs;
    } catch (err) {
      log.debug({ err: String(err) }, 'ServiceCIDR API unavailable; probing');
    }
    // Older clusters: a dry-run Service with an impossible ClusterIP; the refusal names the range.
    try {
      await coreApi.createNamespacedService({
        namespace: 'default',
        dryRun: 'All',
        body: {
          metadata: { name: 'egressgateway-cidr-probe' },
          spec: { clusterIP: '1.1.1.1', ports: [{ port: 443 }] },
        },
      });
    } catch (err) {
      const text = String((err as { body?: unknown }).body ?? err);
      const m = /valid IPs is ([0-9a-fA-F.:/,\s]+)/.exec(text) ?? /range \(([^)]+)\)/.exec(text);
      if (m) return m[1]!.split(/[,\s]+/).filter(Boolean);
    }
    return undefined;
  }
  async function reconcileClusterInfo(): Promise<void> {
    const info = infos.get('default');
    if (!info) return; // created by the chart; nothing to report into yet
    const spec = (info.spec ?? {}) as ClusterInfoSpec;
    const auto = spec.autoDetect ?? {};
    const status = planClusterInfoStatus({
      spec,
      nodes: nodes.list().map((n) => ({
        name: n.metadata!.name!,
        internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
        podCIDRs: n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []),
      })),
      serviceCidrs: auto.clusterIP === false ? undefined : await serviceCidrs(),
      calicoPools: ['calico', 'auto', undefined].includes(auto.podCidrMode)
        ? await calico.current()
        : undefined,
    });
    await writeStatus(api, { plural: 'egressclusterinfos', name: 'default' }, info, status);
  }

  const stops: (() => void)[] = [];
  return {
    informers,
    synced: Promise.all(informers.map((i) => i.synced)).then(() => undefined),
    start() {
      for (const i of informers) void i.run();
      calico.start();
    },
    async lead(signal) {
      await Promise.all(informers.map((i) => i.synced));
      tunnelQueue.add('*');
      allGateways();
      // A 409 only means our cache was a step behind: the retry reads fresh state.
      const onError = (what: string) => (key: string, err: unknown) => {
        if (isConflict(err)) log.debug({ key }, `${what}: write conflict; retrying`);
        else
          log.warn(
            { key, err: err instanceof Error ? err.message : String(err) },
            `${what} reconcile failed; retrying`,
          );
      };
      const timed = (controller: string, fn: (key: string) => Promise<void>) => async (key: string) => {
        const t0 = process.hrtime.bigint();
        try {
          await fn(key);
          metrics?.reconcileTotal.inc({ controller, result: 'success' });
        } catch (err) {
          metrics?.reconcileTotal.inc({ controller, result: 'error' });
          throw err;
        } finally {
          metrics?.reconcileSeconds.observe({ controller }, Number(process.hrtime.bigint() - t0) / 1e9);
        }
      };
      // Heartbeat timeouts are time-driven, not event-driven: look periodically for tunnels
      // whose phase the clock has changed, and only those get a reconcile.
      const tick = setInterval(() => {
        for (const t of tunnels.list()) {
          const name = t.metadata!.name!;
          if (tunnelPhase(nodes.get(name), t, tunnelAllocated(t)) !== t.status?.phase)
            tunnelQueue.add(`node/${name}`);
        }
      }, Math.max(1, f.gatewayFailover.tunnelMonitorPeriod) * 1000);
      stops.push(() => clearInterval(tick));
      signal.addEventListener('abort', () => {
        for (const q of [tunnelQueue, gatewayQueue, sliceQueue, infoQueue]) q.shutdown();
      });
      await Promise.all([
        runWorkers(tunnelQueue, 4, timed('egresstunnel', reconcileTunnels), onError('tunnel'), isConflict),
        runWorkers(gatewayQueue, 4, timed('egressgateway', reconcileGateway), onError('gateway'), isConflict),
        runWorkers(
          sliceQueue,
          // Each slice write waits a round trip (100-300 ms on a busy apiserver) and requests
          // share one HTTP/2 connection: 16 workers fell behind at 100 pod changes/s (about 150
          // slice writes/s). 64 only moved the queue into an apiserver that was already short
          // of CPU: its round trips doubled and the lag grew (p99 3.3 s against 2.1-2.6 s).
          tuning.sliceWorkers ?? 32,
          timed('egressendpointslice', reconcileSlices),
          onError('endpoint slice'),
          isConflict,
        ),
        runWorkers(
          infoQueue,
          1,
          timed('egressclusterinfo', () => reconcileClusterInfo()),
          onError('cluster info'),
          isConflict,
        ),
      ]);
    },
    stop() {
      for (const s of stops) s();
      for (const q of [tunnelQueue, gatewayQueue, sliceQueue, infoQueue]) q.shutdown();
      for (const i of informers) i.stop();
      calico.stop();
    },
  };
}
