// Launches a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) as detached processes, and finds, checks and stops it again from its state
// directory. Used by the lab CLI and by the integration tests.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cidrToRange, formatIp, parseCidr } from '../../../src/common/ip.ts';
import { kubeBinary } from '../paths.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { Pki } from './pki.ts';
import {
  isHealthy,
  isRunning,
  type ManagedProcess,
  restartChild,
  startProcess,
  stopProcess,
} from './processes.ts';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
export const COMPONENTS: readonly Component[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
];

export interface ControlPlaneOptions {
  /** state directory: PKI, etcd data, logs, kubeconfigs, state.json */
  dir: string;
  /** address the apiserver binds and advertises (default 127.0.0.1) */
  bindAddress?: string;
  /** run every component inside this network namespace; reached through a relay on 127.0.0.1 */
  netns?: string;
  /** service CIDRs; two for dual stack (default 10.96.0.0/16) */
  serviceCidrs?: string[];
  /** how long a silent node stays Ready (kube-controller-manager --node-monitor-grace-period) */
  nodeMonitorGracePeriod?: string;
  /** extra SANs for the apiserver certificate */
  extraSans?: string[];
  /** extra kube-apiserver flags (e.g. --watch-cache=false for tests that need etcd semantics) */
  apiserverArgs?: string[];
}

export interface ControlPlaneState {
  dir: string;
  bindAddress: string;
  netns?: string;
  serviceCidrs: string[];
  nodeMonitorGracePeriod: string;
  apiserverArgs?: string[];
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; relay?: number };
  /** where callers in this network namespace reach the apiserver */
  server: string;
  /** where processes inside the lab network (nodes, pods) reach the apiserver */
  inClusterServer: string;
  kubeconfig: string;
  processes: ManagedProcess[];
  startedAt: string;
}

const STATE_FILE = 'state.json';
const RELAY_SCRIPT = fileURLToPath(new URL('./relay.ts', import.meta.url));

/**
 * A free port below the kernel's ephemeral range (32768+), so an outgoing connection cannot
 * grab it between our check and the component's bind.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The first address of each service CIDR: the `kubernetes` Service's ClusterIP, in the cert. */
function firstServiceIps(cidrs: readonly string[]): string[] {
  return cidrs.map((c) => {
    const r = cidrToRange(parseCidr(c));
    return formatIp(r.family, r.start + 1n);
  });
}

export async function loadState(dir: string): Promise<ControlPlaneState | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as ControlPlaneState;
  } catch {
    return undefined;
  }
}

async function saveState(state: ControlPlaneState): Promise<void> {
  await writeFile(join(state.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

async function pki(state: ControlPlaneState, extraSans: readonly string[]) {
  const p = new Pki(join(state.dir, 'pki'));
  await p.ensureCa();
  const loopbacks = ['127.0.0.1', '::1'];
  const etcd = await p.issue({
    file: 'etcd-server',
    commonName: 'etcd',
    dnsNames: ['localhost'],
    ips: loopbacks,
    usage: 'both',
  });
  const etcdClient = await p.issue({
    file: 'apiserver-etcd-client',
    commonName: 'kube-apiserver-etcd-client',
    usage: 'client',
  });
  const ips = [...new Set([...loopbacks, state.bindAddress, ...firstServiceIps(state.serviceCidrs)])];
  const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'];
  const apiserver = await p.issue({
    file: 'apiserver',
    commonName: 'kube-apiserver',
    dnsNames: [...names, 'kubernetes.default.svc.cluster.local', ...extraSans.filter((s) => !net.isIP(s))],
    ips: [...ips, ...extraSans.filter((s) => net.isIP(s))],
    usage: 'server',
  });
  const admin = await p.issue({
    file: 'admin',
    commonName: 'kubernetes-admin',
    organizations: ['system:masters'],
    usage: 'client',
  });
  const kcm = await p.issue({
    file: 'controller-manager',
    commonName: 'system:kube-controller-manager',
    usage: 'client',
  });
  const scheduler = await p.issue({
    file: 'scheduler',
    commonName: 'system:kube-scheduler',
    usage: 'client',
  });
  const sa = await p.ensureServiceAccountKeys();
  return { pki: p, etcd, etcdClient, apiserver, admin, kcm, scheduler, sa };
}

function componentArgs(
  component: Component | 'relay-in' | 'relay-out',
  state: ControlPlaneState,
  c: Awaited<ReturnType<typeof pki>>,
): { binary: string; args: string[]; netns?: string } {
  const d = state.dir;
  const etcdUrl = `https://127.0.0.1:${state.ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${state.ports.etcdPeer}`;
  const ns = state.netns ? { netns: state.netns } : {};
  const sock = join(d, 'apiserver.sock');
  switch (component) {
    case 'etcd':
      return {
        binary: kubeBinary('etcd'),
        ...ns,
        args: [
          '--name=lab',
          `--data-dir=${join(d, 'etcd-data')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=lab=${peerUrl}`,
          `--cert-file=${c.etcd.cert}`,
          `--key-file=${c.etcd.key}`,
          '--client-cert-auth=true',
          `--trusted-ca-file=${c.pki.ca.cert}`,
          // The lab trades durability against host crashes for speed; process restarts lose nothing.
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
      };
    case 'kube-apiserver':
      return {
        binary: kubeBinary('kube-apiserver'),
        ...ns,
        args: [
          `--bind-address=${state.netns ? '0.0.0.0' : state.bindAddress}`,
          `--advertise-address=${state.bindAddress}`,
          `--secure-port=${state.ports.apiserver}`,
          `--etcd-servers=${etcdUrl}`,
          `--etcd-cafile=${c.pki.ca.cert}`,
          `--etcd-certfile=${c.etcdClient.cert}`,
          `--etcd-keyfile=${c.etcdClient.key}`,
          `--client-ca-file=${c.pki.ca.cert}`,
          `--tls-cert-file=${c.apiserver.cert}`,
          `--tls-private-key-file=${c.apiserver.key}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${c.sa.pub}`,
          `--service-account-signing-key-file=${c.sa.key}`,
          `--service-cluster-ip-range=${state.serviceCidrs.join(',')}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
          '--allow-privileged=true',
          '--profiling=false',
          '--v=0',
          ...(state.apiserverArgs ?? []),
        ],
      };
    case 'kube-controller-manager':
      return {
        binary: kubeBinary('kube-controller-manager'),
        ...ns,
        args: [
          `--kubeconfig=${join(d, 'controller-manager.kubeconfig')}`,
          '--controllers=*',
          '--leader-elect=false',
          '--secure-port=0',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${c.sa.key}`,
          `--root-ca-file=${c.pki.ca.cert}`,
          `--cluster-signing-cert-file=${c.pki.ca.cert}`,
          `--cluster-signing-key-file=${c.pki.ca.key}`,
          `--service-cluster-ip-range=${state.serviceCidrs.join(',')}`,
          `--node-monitor-grace-period=${state.nodeMonitorGracePeriod}`,
          '--node-monitor-period=2s',
          '--v=0',
        ],
      };
    case 'kube-scheduler':
      return {
        binary: kubeBinary('kube-scheduler'),
        ...ns,
        args: [
          `--kubeconfig=${join(d, 'scheduler.kubeconfig')}`,
          '--leader-elect=false',
          '--secure-port=0',
          '--v=0',
        ],
      };
    case 'relay-in':
      return {
        binary: process.execPath,
        ...ns,
        args: [
          RELAY_SCRIPT,
          '--listen',
          `unix:${sock}`,
          '--connect',
          `tcp:127.0.0.1:${state.ports.apiserver}`,
        ],
      };
    case 'relay-out':
      return {
        binary: process.execPath,
        args: [RELAY_SCRIPT, '--listen', `tcp:127.0.0.1:${state.ports.relay}`, '--connect', `unix:${sock}`],
      };
  }
}

/** GET /readyz with the admin certificate; true on HTTP 200. */
export async function apiserverReady(state: ControlPlaneState, timeoutMs = 2000): Promise<boolean> {
  const dir = join(state.dir, 'pki');
  const [ca, cert, key] = await Promise.all(
    ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(dir, f))),
  );
  const url = new URL('/readyz', state.server);
  return new Promise((resolve) => {
    const req = request(url, { ca, cert, key, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logHint: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s; see ${logHint}`);
}

function processByName(state: ControlPlaneState, name: string): ManagedProcess | undefined {
  return state.processes.find((p) => p.name === name);
}

async function launch(
  state: ControlPlaneState,
  certs: Awaited<ReturnType<typeof pki>>,
  name: Component | 'relay-in' | 'relay-out',
): Promise<void> {
  const spec = componentArgs(name, state, certs);
  const proc = startProcess({ name, ...spec, logFile: join(state.dir, 'logs', `${name}.log`) });
  state.processes = [...state.processes.filter((p) => p.name !== name), proc];
  await saveState(state);
  // A process that dies at once (bad flag, port taken) should fail here, not as a readiness
  // timeout; on a loaded machine the wrapper may need a moment to record the child's PID.
  await sleep(300);
  for (let i = 0; i < 50 && isRunning(proc) && !isHealthy(proc); i++) await sleep(100);
  if (!isHealthy(proc)) throw new Error(`${name} exited at start; see ${proc.logFile}`);
}

export interface ControlPlane {
  state: ControlPlaneState;
  kubeconfigPath: string;
  stop(): Promise<void>;
  restart(component: Component, opts?: { crash?: boolean }): Promise<void>;
  status(): Promise<Record<string, 'running' | 'stopped'>>;
  /** kubeconfig for an identity of our choice, e.g. a node (`system:node:<name>`, org `system:nodes`) */
  writeUserKubeconfig(
    path: string,
    user: { commonName: string; organizations?: string[] },
    opts?: { inCluster?: boolean },
  ): Promise<void>;
}

function handle(state: ControlPlaneState, certs: Awaited<ReturnType<typeof pki>>): ControlPlane {
  return {
    state,
    kubeconfigPath: state.kubeconfig,
    stop: () => stopControlPlane(state.dir),
    async restart(component, opts = {}) {
      const p = processByName(state, component);
      if (p && isRunning(p)) await restartChild(p, opts.crash ?? false);
      else await launch(state, certs, component);
      if (component === 'kube-apiserver' || component === 'etcd') {
        await waitFor('kube-apiserver', () => apiserverReady(state), 60_000, join(state.dir, 'logs'));
      }
    },
    async status() {
      return Object.fromEntries(state.processes.map((p) => [p.name, isHealthy(p) ? 'running' : 'stopped']));
    },
    async writeUserKubeconfig(path, user, opts = {}) {
      const file = user.commonName.replace(/[^A-Za-z0-9._-]/g, '_');
      const client = await certs.pki.issue({
        file: `user-${file}`,
        commonName: user.commonName,
        organizations: user.organizations ?? [],
        usage: 'client',
      });
      const server = opts.inCluster ? state.inClusterServer : state.server;
      await writeKubeconfig(path, { server, caFile: certs.pki.ca.cert, client, user: user.commonName });
    },
  };
}

/**
 * Starts a control plane in `opts.dir`, or returns the one already running there (idempotent).
 * A partly running one (e.g. after a host reboot) is restarted from its kept data.
 */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  await mkdir(join(opts.dir, 'logs'), { recursive: true });
  const previous = await loadState(opts.dir);
  const bindAddress = opts.bindAddress ?? '127.0.0.1';
  const state: ControlPlaneState = previous ?? {
    dir: opts.dir,
    bindAddress,
    serviceCidrs: opts.serviceCidrs ?? ['10.96.0.0/16'],
    nodeMonitorGracePeriod: opts.nodeMonitorGracePeriod ?? '40s',
    // Inside a private namespace the standard ports are ours; on the host loopback pick free ones.
    ports: opts.netns
      ? { etcdClient: 2379, etcdPeer: 2380, apiserver: 6443, relay: await freePort() }
      : { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: await freePort() },
    server: '',
    inClusterServer: '',
    kubeconfig: join(opts.dir, 'admin.kubeconfig'),
    processes: [],
    startedAt: new Date().toISOString(),
  };
  if (opts.netns) state.netns = opts.netns;
  if (opts.apiserverArgs && !previous) state.apiserverArgs = opts.apiserverArgs;
  state.server = `https://${hostPort('127.0.0.1', state.ports.relay ?? state.ports.apiserver)}`;
  state.inClusterServer = `https://${hostPort(state.bindAddress, state.ports.apiserver)}`;
  const certs = await pki(state, opts.extraSans ?? []);
  await writeKubeconfig(state.kubeconfig, {
    server: state.server,
    caFile: certs.pki.ca.cert,
    client: certs.admin,
    user: 'kubernetes-admin',
  });
  for (const [file, client, user] of [
    ['controller-manager.kubeconfig', certs.kcm, 'system:kube-controller-manager'],
    ['scheduler.kubeconfig', certs.scheduler, 'system:kube-scheduler'],
  ] as const) {
    // These run next to the apiserver, so they use its own address, not the relay.
    await writeKubeconfig(join(opts.dir, file), {
      server: `https://${hostPort(state.netns ? '127.0.0.1' : state.bindAddress, state.ports.apiserver)}`,
      caFile: certs.pki.ca.cert,
      client,
      user,
    });
  }
  const order: (Component | 'relay-in' | 'relay-out')[] = [
    'etcd',
    'kube-apiserver',
    ...(state.netns ? (['relay-in', 'relay-out'] as const) : []),
    'kube-controller-manager',
    'kube-scheduler',
  ];
  const logs = join(opts.dir, 'logs');
  for (const name of order) {
    const p = processByName(state, name);
    if (!p || !isRunning(p)) await launch(state, certs, name);
    if (name === 'kube-apiserver' && !state.netns) {
      await waitFor('kube-apiserver', () => apiserverReady(state), 90_000, join(logs, 'kube-apiserver.log'));
    }
    if (name === 'relay-out') {
      await waitFor('kube-apiserver', () => apiserverReady(state), 90_000, join(logs, 'kube-apiserver.log'));
    }
  }
  await saveState(state);
  return handle(state, certs);
}

/** Stops every process recorded in `dir`, by PID. Keeps the directory (data, PKI, logs). */
export async function stopControlPlane(dir: string): Promise<void> {
  const state = await loadState(dir);
  if (!state) return;
  // Reverse start order: clients before the apiserver, the apiserver before etcd.
  for (const p of [...state.processes].reverse()) await stopProcess(p);
  state.processes = [];
  await saveState(state);
}

/** Stops everything and removes the state directory. */
export async function destroyControlPlane(dir: string): Promise<void> {
  await stopControlPlane(dir);
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
}
