// Drives the lab the way a user does: through `lab/bin/lab` (up, kubectl, exec, node …), in
// its own state directory, one lab at a time on the machine (namespace names are global).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LAB_PREFIX } from '../../lab/src/net/topology.ts';
import { builtImageRef } from '../../lab/src/paths.ts';
import { CommandError, type RunResult, run } from '../../src/common/exec.ts';
import { withLock } from './lock.ts';

/** Our nettools image, as scripts/images.sh built it: the echo servers' and visitors' image. */
export const NETTOOLS_IMAGE = builtImageRef('nettools');

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const LAB_BIN = join(REPO, 'lab/bin/lab');
export const E2E_LAB_DIR = '/run/egressgateway-lab-e2e';
/**
 * The timeout of a test that runs on the lab. It includes the wait for the lab lock behind
 * every other lab test file of the run (about 20 min of them in all on 2 cores): a short
 * timeout would fail whichever file happened to queue last, not a slow test.
 */
export const LAB_TEST_TIMEOUT = 45 * 60_000;

export interface Lab {
  dir: string;
  /** `lab/bin/lab ARGS`; rejects with the command's output on a non-zero exit */
  lab(args: string[], opts?: { okCodes?: number[]; timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** `kubectl apply -f -` */
  apply(yaml: string): Promise<string>;
  kubectl(args: string[]): Promise<string>;
  /** `lab exec -n NS POD -- CMD` */
  exec(pod: string, cmd: string[], opts?: { namespace?: string; okCodes?: number[] }): Promise<RunResult>;
  kubectlJson<T>(args: string[]): Promise<T>;
}

export function labClient(dir = E2E_LAB_DIR): Lab {
  const env = { ...process.env, EGW_LAB_DIR: dir };
  const lab: Lab['lab'] = (args, opts = {}) =>
    run(LAB_BIN, args, {
      env,
      timeoutMs: opts.timeoutMs ?? 180_000,
      ...(opts.okCodes ? { okCodes: opts.okCodes } : {}),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  return {
    dir,
    lab,
    kubectl: async (args) => (await lab(['kubectl', ...args])).stdout,
    apply: async (yaml) => (await lab(['kubectl', 'apply', '-f', '-'], { input: yaml })).stdout,
    kubectlJson: async <T>(args: string[]) =>
      JSON.parse((await lab(['kubectl', ...args, '-o', 'json'])).stdout) as T,
    exec: (pod, cmd, opts = {}) =>
      lab(
        ['exec', '-n', opts.namespace ?? 'default', pod, '--', ...cmd],
        opts.okCodes ? { okCodes: opts.okCodes } : {},
      ),
  };
}

export async function labNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list']);
  if (!stdout.trim()) return [];
  return (JSON.parse(stdout) as { name: string }[])
    .map((n) => n.name)
    .filter((n) => n.startsWith(LAB_PREFIX));
}

/** What a test run must leave as it found: links, addresses, routes, mounts of the machine. */
export async function hostSnapshot(): Promise<{
  links: string;
  addrs: string;
  routes: string;
  mounts: string[];
}> {
  const links = (await run('ip', ['-br', 'link'])).stdout;
  const addrs = (await run('ip', ['-br', 'addr'])).stdout;
  const routes = (await run('ip', ['route'])).stdout + (await run('ip', ['-6', 'route'])).stdout;
  // Every namespace's mount (/run/netns/<name>) and the lab's own paths. Not the bare
  // /run/netns mount point: iproute2 creates it with the first namespace on the machine,
  // possibly another test file's running alongside; the lab releases it when it created it
  // and nothing is left in it (lab/src/net/netns.ts).
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/run/netns/') || l.includes('egressgateway-lab'));
  return { links, addrs, routes, mounts };
}

/**
 * Runs `fn` against a freshly started lab and takes it down afterwards. Holds the machine-wide
 * lab lock; refuses to run over a lab somebody else left up, instead of destroying it.
 */
export async function withLab<T>(
  upArgs: string[],
  fn: (lab: Lab, upSeconds: number) => Promise<T>,
  hooks: {
    /** runs holding the lab lock before `lab up` (e.g. a snapshot of the host) */
    beforeUp?: () => Promise<void>;
    /** runs holding the lab lock after `lab down`: no other test's lab can be up meanwhile */
    afterDown?: () => Promise<void>;
  } = {},
): Promise<T> {
  return withLock('lab', async () => {
    await hooks.beforeUp?.();
    const foreign = await labNamespaces();
    if (foreign.length > 0) {
      throw new Error(
        `lab namespaces already exist (${foreign.join(', ')}): another lab is up; run "lab/bin/lab down" first`,
      );
    }
    const lab = labClient();
    const t0 = Date.now();
    try {
      await lab.lab(['up', ...upArgs]);
      return await fn(lab, (Date.now() - t0) / 1000);
    } finally {
      await lab.lab(['down']).catch((err: unknown) => {
        console.error(`lab down failed: ${err instanceof CommandError ? err.message : String(err)}`);
      });
      await hooks.afterDown?.();
    }
  });
}

/** Polls `check` until it returns a value, or fails with the last problem seen. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no result';
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(250);
  }
  throw new Error(`${what}: not reached within ${timeoutMs / 1000}s (last: ${last})`);
}

export interface PodView {
  name: string;
  node: string;
  phase: string;
  ips: string[];
  ready: boolean;
}

export async function podsByLabel(lab: Lab, selector: string, namespace = 'default'): Promise<PodView[]> {
  type PodList = {
    items: {
      metadata: { name: string };
      spec: { nodeName?: string };
      status: { phase?: string; podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
    }[];
  };
  const list = await lab.kubectlJson<PodList>(['get', 'pods', '-n', namespace, '-l', selector]);
  return list.items.map((p) => ({
    name: p.metadata.name,
    node: p.spec.nodeName ?? '',
    phase: p.status.phase ?? '',
    ips: (p.status.podIPs ?? []).map((x) => x.ip),
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** `curl` from a pod; the body, or the curl failure as an exception. */
export async function curlFromPod(
  lab: Lab,
  pod: string,
  url: string,
  namespace = 'default',
): Promise<string> {
  const res = await lab.exec(pod, ['curl', '-sS', '-m', '3', '-g', url], { namespace });
  return res.stdout.trim();
}

export function urlFor(ip: string, port: number, path = ''): string {
  return ip.includes(':') ? `http://[${ip}]:${port}${path}` : `http://${ip}:${port}${path}`;
}

/** A Deployment of our nettools image serving `Remote IP: …` on 8080, and a Service for it. */
export function echoServerYaml(name: string, replicas: number, ipFamilyPolicy = 'PreferDualStack'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: ${name}}}}
      containers:
      - name: server
        image: ${NETTOOLS_IMAGE}
        command: [/usr/bin/nettools-server]
        args: [-protocol, web, -webPort, "8080"]
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  ipFamilyPolicy: ${ipFamilyPolicy}
  selector: {app: ${name}}
  ports: [{port: 80, targetPort: 8080}]
`;
}

/**
 * A Deployment of visitor pods spread over the nodes: our nettools image, whose server no test
 * talks to; tests reach into a visitor with `lab exec`, the lab's tools in its network namespace.
 */
export function visitorYaml(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: ${name}}}}
      containers: [{name: visitor, image: ${NETTOOLS_IMAGE}}]
`;
}

export async function runningPods(
  lab: Lab,
  selector: string,
  count: number,
  namespace = 'default',
): Promise<PodView[]> {
  return eventually(`${count} pods ${selector} Running and Ready`, async () => {
    const pods = await podsByLabel(lab, selector, namespace);
    return pods.length === count && pods.every((p) => p.phase === 'Running' && p.ready && p.ips.length > 0)
      ? pods
      : undefined;
  });
}

export interface LabContainer {
  /** runc's id, for `runc --root RUNC_ROOT exec ID …` */
  id: string;
  runcRoot: string;
  /** the container's first process, as the machine sees it */
  pid: number;
  /** the overlay the lab kubelet mounted as the container's root filesystem */
  rootfs: string;
}

/** Where the lab kubelet runs a pod's container (its pod directory is named by the pod UID). */
export async function containerOf(
  lab: Lab,
  namespace: string,
  pod: string,
  container: string,
): Promise<LabContainer> {
  const p = await lab.kubectlJson<{ metadata: { uid: string }; spec: { nodeName: string } }>([
    'get',
    'pod',
    '-n',
    namespace,
    pod,
  ]);
  const podDir = join(lab.dir, 'nodes', p.spec.nodeName, 'pods', p.metadata.uid);
  return {
    id: `${p.metadata.uid}-${container}`,
    runcRoot: join(lab.dir, 'runc'),
    pid: Number(readFileSync(join(podDir, `${container}.pid`), 'utf8')),
    rootfs: join(podDir, container, 'rootfs'),
  };
}

/**
 * The file system a process sees as `/`, from its own mount table: for a lab container, the
 * overlay whose lower layer is the unpacked image (`lowerdir`).
 */
export function rootMountOf(pid: number): { fstype: string; lowerdir: string | undefined } {
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== '/') continue;
    const rest = f.slice(f.indexOf('-') + 1);
    const lowerdir = /(?:^|,)lowerdir=([^,]+)/.exec(rest[2] ?? '')?.[1];
    return { fstype: rest[0] ?? '', lowerdir };
  }
  throw new Error(`process ${pid} has no root mount`);
}
