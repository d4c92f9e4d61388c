// The agent's loop: caches of the egress objects → plan (pure) → kernel (diffs only).
// Level-triggered: any change schedules one sync of everything; a periodic sync repairs
// what someone else changed in the kernel. The agent also reports its underlay interface
// and a heartbeat in its own EgressTunnel status, which makes the tunnel Ready.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { eipKey, POLICY_NAME_LABEL } from '../api/contracts.ts';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';
import type {
  EgressClusterInfo,
  EgressClusterPolicy,
  EgressEndpointSlice,
  EgressGateway,
  EgressPolicy,
  EgressTunnel,
} from '../api/types.generated.ts';
import type { Config } from '../common/config.ts';
import { canonicalIp, type Family } from '../common/ip.ts';
import type { Logger } from '../common/log.ts';
import { crdInformer } from '../k8s/crd-informer.ts';
import type { EipCandidates } from './failover/decide.ts';
import { FailoverRunner } from './failover/runner.ts';
import { excludedInterfaces, parentMethod } from './interfaces.ts';
import type { Kernel } from './kernel.ts';
import { disableTxChecksumOffload } from './offload.ts';
import { NftBackend, type PacketBackend } from './packet-backend.ts';
import { type DatapathPlan, type ParentInterface, planDatapath, type SliceView } from './planner.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface AgentOptions {
  kc: KubeConfig;
  config: Config;
  kernel: Kernel;
  /** the packet-filter backend (default: nftables) */
  packets?: PacketBackend;
  log: Logger;
  /** full re-apply period (repairs outside changes); default 30 s */
  resyncMs?: number;
  onSync?: (seconds: number, ok: boolean) => void;
  /** after each applied sync: EIPs announced here, and how many were new */
  onAnnounce?: (announced: number, added: number) => void;
  /** the cluster's failover probe key(s), signing key first; required with fast failover */
  probeKeys?: () => readonly Buffer[];
}

export interface Agent {
  start(): Promise<void>;
  /** stops watching; removes the datapath only if this node's tunnel is gone */
  stop(): Promise<void>;
  /** true after the first complete sync */
  ready(): boolean;
  /** the last plan applied (for tests and egctl) */
  lastPlan(): DatapathPlan | undefined;
}

export function createAgent(o: AgentOptions): Agent {
  const { kc, config, kernel, log } = o;
  const f = config.feature;
  const node = config.env.nodeName;
  const packets = o.packets ?? new NftBackend(kernel, { markBase: f.mark, vxlanName: f.vxlan.name });
  const families: Family[] = [...(f.enableIPv4 ? [4 as const] : []), ...(f.enableIPv6 ? [6 as const] : [])];
  const informerOf = <T>(plural: string, kind: string) =>
    crdInformer<T & KubernetesObject>(kc, plural, kind, log);
  const tunnels = informerOf<EgressTunnel>('egresstunnels', 'EgressTunnel');
  const policies = informerOf<EgressPolicy>('egresspolicies', 'EgressPolicy');
  const clusterPolicies = informerOf<EgressClusterPolicy>('egressclusterpolicies', 'EgressClusterPolicy');
  const slices = informerOf<EgressEndpointSlice>('egressendpointslices', 'EgressEndpointSlice');
  const clusterSlices = informerOf<EgressEndpointSlice>(
    'egressclusterendpointslices',
    'EgressClusterEndpointSlice',
  );
  const infos = informerOf<EgressClusterInfo>('egressclusterinfos', 'EgressClusterInfo');
  const gateways = informerOf<EgressGateway>('egressgateways', 'EgressGateway');
  const all = [tunnels, policies, clusterPolicies, slices, clusterSlices, infos, gateways];
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const excluded = excludedInterfaces(f.announcedInterfacesToExclude);
  /** the parent detection method for this node (tunnelDetectCustomInterface by its labels) */
  let method = f.tunnelDetectMethod;
  let lastSilenced = '';

  let stopped = false;
  let isReady = false;
  let plan: DatapathPlan | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let lastFull = 0;
  let lastBeat = 0;
  let lastProblems = '';
  let sysctlsDone = false;
  let parent: ParentInterface | undefined;
  /**
   * Where EIPs are announced: the default route's device, whose subnet the EIP pools are in
   * (the seed's guidance). It is the tunnel parent unless tunnelDetectMethod or
   * tunnelDetectCustomInterface name another interface for the tunnel.
   */
  let uplinkIf: ParentInterface | undefined;
  /** what the kernel got last, per part of the plan (JSON) */
  const applied = { links: '', announce: '' };
  let tornDown = false;
  const resyncMs = o.resyncMs ?? 30_000;

  const schedule = (delayMs = 50) => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = syncOnce().finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
    }, delayMs);
  };

  const underlayFamily = f.enableIPv4 ? 4 : 6;
  const { probeKeys } = o;
  if (f.fastFailover.enable && !probeKeys)
    throw new Error('fastFailover.enable: fast failover needs the cluster probe key (probeKeys)');
  const failover =
    f.fastFailover.enable && probeKeys
      ? new FailoverRunner({
          self: node,
          config: f.fastFailover,
          family: underlayFamily,
          log,
          keys: probeKeys,
          onDecision: () => schedule(0),
        })
      : undefined;

  /** Peers' underlay addresses and the controller's EIP candidate lists, for failover. */
  function failoverInputs(): [Map<string, string>, EipCandidates[]] {
    const peers = new Map<string, string>();
    for (const t of tunnels.list()) {
      const ip = canonicalIp(
        String(t.status?.tunnel?.parent?.[underlayFamily === 4 ? 'ipv4' : 'ipv6'] ?? ''),
      );
      const name = t.metadata?.name ?? '';
      if (ip && name) peers.set(name, ip);
    }
    const candidates: EipCandidates[] = [];
    for (const g of gateways.list()) {
      for (const c of Array.isArray(g.status?.eipCandidates) ? g.status.eipCandidates : []) {
        const nodes = Array.isArray(c?.nodes)
          ? c.nodes.filter((n): n is string => typeof n === 'string')
          : [];
        candidates.push({ key: eipKey(c?.ipv4, c?.ipv6), nodes });
      }
    }
    return [peers, candidates];
  }

  const sliceViews = (): SliceView[] => [
    ...slices.list().map((s) => ({
      policyKey: `${s.metadata?.namespace ?? ''}/${s.metadata?.labels?.[POLICY_NAME_LABEL] ?? ''}`,
      endpoints: Array.isArray(s.endpoints) ? s.endpoints : [],
    })),
    ...clusterSlices.list().map((s) => ({
      policyKey: s.metadata?.labels?.[POLICY_NAME_LABEL] ?? '',
      endpoints: Array.isArray(s.endpoints) ? s.endpoints : [],
    })),
  ];

  /** Own tunnel status: the underlay interface, and a heartbeat when failover needs one. */
  async function report(parent: ParentInterface | undefined): Promise<void> {
    const own = tunnels.get(node);
    if (!own || !parent) return;
    const cur = own.status?.tunnel?.parent;
    const same = cur?.name === parent.name && cur?.ipv4 === parent.ipv4 && cur?.ipv6 === parent.ipv6;
    const beatDue =
      f.gatewayFailover.enable && Date.now() - lastBeat >= f.gatewayFailover.tunnelUpdatePeriod * 1000;
    if (same && !beatDue) return;
    const now = new Date().toISOString();
    await custom.patchClusterCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: 'egresstunnels',
        name: node,
        body: {
          status: {
            tunnel: { parent: { name: parent.name, ipv4: parent.ipv4 ?? null, ipv6: parent.ipv6 ?? null } },
            lastHeartbeatTime: now,
          },
        },
      },
      mergePatch,
    );
    lastBeat = Date.now();
  }

  async function syncOnce(): Promise<void> {
    const t0 = performance.now();
    try {
      if (!sysctlsDone) {
        if (f.enableIPv4) await kernel.sysctl('net/ipv4/ip_forward', '1');
        if (f.enableIPv6) await kernel.sysctl('net/ipv6/conf/all/forwarding', '1');
        sysctlsDone = true;
      }
      const full = Date.now() - lastFull >= resyncMs;
      // Under pod churn most syncs change only the nft sets: the underlay, the tunnel, its
      // peers and routes and the announcements are re-read and re-applied only when their
      // part of the plan changed, and on every periodic full pass.
      if (full || !parent) {
        // Node labels can change: the custom parent is re-chosen on every full pass.
        if (f.tunnelDetectCustomInterface.length > 0) {
          const labels = (await core.readNode({ name: node })).metadata?.labels ?? {};
          method = parentMethod(f.tunnelDetectMethod, f.tunnelDetectCustomInterface, labels);
        }
        parent = await kernel.detectParent(method, families);
        uplinkIf =
          method === 'defaultRouteInterface'
            ? parent
            : ((await kernel.detectParent('defaultRouteInterface', families).catch(() => undefined)) ??
              parent);
      }
      if (!tunnels.get(node)) {
        // No identity for this node (node removed, or the product uninstalled): nothing
        // may stay behind. A fresh node has nothing to remove, so this is cheap there.
        if (!tornDown) {
          await packets.remove();
          await kernel.teardown(f.vxlan.name, f.mark, families, uplinkIf?.name);
          log.info('no EgressTunnel for this node: datapath removed');
          tornDown = true;
          applied.links = applied.announce = '';
        }
        plan = undefined;
        isReady = true;
        o.onSync?.((performance.now() - t0) / 1000, true);
        return;
      }
      tornDown = false;
      await report(parent);
      if (failover) failover.update(...failoverInputs());
      const next = planDatapath(
        {
          node,
          families: { ipv4: f.enableIPv4, ipv6: f.enableIPv6 },
          vxlan: f.vxlan,
          markBase: f.mark,
          tunnelSubnets: {
            ...(f.enableIPv4 ? { ipv4: f.tunnelIpv4Subnet } : {}),
            ...(f.enableIPv6 ? { ipv6: f.tunnelIpv6Subnet } : {}),
          },
        },
        {
          ...(parent ? { parent } : {}),
          tunnels: tunnels.list(),
          policies: policies.list(),
          clusterPolicies: clusterPolicies.list(),
          slices: sliceViews(),
          ...(infos.get('default') ? { clusterInfo: infos.get('default')! } : {}),
          ...(failover ? { failover: failover.view() } : {}),
        },
      );
      const problems = next.problems.join('\n');
      if (problems !== lastProblems) {
        if (problems) log.warn({ problems: next.problems }, 'skipped what does not parse or is not ready');
        lastProblems = problems;
      }
      // Without our own tunnel identity there is no tunnel to route into yet; the packet
      // rules still apply (SNAT on this node needs no tunnel).
      const links = JSON.stringify([next.vxlan, next.peers, next.routes]);
      if (next.vxlan && (full || links !== applied.links)) {
        await kernel.applyVxlan(next.vxlan, families);
        if (f.vxlan.disableChecksumOffload && (await disableTxChecksumOffload(next.vxlan.name))) {
          log.info(
            { device: next.vxlan.name },
            'TX checksum offload turned off (vxlan.disableChecksumOffload)',
          );
        }
        await kernel.applyPeers(next.vxlan.name, next.peers);
        await kernel.applyRoutes(next.vxlan.name, next.routes, f.mark, families);
        applied.links = links;
      }
      // announcedInterfacesToExclude: no ARP/NDP answers on such an uplink (the EIPs are still
      // SNATed here: the network must route them to this node some other way).
      const silenced = uplinkIf && excluded?.test(uplinkIf.name) ? uplinkIf.name : '';
      const announce = silenced ? [] : next.announce;
      const silencedNote = silenced && next.announce.length ? `${silenced} ${next.announce.join(',')}` : '';
      if (silencedNote !== lastSilenced) {
        if (silencedNote)
          log.warn(
            { interface: silenced, eips: next.announce },
            'EIPs not announced: the uplink matches announcedInterfacesToExclude',
          );
        lastSilenced = silencedNote;
      }
      if (f.enableIPv6 && uplinkIf && announce.some((ip) => ip.includes(':'))) {
        await kernel.sysctl(`net/ipv6/conf/${uplinkIf.name}/proxy_ndp`, '1');
        await kernel.sysctl(`net/ipv6/neigh/${uplinkIf.name}/proxy_delay`, '0');
      }
      await packets.apply(next, full);
      const announced = JSON.stringify([uplinkIf, announce]);
      if (uplinkIf && (full || announced !== applied.announce)) {
        const added = await kernel.applyAnnounce(uplinkIf.name, announce, families);
        const on = uplinkIf.name;
        applied.announce = announced;
        failover?.setHolding(next.held);
        o.onAnnounce?.(announce.length, added.length);
        for (const ip of added) {
          log.info({ eip: ip, interface: on }, 'EIP announced here');
          void kernel.announceTakeover(on, ip).catch((err: unknown) => {
            log.warn({ eip: ip, err: String(err) }, 'gratuitous ARP / unsolicited NA failed');
          });
        }
      }
      if (full) lastFull = Date.now();
      plan = next;
      isReady = true;
      o.onSync?.((performance.now() - t0) / 1000, true);
    } catch (err) {
      // the next attempt re-reads and re-applies everything
      applied.links = applied.announce = '';
      parent = undefined;
      log.error({ err: String(err) }, 'datapath sync failed; retrying');
      o.onSync?.((performance.now() - t0) / 1000, false);
      clearTimeout(timer);
      timer = setTimeout(() => schedule(0), 1000);
    }
  }

  let tick: NodeJS.Timeout | undefined;
  let recheck: NodeJS.Timeout | undefined;
  return {
    async start() {
      for (const i of all) {
        i.onChange(() => schedule());
        void i.run();
      }
      await Promise.all(all.map((i) => i.synced));
      await failover?.start();
      schedule(0);
      // The periodic pass: heartbeats, repairs, interface changes.
      const every = Math.min(
        resyncMs,
        f.gatewayFailover.enable ? f.gatewayFailover.tunnelUpdatePeriod * 1000 : resyncMs,
      );
      tick = setInterval(() => schedule(0), every);
      // A link flap of the uplink drops its proxy entries without any change in the plan:
      // forget what was announced every couple of seconds so the next sync re-checks it.
      recheck = setInterval(() => {
        if (applied.announce && plan?.announce.length) {
          applied.announce = '';
          schedule(0);
        }
      }, 2000);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(tick);
      clearInterval(recheck);
      for (const i of all) i.stop();
      await running;
      failover?.stop();
      // With fast failover the next candidate takes our EIPs within deadAfterMs: stop
      // answering for them first, so two nodes never do at once.
      // The uplink as the last sync saw it; detected afresh only if no sync got that far.
      const uplink = async () =>
        (
          uplinkIf ??
          (await kernel.detectParent('defaultRouteInterface', families).catch(() => undefined)) ??
          (await kernel.detectParent(method, families).catch(() => undefined))
        )?.name;
      if (failover && failover.holding().size > 0 && !tornDown) {
        const name = await uplink();
        if (name) await kernel.applyAnnounce(name, [], families).catch(() => undefined);
        log.info({ eips: [...failover.holding()] }, 'stopping: EIPs withdrawn for the next candidate');
      }
      // Uninstall deletes the tunnels before the agents: if ours is gone, leave nothing
      // behind. Any other stop (restart, upgrade, node drain) keeps the datapath as it is.
      if (tornDown) return;
      try {
        await custom.getClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egresstunnels',
          name: node,
        });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) return;
        await packets.remove();
        await kernel.teardown(f.vxlan.name, f.mark, families, await uplink());
        log.info('no EgressTunnel for this node at shutdown: datapath removed');
      }
    },
    ready: () => isReady,
    lastPlan: () => plan,
  };
}
