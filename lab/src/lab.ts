// Brings the whole lab up and down: network, control plane (in the control-plane node's
// namespace), one kubelet and one kube-proxy per node, and the external host's server.
// Also the faults: power a node off/on, partition/heal it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.ts';
import { ensureCalicoApi } from './calico/install.ts';
import {
  type ControlPlane,
  destroyControlPlane,
  loadState as loadControlPlaneState,
  startControlPlane,
} from './controlplane/controlplane.ts';
import { isRunning, type ManagedProcess, startProcess, stopProcess } from './controlplane/processes.ts';
import {
  deleteAllContainers,
  prepareBundle,
  rootfsOf,
  runtimeCapabilities,
  stopAllIn,
  unmountAllUnder,
} from './kubelet/container-runtime.ts';
import { ImageStore, importBuiltImages } from './kubelet/image-store.ts';
import { ociConfig } from './kubelet/oci-spec.ts';
import { readImageFile } from './kubelet/pod-spec.ts';
import { type LabState, readLabState, writeLabState } from './lab-state.ts';
import { flanneldArgs, flannelNetConf, missingFlannelRoutes } from './net/flannel.ts';
import { deleteAllLabNetns, deleteNetns, pidsInNetns } from './net/netns.ts';
import {
  findNode,
  type NodePlan,
  planTopology,
  podNetns,
  type Topology,
  type TopologyOptions,
} from './net/topology.ts';
import { ensureNode, ensureRouter, setNodeLinks, setRouterPort, unplug } from './net/underlay.ts';
import {
  builtImageRef,
  builtImagesDir,
  flanneldBinary,
  imageStoreDir,
  kubeBinary,
  runtimeOptions,
  unpackedImagesDir,
} from './paths.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KUBELET = join(REPO, 'lab/src/kubelet/main.ts');
const FELIX = join(REPO, 'lab/src/calico/felix.ts');
/** How long a silent node stays Ready: short, so failover tests do not wait 40 s. */
export const NODE_MONITOR_GRACE = '20s';

export function labDir(): string {
  return process.env['EGW_LAB_DIR'] ?? '/run/egressgateway-lab';
}

export const controlPlaneDir = (dir = labDir()) => join(dir, 'control-plane');

function sameOptions(a: TopologyOptions, b: TopologyOptions): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function nodeDir(dir: string, node: string): string {
  return join(dir, 'nodes', node);
}

function kubeProxyConfig(t: Topology, n: NodePlan, kubeconfig: string): string {
  // conntrack tuning off: those sysctls are the machine's business, not a lab node's.
  return `${JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig },
      hostnameOverride: n.name,
      clusterCIDR: t.clusterPodCidrs.join(','),
      bindAddress: n.ipv4 ?? '::',
      healthzBindAddress: '',
      metricsBindAddress: '127.0.0.1:10249',
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
        udpTimeout: '0s',
        udpStreamTimeout: '0s',
      },
      iptables: { localhostNodePorts: false, syncPeriod: '30s', minSyncPeriod: '0s' },
    },
    null,
    2,
  )}\n`;
}

function record(state: LabState, p: ManagedProcess): void {
  state.processes = [...state.processes.filter((q) => q.name !== p.name), p];
}

function findProcess(state: LabState, name: string): ManagedProcess | undefined {
  return state.processes.find((p) => p.name === name);
}

async function startNodeProcesses(
  dir: string,
  state: LabState,
  cp: ControlPlane,
  n: NodePlan,
): Promise<void> {
  const nd = nodeDir(dir, n.name);
  mkdirSync(nd, { recursive: true });
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const kubeletKc = join(nd, 'kubelet.kubeconfig');
  if (!existsSync(kubeletKc)) {
    await cp.writeUserKubeconfig(
      kubeletKc,
      { commonName: `system:node:${n.name}`, organizations: ['system:nodes'] },
      { inCluster: true },
    );
  }
  const proxyKc = join(nd, 'kube-proxy.kubeconfig');
  if (!existsSync(proxyKc)) {
    await cp.writeUserKubeconfig(proxyKc, { commonName: 'system:kube-proxy' }, { inCluster: true });
  }
  const proxyConf = join(nd, 'kube-proxy.yaml');
  // kube-proxy exits when its config file is written to, even with the same bytes.
  const conf = kubeProxyConfig(state.topology, n, proxyKc);
  if (!existsSync(proxyConf) || readFileSync(proxyConf, 'utf8') !== conf) writeFileSync(proxyConf, conf);
  const kubelet = findProcess(state, `kubelet-${n.name}`);
  if (!kubelet || !isRunning(kubelet)) {
    record(
      state,
      startProcess({
        name: `kubelet-${n.name}`,
        binary: process.execPath,
        args: [KUBELET, '--lab-dir', dir, '--node', n.name],
        logFile: join(logs, `kubelet-${n.name}.log`),
        netns: n.netns,
        netOnly: true,
      }),
    );
  }
  const proxy = findProcess(state, `kube-proxy-${n.name}`);
  if (!proxy || !isRunning(proxy)) {
    record(
      state,
      startProcess({
        name: `kube-proxy-${n.name}`,
        binary: kubeBinary('kube-proxy'),
        args: [`--config=${proxyConf}`, '--v=0'],
        logFile: join(logs, `kube-proxy-${n.name}.log`),
        netns: n.netns,
      }),
    );
  }
}

/**
 * The real flanneld on a registered node (it reads the Node's podCIDR). Its identity is the
 * lab's own, in system:masters: a stand-in for flannel's ClusterRole, not part of what we test.
 */
async function startFlannel(dir: string, state: LabState, cp: ControlPlane, n: NodePlan): Promise<void> {
  const running = findProcess(state, `flanneld-${n.name}`);
  if (running && isRunning(running)) return;
  const nd = nodeDir(dir, n.name);
  const kubeconfig = join(nd, 'flannel.kubeconfig');
  if (!existsSync(kubeconfig)) {
    await cp.writeUserKubeconfig(
      kubeconfig,
      { commonName: `lab:flannel:${n.name}`, organizations: ['system:masters'] },
      { inCluster: true },
    );
  }
  const netConf = join(nd, 'net-conf.json');
  writeFileSync(netConf, flannelNetConf(state.topology));
  record(
    state,
    startProcess({
      name: `flanneld-${n.name}`,
      binary: flanneldBinary(),
      args: flanneldArgs({ kubeconfig, netConf, subnetFile: join(nd, 'flannel-subnet.env') }),
      logFile: join(dir, 'logs', `flanneld-${n.name}.log`),
      netns: n.netns,
      env: { ...process.env, NODE_NAME: n.name },
    }),
  );
}

/** Calico's API (CRDs and default objects) and the lab's Felix stand-in that follows it. */
async function startFelix(dir: string, state: LabState, cp: ControlPlane): Promise<void> {
  await ensureCalicoApi(loadKubeConfig(cp.kubeconfigPath), state.topology);
  const running = findProcess(state, 'calico-felix');
  if (running && isRunning(running)) return;
  record(
    state,
    startProcess({
      name: 'calico-felix',
      binary: process.execPath,
      args: [FELIX, '--lab-dir', dir],
      logFile: join(dir, 'logs', 'calico-felix.log'),
    }),
  );
}

/** Until every node routes every other node's pods through flannel.1. */
async function waitFlannelRoutes(t: Topology, nodes: NodePlan[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = (
      await Promise.all(
        nodes.map(async (n) => (await missingFlannelRoutes(t, n)).map((c) => `${n.name} → ${c}`)),
      )
    ).flat();
    if (missing.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `flannel routes missing after ${timeoutMs / 1000}s: ${missing.join(', ')}; see logs/flanneld-*.log`,
      );
    await sleep(250);
  }
}

async function stopNodeProcesses(dir: string, state: LabState, n: NodePlan): Promise<void> {
  for (const name of [`kubelet-${n.name}`, `kube-proxy-${n.name}`, `flanneld-${n.name}`]) {
    const p = findProcess(state, name);
    if (p) await stopProcess(p, 2000);
    state.processes = state.processes.filter((q) => q.name !== name);
  }
  // A powered-off node's containers die with it.
  const pods = join(nodeDir(dir, n.name), 'pods');
  if (existsSync(pods))
    for (const uid of readdirSync(pods)) await stopAllIn(runtimeOptions(dir), join(pods, uid), 0);
}

/**
 * The external host's echo server: our nettools image, run with runc in the external
 * namespace as the seed runs it (`docker run -d --net=host IMAGE /usr/bin/nettools-server …`).
 */
async function startExternalServer(dir: string, state: LabState, images: ImageStore): Promise<void> {
  const existing = findProcess(state, 'external-nettools');
  if (existing && isRunning(existing)) return;
  const ref = builtImageRef('nettools');
  const image = images.find(ref);
  if (!image) throw new Error(`the lab's image store has no ${ref}: run "bash scripts/images.sh build"`);
  const bundles = join(dir, 'external');
  const container = 'nettools';
  const config = ociConfig({
    // Web on 8080 as in the seed; TCP moves to 8082 (its default 8080 is taken by web), UDP stays on 8081.
    container: {
      name: container,
      command: ['/usr/bin/nettools-server'],
      args: ['-protocol', 'all', '-webPort', '8080', '-tcpPort', '8082', '-udpPort', '8081'],
    },
    image: image.config,
    env: { HOSTNAME: 'external' },
    mounts: [],
    rootfs: rootfsOf(bundles, container),
    netnsPath: `/run/netns/${state.topology.externalNetns}`,
    hostname: 'external',
    hostCaps: runtimeCapabilities(),
    passwd: readImageFile(image.rootfs, 'etc/passwd'),
    group: readImageFile(image.rootfs, 'etc/group'),
  });
  const args = await prepareBundle(runtimeOptions(dir), bundles, container, image.rootfs, config);
  record(
    state,
    startProcess({
      name: 'external-nettools',
      binary: 'runc',
      args,
      logFile: join(dir, 'logs', 'external-nettools.log'),
    }),
  );
}

export interface UpResult {
  state: LabState;
  controlPlane: ControlPlane;
  seconds: number;
}

/** Starts the lab, or finishes starting it; a running lab with the same options is left as is. */
export async function up(options: Partial<TopologyOptions> = {}, dir = labDir()): Promise<UpResult> {
  const t0 = Date.now();
  const topology = planTopology(options);
  const previous = readLabState(dir);
  if (previous && !sameOptions(previous.topology.options, topology.options)) {
    throw new Error(
      `the lab is already up with ${JSON.stringify(previous.topology.options)}; run "lab down" first to change it`,
    );
  }
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const state: LabState = previous ?? {
    topology,
    startedAt: new Date().toISOString(),
    processes: [],
    off: [],
    partitioned: [],
  };
  writeLabState(dir, state);
  // Every `lab up` re-reads what scripts/images.sh built: running kubelets pick it up.
  const images = new ImageStore(importBuiltImages(builtImagesDir(), unpackedImagesDir(), imageStoreDir(dir)));
  await ensureRouter(topology);
  for (const n of topology.nodes) await ensureNode(topology, n);
  const cpNode = topology.controlPlane;
  const controlPlane = await startControlPlane({
    dir: controlPlaneDir(dir),
    netns: cpNode.netns,
    bindAddress: (cpNode.ipv4 ?? cpNode.ipv6)!,
    serviceCidrs: topology.serviceCidrs,
    nodeMonitorGracePeriod: NODE_MONITOR_GRACE,
    extraSans: [cpNode.ipv4, cpNode.ipv6, cpNode.name].filter((x): x is string => x !== undefined),
  });
  for (const n of topology.nodes) {
    if (state.off.includes(n.name)) continue;
    await startNodeProcesses(dir, state, controlPlane, n);
  }
  if (topology.options.cni === 'calico') await startFelix(dir, state, controlPlane);
  await startExternalServer(dir, state, images);
  writeLabState(dir, state);
  const on = topology.nodes.filter((n) => !state.off.includes(n.name));
  await waitNodesReady(controlPlane.kubeconfigPath, on);
  if (topology.options.cni === 'flannel') {
    for (const n of on) await startFlannel(dir, state, controlPlane, n);
    writeLabState(dir, state);
    await waitFlannelRoutes(topology, on);
  }
  return { state, controlPlane, seconds: (Date.now() - t0) / 1000 };
}

export function adminKubeConfig(dir = labDir()): KubeConfig {
  return loadKubeConfig(join(controlPlaneDir(dir), 'admin.kubeconfig'));
}

export async function nodeReady(core: CoreV1Api, name: string): Promise<boolean> {
  try {
    const node = await core.readNode({ name });
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  } catch {
    return false;
  }
}

async function waitNodesReady(kubeconfig: string, nodes: NodePlan[], timeoutMs = 90_000): Promise<void> {
  const kc = loadKubeConfig(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let pending = nodes.map((n) => n.name);
  while (Date.now() < deadline) {
    const ready = await Promise.all(pending.map((n) => nodeReady(core, n)));
    pending = pending.filter((_, i) => !ready[i]);
    if (pending.length === 0) return;
    await sleep(250);
  }
  throw new Error(`nodes not Ready after ${timeoutMs / 1000}s: ${pending.join(', ')}; see the kubelet logs`);
}

/** Removes mount points that containers had to create on the machine (deepest first, if empty). */
function removeCreatedPaths(dir: string): void {
  const file = join(dir, 'created-paths.txt');
  if (!existsSync(file)) return;
  const paths = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  for (const top of paths) {
    try {
      rmEmptyTree(top);
    } catch {
      // not empty: something else put files there; leave it
    }
  }
}

function rmEmptyTree(path: string): void {
  let entries: string[];
  try {
    entries = readdirSync(path);
  } catch {
    // a file mount point (or already gone): remove only if empty
    if (existsSync(path) && readFileSync(path).length === 0) rmSync(path);
    return;
  }
  for (const e of entries) rmEmptyTree(join(path, e));
  rmdirSync(path);
}

/** Stops everything the lab started and removes every namespace, link and file it made. */
export async function down(dir = labDir()): Promise<void> {
  const state = readLabState(dir);
  if (state) {
    for (const p of [...state.processes].reverse()) await stopProcess(p, 2000);
    state.processes = [];
    writeLabState(dir, state);
  }
  const nodes = join(dir, 'nodes');
  if (existsSync(nodes)) {
    for (const node of readdirSync(nodes)) {
      const pods = join(nodes, node, 'pods');
      if (existsSync(pods))
        for (const uid of readdirSync(pods)) await stopAllIn(runtimeOptions(dir), join(pods, uid), 0);
    }
  }
  await deleteAllContainers(runtimeOptions(dir));
  if (await loadControlPlaneState(controlPlaneDir(dir))) await destroyControlPlane(controlPlaneDir(dir));
  await deleteAllLabNetns();
  unmountAllUnder(dir);
  removeCreatedPaths(dir);
  rmSync(dir, { recursive: true, force: true });
}

function mustState(dir: string): LabState {
  const s = readLabState(dir);
  if (!s) throw new Error('the lab is down; run "lab up" first');
  return s;
}

/** Every process of a node: its own (kubelet, kube-proxy, flanneld, hostNetwork containers) and its pods'. */
async function nodePids(dir: string, n: NodePlan): Promise<number[]> {
  const pods = join(nodeDir(dir, n.name), 'pods');
  const nets = [n.netns, ...(existsSync(pods) ? readdirSync(pods).map((uid) => podNetns(uid)) : [])];
  return (await Promise.all(nets.map((ns) => pidsInNetns(ns).catch(() => [])))).flat();
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * A power cut: the node's cable and every one of its processes go at the same instant, with
 * no SIGTERM, so nothing withdraws, hands over or says goodbye; a failover measured after
 * this never includes a graceful hand-over. The lab's own bookkeeping (runc state, mounts)
 * is cleaned afterwards, as a reboot would find it.
 */
export async function nodeOff(name: string, dir = labDir()): Promise<void> {
  const state = mustState(dir);
  const n = findNode(state.topology, name);
  if (n.index === 0) throw new Error(`${name} runs the control plane; power off a worker instead`);
  const wrappers = state.processes
    .filter((p) => p.netns === n.netns)
    .map((p) => p.pid)
    .filter((pid) => pid > 0);
  const pids = await nodePids(dir, n);
  await setRouterPort(state.topology, n, false);
  // Keepalive wrappers first: none may start its child again.
  killAll([...wrappers, ...pids]);
  await setNodeLinks(state.topology, n, false);
  // Anything that was starting while we looked.
  for (let i = 0; i < 3; i++) {
    const left = await nodePids(dir, n);
    if (left.length === 0) break;
    killAll(left);
    await sleep(50);
  }
  await stopNodeProcesses(dir, state, n);
  state.off = [...new Set([...state.off, name])];
  writeLabState(dir, state);
}

/**
 * Powering on is a boot: what the node's kernel held (routes, neighbour and proxy entries,
 * nftables and iptables rules, devices, its pods' sandboxes) did not survive the power cut.
 * Its namespaces are made anew (eth0 keeps its MAC); the kubelet rebuilds the pods.
 */
async function boot(dir: string, t: Topology, n: NodePlan): Promise<void> {
  const pods = join(nodeDir(dir, n.name), 'pods');
  for (const uid of existsSync(pods) ? readdirSync(pods) : []) await deleteNetns(podNetns(uid));
  // The cable first, synchronously: a deleted namespace's devices go only when the kernel
  // gets round to destroying it, and a lingering router port would stop the new eth0.
  await unplug(t, n);
  await deleteNetns(n.netns);
  await ensureNode(t, n);
}

export async function nodeOn(name: string, dir = labDir()): Promise<void> {
  const state = mustState(dir);
  const n = findNode(state.topology, name);
  if (state.off.includes(name)) await boot(dir, state.topology, n);
  else await setNodeLinks(state.topology, n, true);
  const cp = await startControlPlane({ dir: controlPlaneDir(dir) });
  await startNodeProcesses(dir, state, cp, n);
  state.off = state.off.filter((x) => x !== name);
  state.partitioned = state.partitioned.filter((x) => x !== name);
  writeLabState(dir, state);
  await waitNodesReady(cp.kubeconfigPath, [n]);
  if (state.topology.options.cni === 'flannel') {
    await startFlannel(dir, state, cp, n);
    writeLabState(dir, state);
    await waitFlannelRoutes(state.topology, [n]);
  }
}

/** Cuts the node's cable at the switch: its processes keep running but reach no one. */
export async function partition(name: string, heal: boolean, dir = labDir()): Promise<void> {
  const state = mustState(dir);
  const n = findNode(state.topology, name);
  if (n.index === 0) throw new Error(`${name} runs the control plane; partition a worker instead`);
  await setRouterPort(state.topology, n, heal);
  state.partitioned = heal
    ? state.partitioned.filter((x) => x !== name)
    : [...new Set([...state.partitioned, name])];
  writeLabState(dir, state);
}

export function labState(dir = labDir()): LabState | undefined {
  return readLabState(dir);
}

export { nodeDir };
