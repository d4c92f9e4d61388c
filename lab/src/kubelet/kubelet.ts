// The lab kubelet: registers its Node, keeps the node Lease and status fresh, and runs the
// pods bound to it. Level-triggered: every sync compares the pods the apiserver binds here
// with the sandboxes and containers that exist, and closes the gap; watch events only make
// the next sync come sooner.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodCondition,
  type V1PodStatus,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from '../../../src/common/log.ts';
import { deletePodNetwork, ensurePodNetwork, hostVethName, type PodSandbox } from '../net/pod-network.ts';
import { findNode, type NodePlan, podAddresses, podNetns, type Topology } from '../net/topology.ts';
import {
  adoptContainer,
  containersIn,
  isAlive,
  logFile,
  type RunningContainer,
  type RuntimeOptions,
  rootfsOf,
  runtimeCapabilities,
  startContainer,
  stopContainer,
} from './container-runtime.ts';
import type { ImageStore } from './image-store.ts';
import { NodeIpam } from './ipam.ts';
import { LEASE_SECONDS, newNode, nodeLease, nodeStatus } from './node-object.ts';
import { type BindMount, ociConfig } from './oci-spec.ts';
import {
  containerEnv,
  type HostInfo,
  materializeVolume,
  type PodLookup,
  podEtcFiles,
  readImageFile,
} from './pod-spec.ts';

export interface KubeletOptions {
  topology: Topology;
  nodeName: string;
  kubeConfig: KubeConfig;
  /** per-node state: IPAM, pod directories, container logs */
  stateDir: string;
  /** the images this node can run (scripts/images.sh built them; `lab up` imported them) */
  images: () => ImageStore;
  runtime: RuntimeOptions;
  /** file where container-init records mount points it had to create on the host */
  createdPathsFile: string;
  log: Logger;
  leaseRenewMs?: number;
  statusUpdateMs?: number;
  resyncMs?: number;
}

interface ContainerState {
  running?: RunningContainer;
  restartCount: number;
  lastExit?: { code: number; at: Date; startedAt: Date };
  waiting?: { reason: string; message: string };
  /** digest of the image the running container was started from */
  imageID?: string;
  notBefore: number;
  /** result of the last readiness probe (true when the container has none) */
  ready?: boolean;
}

interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  dir: string;
  hostNetwork: boolean;
  sandbox?: PodSandbox;
  ips: string[];
  startTime: Date;
  containers: Map<string, ContainerState>;
  lastStatus?: string;
}

interface PodRecordFile {
  uid: string;
  namespace: string;
  name: string;
  hostNetwork: boolean;
  sandbox?: PodSandbox;
  ips: string[];
  startTime: string;
}

const key = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
const MAX_BACKOFF_MS = 60_000;

export class LabKubelet {
  readonly #o: KubeletOptions;
  readonly #plan: NodePlan;
  readonly #core: CoreV1Api;
  readonly #coord: CoordinationV1Api;
  readonly #ipam: NodeIpam;
  readonly #pods = new Map<string, PodRecord>();
  readonly #runtime: RuntimeOptions;
  readonly #readySince = new Date();
  #wake: (() => void) | undefined;
  #stopped = false;
  #apiService: HostInfo['apiService'];

  constructor(o: KubeletOptions) {
    this.#o = o;
    this.#plan = findNode(o.topology, o.nodeName);
    this.#core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.#coord = o.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#ipam = new NodeIpam(join(o.stateDir, 'ipam.json'));
    this.#runtime = o.runtime;
    mkdirSync(this.#podsDir(), { recursive: true });
  }

  #podsDir(): string {
    return join(this.#o.stateDir, 'pods');
  }

  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => {
      this.#stopped = true;
      this.#wake?.();
    });
    this.#loadRecords();
    await this.#retry('register node', () => this.#registerNode());
    const loops = [this.#leaseLoop(), this.#statusLoop(), this.#watchLoop(), this.#syncLoop()];
    await Promise.all(loops);
  }

  async #retry(what: string, fn: () => Promise<void>): Promise<void> {
    let delay = 200;
    while (!this.#stopped) {
      try {
        await fn();
        return;
      } catch (err) {
        this.#o.log.warn({ err: String(err) }, `${what} failed; retrying`);
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async #registerNode(): Promise<void> {
    try {
      await this.#core.readNode({ name: this.#plan.name });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await this.#core.createNode({ body: newNode(this.#plan) });
      this.#o.log.info({ node: this.#plan.name }, 'node registered');
    }
    await this.#postStatus();
  }

  async #postStatus(): Promise<void> {
    await this.#core.patchNodeStatus(
      { name: this.#plan.name, body: { status: nodeStatus(this.#plan, new Date(), this.#readySince) } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async #tick(ms: number): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      const prev = this.#wake;
      this.#wake = () => {
        clearTimeout(t);
        prev?.();
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #leaseLoop(): Promise<void> {
    const every = this.#o.leaseRenewMs ?? 2000;
    while (!this.#stopped) {
      try {
        await this.#renewLease();
      } catch (err) {
        this.#o.log.warn({ err: String(err) }, 'lease renewal failed');
      }
      await sleep(every);
    }
  }

  async #renewLease(): Promise<void> {
    const name = this.#plan.name;
    const namespace = 'kube-node-lease';
    try {
      const lease = await this.#coord.readNamespacedLease({ name, namespace });
      lease.spec = nodeLease(name, undefined, new Date()).spec!;
      await this.#coord.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      const node = await this.#core.readNode({ name });
      await this.#coord.createNamespacedLease({
        namespace,
        body: nodeLease(name, node.metadata?.uid, new Date()),
      });
    }
  }

  async #statusLoop(): Promise<void> {
    const every = this.#o.statusUpdateMs ?? 10_000;
    while (!this.#stopped) {
      await sleep(every);
      try {
        await this.#postStatus();
      } catch (err) {
        if (err instanceof ApiException && err.code === 404)
          await this.#registerNode().catch(() => undefined);
        else this.#o.log.warn({ err: String(err) }, 'node status update failed');
      }
    }
  }

  /** Watch only to be woken early; the periodic sync is what guarantees convergence. */
  async #watchLoop(): Promise<void> {
    const watch = new Watch(this.#o.kubeConfig);
    while (!this.#stopped) {
      const done = new Promise<void>((resolve) => {
        watch
          .watch(
            '/api/v1/pods',
            { fieldSelector: `spec.nodeName=${this.#plan.name}` },
            () => this.#wake?.(),
            () => resolve(),
          )
          .catch(() => resolve());
      });
      await done;
      await sleep(1000);
    }
  }

  async #syncLoop(): Promise<void> {
    const every = this.#o.resyncMs ?? 2000;
    while (!this.#stopped) {
      try {
        await this.syncOnce();
      } catch (err) {
        this.#o.log.warn({ err: String(err) }, 'pod sync failed');
      }
      await this.#tick(every);
    }
  }

  async syncOnce(): Promise<void> {
    const list = await this.#core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${this.#plan.name}`,
    });
    await this.#refreshApiService();
    const seen = new Set<string>();
    for (const pod of list.items) {
      const uid = pod.metadata?.uid;
      if (!uid) continue;
      seen.add(uid);
      try {
        if (pod.metadata?.deletionTimestamp) await this.#killPod(pod);
        else await this.#syncPod(pod);
      } catch (err) {
        this.#o.log.warn({ pod: key(pod), err: String(err) }, 'pod sync failed');
      }
    }
    // Sandboxes of pods that no longer exist (deleted while we were down, or force-deleted).
    for (const [uid, rec] of this.#pods) {
      if (!seen.has(uid)) await this.#teardown(rec, 0);
    }
  }

  async #refreshApiService(): Promise<void> {
    try {
      const svc = await this.#core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
      const host = svc.spec?.clusterIP;
      const port = svc.spec?.ports?.[0]?.port;
      if (host && port) this.#apiService = { host, port };
    } catch {
      // keep the last known value
    }
  }

  #loadRecords(): void {
    for (const uid of readdirSync(this.#podsDir())) {
      const dir = join(this.#podsDir(), uid);
      try {
        const f = JSON.parse(readFileSync(join(dir, 'pod.json'), 'utf8')) as PodRecordFile;
        const rec: PodRecord = {
          uid: f.uid,
          namespace: f.namespace,
          name: f.name,
          dir,
          hostNetwork: f.hostNetwork,
          ips: f.ips,
          startTime: new Date(f.startTime),
          containers: new Map(),
        };
        if (f.sandbox) rec.sandbox = f.sandbox;
        this.#pods.set(uid, rec);
      } catch {
        // a pod directory without a record never got a sandbox: nothing to adopt
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  #saveRecord(rec: PodRecord): void {
    const f: PodRecordFile = {
      uid: rec.uid,
      namespace: rec.namespace,
      name: rec.name,
      hostNetwork: rec.hostNetwork,
      ips: rec.ips,
      startTime: rec.startTime.toISOString(),
    };
    if (rec.sandbox) f.sandbox = rec.sandbox;
    writeFileSync(join(rec.dir, 'pod.json'), `${JSON.stringify(f, null, 1)}\n`);
  }

  #hostIPs(): string[] {
    return [this.#plan.ipv4, this.#plan.ipv6].filter((x): x is string => x !== undefined);
  }

  async #ensureSandbox(pod: V1Pod): Promise<PodRecord> {
    const uid = pod.metadata!.uid!;
    let rec = this.#pods.get(uid);
    if (!rec) {
      rec = {
        uid,
        namespace: pod.metadata!.namespace!,
        name: pod.metadata!.name!,
        dir: join(this.#podsDir(), uid),
        hostNetwork: pod.spec?.hostNetwork === true,
        ips: [],
        startTime: new Date(),
        containers: new Map(),
      };
      mkdirSync(rec.dir, { recursive: true });
      this.#pods.set(uid, rec);
    }
    if (rec.hostNetwork) {
      rec.ips = this.#hostIPs();
    } else {
      const n = this.#ipam.allocate(uid);
      const addrs = podAddresses(this.#plan, n);
      rec.sandbox = {
        netns: podNetns(uid),
        hostVeth: hostVethName(this.#o.topology.options.cni, rec.namespace, rec.name),
        ...addrs,
      };
      rec.ips = [addrs.ipv4, addrs.ipv6].filter((x): x is string => x !== undefined);
      await ensurePodNetwork(this.#o.topology, this.#plan, rec.sandbox);
    }
    this.#saveRecord(rec);
    return rec;
  }

  #lookup(): PodLookup {
    const core = this.#core;
    const notFound = (err: unknown) => err instanceof ApiException && err.code === 404;
    return {
      async configMap(namespace, name) {
        try {
          return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
        } catch (err) {
          if (notFound(err)) return undefined;
          throw err;
        }
      },
      async secret(namespace, name) {
        try {
          const data = (await core.readNamespacedSecret({ name, namespace })).data ?? {};
          return Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
          );
        } catch (err) {
          if (notFound(err)) return undefined;
          throw err;
        }
      },
      async serviceAccountToken(pod, audience, seconds) {
        const res = await core.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? 'default',
          namespace: pod.metadata!.namespace!,
          body: {
            spec: {
              audiences: audience ? [audience] : [],
              expirationSeconds: seconds,
              boundObjectRef: {
                apiVersion: 'v1',
                kind: 'Pod',
                name: pod.metadata!.name!,
                uid: pod.metadata!.uid!,
              },
            },
          },
        });
        return res.status?.token ?? '';
      },
    };
  }

  async #startContainer(pod: V1Pod, rec: PodRecord, c: V1Container, st: ContainerState): Promise<void> {
    const store = this.#o.images();
    const image = store.find(c.image ?? '');
    if (!image) {
      // What a kubelet reports for an image that is not on the node and may not be pulled:
      // the lab pulls nothing, it has only the images scripts/images.sh built.
      st.waiting = {
        reason: 'ErrImageNeverPull',
        message: `image "${c.image}" is not in the lab's image store (it has ${store.refs().join(', ') || 'none'}); build ours with scripts/images.sh build`,
      };
      st.notBefore = Date.now() + 5000;
      return;
    }
    const host: HostInfo = { hostIPs: this.#hostIPs(), podIPs: rec.ips };
    if (this.#apiService) host.apiService = this.#apiService;
    const lookup = this.#lookup();
    const env = await containerEnv(pod, c, host, lookup);
    const volumesDir = join(rec.dir, 'volumes');
    const sources = new Map<string, string>();
    for (const v of pod.spec?.volumes ?? []) {
      if ((c.volumeMounts ?? []).some((m) => m.name === v.name)) {
        sources.set(
          v.name,
          await materializeVolume(pod, v, volumesDir, lookup, host, this.#o.createdPathsFile),
        );
      }
    }
    const mounts: BindMount[] = (c.volumeMounts ?? []).map((m) => {
      const src = sources.get(m.name);
      if (!src) throw new Error(`volumeMount ${m.name}: no such volume in the pod`);
      return {
        source: m.subPath ? join(src, m.subPath) : src,
        target: m.mountPath,
        readOnly: m.readOnly === true,
      };
    });
    const hostname = rec.hostNetwork ? this.#plan.name : rec.name;
    mounts.push(...podEtcFiles(rec.dir, hostname, rec.ips));
    const netns = rec.hostNetwork ? this.#plan.netns : rec.sandbox!.netns;
    const config = ociConfig({
      container: c,
      ...(pod.spec?.securityContext ? { podSecurityContext: pod.spec.securityContext } : {}),
      image: image.config,
      env,
      mounts,
      rootfs: rootfsOf(rec.dir, c.name),
      netnsPath: `/run/netns/${netns}`,
      hostname,
      hostCaps: runtimeCapabilities(),
      passwd: readImageFile(image.rootfs, 'etc/passwd'),
      group: readImageFile(image.rootfs, 'etc/group'),
    });
    st.running = await startContainer(this.#runtime, rec.dir, c.name, image.rootfs, config);
    st.imageID = image.digest;
    delete st.waiting;
    this.#o.log.info(
      { pod: `${rec.namespace}/${rec.name}`, container: c.name, image: image.ref, pid: st.running.pid },
      'container started',
    );
  }

  async #syncPod(pod: V1Pod): Promise<void> {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const rec = await this.#ensureSandbox(pod);
    const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
    for (const c of pod.spec?.containers ?? []) {
      let st = rec.containers.get(c.name);
      if (!st) {
        st = { restartCount: 0, notBefore: 0 };
        const adopted = adoptContainer(rec.dir, c.name);
        if (adopted) st.running = adopted;
        rec.containers.set(c.name, st);
      }
      if (st.running && !isAlive(rec.dir, c.name, st.running)) {
        const code = st.running.exit?.code ?? 1;
        st.lastExit = { code, at: st.running.exit?.at ?? new Date(), startedAt: st.running.startedAt };
        delete st.running;
        const again = restartPolicy === 'Always' || (restartPolicy === 'OnFailure' && code !== 0);
        if (!again) continue;
        st.restartCount++;
        // CrashLoopBackOff: 10 s doubling up to 5 min in a kubelet; shorter here, same shape.
        st.notBefore = Date.now() + Math.min(1000 * 2 ** Math.min(st.restartCount - 1, 6), MAX_BACKOFF_MS);
        st.waiting = { reason: 'CrashLoopBackOff', message: `back-off restarting (exit code ${code})` };
      }
      const finished =
        st.lastExit !== undefined &&
        (restartPolicy === 'Never' || (restartPolicy === 'OnFailure' && st.lastExit.code === 0));
      if (!st.running && !finished && Date.now() >= st.notBefore) {
        try {
          await this.#startContainer(pod, rec, c, st);
        } catch (err) {
          st.waiting = { reason: 'CreateContainerConfigError', message: String(err) };
          st.notBefore = Date.now() + 5000;
        }
      }
    }
    for (const c of pod.spec?.containers ?? []) {
      const st = rec.containers.get(c.name);
      if (st) st.ready = st.running !== undefined && (await this.#probe(c, rec));
    }
    await this.#reportStatus(pod, rec);
  }

  /** The readiness probe, as a kubelet runs it from the node: httpGet or tcpSocket. */
  async #probe(c: V1Container, rec: PodRecord): Promise<boolean> {
    const probe = c.readinessProbe ?? c.startupProbe;
    if (!probe) return true;
    const host = rec.ips[0];
    if (!host) return false;
    const resolvePort = (p: number | string | undefined) =>
      typeof p === 'number' ? p : Number(c.ports?.find((x) => x.name === p)?.containerPort ?? p);
    const timeoutMs = Math.min((probe.timeoutSeconds ?? 1) * 1000, 2000);
    if (probe.httpGet) {
      const port = resolvePort(probe.httpGet.port as number | string);
      const scheme = (probe.httpGet.scheme ?? 'HTTP').toLowerCase();
      const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${probe.httpGet.path ?? '/'}`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        return res.status >= 200 && res.status < 400;
      } catch {
        return false;
      }
    }
    if (probe.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port as number | string);
      const { connect } = await import('node:net');
      return new Promise((resolve) => {
        const sock = connect({ host, port, timeout: timeoutMs });
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
        sock.once('timeout', () => {
          sock.destroy();
          resolve(false);
        });
      });
    }
    return true;
  }

  #containerStatus(c: V1Container, st: ContainerState | undefined): V1ContainerStatus {
    const base = {
      name: c.name,
      image: c.image ?? '',
      imageID: st?.imageID ?? '',
      containerID: `runc://${c.name}`,
      restartCount: st?.restartCount ?? 0,
    };
    const last = st?.lastExit
      ? {
          lastState: {
            terminated: {
              exitCode: st.lastExit.code,
              reason: st.lastExit.code === 0 ? 'Completed' : 'Error',
              startedAt: st.lastExit.startedAt,
              finishedAt: st.lastExit.at,
            },
          },
        }
      : {};
    if (st?.running) {
      return {
        ...base,
        ...last,
        ready: st.ready ?? false,
        started: true,
        state: { running: { startedAt: st.running.startedAt } },
      };
    }
    if (st?.lastExit && !st.waiting) {
      return {
        ...base,
        ready: false,
        started: false,
        state: {
          terminated: {
            exitCode: st.lastExit.code,
            reason: st.lastExit.code === 0 ? 'Completed' : 'Error',
            startedAt: st.lastExit.startedAt,
            finishedAt: st.lastExit.at,
          },
        },
      };
    }
    return {
      ...base,
      ...last,
      ready: false,
      started: false,
      state: { waiting: st?.waiting ?? { reason: 'ContainerCreating', message: '' } },
    };
  }

  async #reportStatus(pod: V1Pod, rec: PodRecord): Promise<void> {
    const containers = pod.spec?.containers ?? [];
    const statuses = containers.map((c) => this.#containerStatus(c, rec.containers.get(c.name)));
    const allReady = statuses.every((s) => s.ready);
    const allDone = statuses.every((s) => s.state?.terminated);
    const phase = allDone
      ? statuses.every((s) => s.state?.terminated?.exitCode === 0)
        ? 'Succeeded'
        : 'Failed'
      : statuses.some((s) => s.state?.running)
        ? 'Running'
        : 'Pending';
    const cond = (type: string, ok: boolean): V1PodCondition => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: rec.startTime,
    });
    const status: V1PodStatus = {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', true),
        cond('Initialized', true),
        cond('Ready', allReady),
        cond('ContainersReady', allReady),
        cond('PodScheduled', true),
      ],
      hostIP: this.#hostIPs()[0]!,
      hostIPs: this.#hostIPs().map((ip) => ({ ip })),
      podIP: rec.ips[0]!,
      podIPs: rec.ips.map((ip) => ({ ip })),
      startTime: rec.startTime,
      containerStatuses: statuses,
      qosClass: pod.status?.qosClass ?? 'BestEffort',
    };
    const fingerprint = JSON.stringify(status);
    if (fingerprint === rec.lastStatus && pod.status?.phase === phase) return;
    await this.#core.patchNamespacedPodStatus(
      { name: rec.name, namespace: rec.namespace, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    rec.lastStatus = fingerprint;
    if (phase === 'Succeeded' || phase === 'Failed') await this.#teardown(rec, 0, { keepRecord: false });
  }

  async #killPod(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    const rec = this.#pods.get(uid);
    const graceSeconds = Math.min(pod.metadata?.deletionGracePeriodSeconds ?? 30, 30);
    if (rec) await this.#teardown(rec, graceSeconds * 1000);
    try {
      await this.#core.deleteNamespacedPod({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        // In the body: the apiserver ignores query parameters when a DeleteOptions body is
        // sent, and a grace period left at its default keeps the pod Terminating for ever.
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
    } catch (err) {
      if (!(err instanceof ApiException && (err.code === 404 || err.code === 409))) throw err;
    }
  }

  async #teardown(rec: PodRecord, graceMs: number, opts: { keepRecord?: boolean } = {}): Promise<void> {
    for (const name of this.#containerNames(rec)) {
      const st = rec.containers.get(name);
      const running = st?.running ?? adoptContainer(rec.dir, name);
      await stopContainer(this.#runtime, rec.dir, name, running, graceMs);
      if (st) delete st.running;
    }
    if (rec.sandbox) await deletePodNetwork(this.#plan, rec.sandbox);
    this.#ipam.release(rec.uid);
    if (opts.keepRecord === false) {
      // finished pods keep their logs until the pod object is deleted
      delete rec.sandbox;
      this.#saveRecord(rec);
      return;
    }
    this.#pods.delete(rec.uid);
    rmSync(rec.dir, { recursive: true, force: true });
  }

  #containerNames(rec: PodRecord): string[] {
    return [...new Set([...rec.containers.keys(), ...containersIn(rec.dir)])];
  }

  static logFileOf(stateDir: string, uid: string, container: string): string {
    return logFile(join(stateDir, 'pods', uid), container);
  }
}

export const NODE_LEASE_SECONDS = LEASE_SECONDS;
