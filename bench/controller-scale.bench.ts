// Controller at scale against a real (private) apiserver: Nodes, Pods and policies created as
// objects, then the controller started cold (no tunnels yet; the bench plays each node's agent
// and reports its tunnel up). Measures time to converge (every tunnel Ready, every policy with
// its EIP, every pod in its endpoint slice), the controller process's RSS, and, once the
// cold-start writes have settled, the lag from a pod label change to the endpoint-slice
// update under a steady stream of changes.
// Scale from EGW_SCALE_NODES/PODS/POLICIES/GATEWAYS (defaults: the issue's 1000/30000/1000/10),
// churn rate from EGW_SCALE_CHURN_RATE (default 100 changes/s).
// Goals: converge ≤ 30 s, RSS ≤ 300 MiB, p99 lag ≤ 500 ms at 100 changes/s.
// The lag is measured for two workloads: moves spread over all policies, and moves into 25
// hot policies; each reports where its time went (apiserver → controller, controller queue,
// slice write round trip, write → observer).
import { spawn } from 'node:child_process';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { destroyControlPlane, startControlPlane } from '../lab/src/index.ts';
import { toolBinary } from '../lab/src/paths.ts';
import { GROUP, VERSION } from '../src/api/schema/json-schema.ts';
import { run } from '../src/common/exec.ts';
import { createLogger } from '../src/common/log.ts';
import { SERVICE_NODE_FLAGS } from '../src/common/node-flags.ts';
import { Informer } from '../src/k8s/informer.ts';
import { loadKubeConfig } from '../src/k8s/kubeconfig.ts';
import type { BenchResult } from './lib.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = Number(process.env['EGW_SCALE_NODES'] ?? 1000);
const P = Number(process.env['EGW_SCALE_PODS'] ?? 30000);
const POL = Number(process.env['EGW_SCALE_POLICIES'] ?? 1000);
const G = Number(process.env['EGW_SCALE_GATEWAYS'] ?? 10);
const RATE = Number(process.env['EGW_SCALE_CHURN_RATE'] ?? 100); // pod changes per second
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** apiserver_request_total summed by "verb resource", e.g. "PUT egressendpointslices". */
async function apiserverRequests(kubeconfig: string): Promise<Map<string, number>> {
  const { stdout } = await run(toolBinary('kubectl'), [
    '--kubeconfig',
    kubeconfig,
    'get',
    '--raw',
    '/metrics',
  ]);
  const out = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]+)"/.exec(line)?.[1];
    const resource = /resource="([^"]*)"/.exec(line)?.[1];
    const sub = /subresource="([^"]*)"/.exec(line)?.[1];
    if (!verb || !resource || ['WATCH', 'GET', 'LIST'].includes(verb)) continue;
    const key = `${verb} ${resource}${sub ? `/${sub}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

function requestsSince(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries(
    [...after]
      .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]),
  );
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

export default async function (): Promise<BenchResult[]> {
  const dir = join(ROOT, '.bench-scale-cp');
  const cp = await startControlPlane({
    dir,
    apiserverArgs: [
      '--max-requests-inflight=2000',
      '--max-mutating-requests-inflight=1000',
      ...(process.env['EGW_SCALE_APISERVER_PROFILE'] ? ['--profiling=true'] : []),
    ],
    // No kubelets here: with the default grace the node lifecycle controller would mark every
    // node NotReady 40 s after seeding and evict its pods, and there would be nothing to converge to.
    nodeMonitorGracePeriod: '24h',
  });
  try {
    const kc = loadKubeConfig(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await run(toolBinary('kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'apply',
      '-f',
      join(ROOT, 'charts/egressgateway/crds'),
    ]);
    await run(toolBinary('kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'wait',
      '--for=condition=Established',
      'crd',
      '--all',
    ]);
    // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
    for (let i = 0; i < 120; i++) {
      if (
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const t0 = Date.now();
    const nodes = Array.from({ length: N }, (_, i) => i);
    await pool(nodes, 32, async (i) => {
      const name = `node-${i}`;
      await core.createNode({ body: { metadata: { name, labels: { gw: `g${i % G}` } } } });
      const now = new Date();
      await core.patchNodeStatus(
        {
          name,
          body: {
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Bench',
                  lastHeartbeatTime: now,
                  lastTransitionTime: now,
                },
              ],
              addresses: [{ type: 'InternalIP', address: `10.${Math.floor(i / 250)}.${i % 250}.1` }],
            },
          },
        },
        merge,
      );
    });
    await pool(
      Array.from({ length: G }, (_, g) => g),
      8,
      (g) =>
        custom.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egressgateways',
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'EgressGateway',
            metadata: { name: `gw-${g}` },
            spec: {
              ippools: { ipv4: [`100.${64 + g}.0.0/16`] },
              nodeSelector: { selector: { matchLabels: { gw: `g${g}` } } },
            },
          },
        }),
    );
    await pool(
      Array.from({ length: POL }, (_, p) => p),
      32,
      (p) =>
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egresspolicies',
          namespace: 'default',
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'EgressPolicy',
            metadata: { name: `p-${p}` },
            spec: {
              egressGatewayName: `gw-${p % G}`,
              egressIP: { useNodeIP: false, allocatorPolicy: 'rr' },
              appliedTo: { podSelector: { matchLabels: { app: `a${p}` } } },
            },
          },
        }),
    );
    await pool(
      Array.from({ length: P }, (_, i) => i),
      48,
      async (i) => {
        const name = `pod-${i}`;
        await core.createNamespacedPod({
          namespace: 'default',
          body: {
            metadata: { name, labels: { app: `a${i % POL}` } },
            spec: {
              nodeName: `node-${i % N}`,
              automountServiceAccountToken: false,
              containers: [{ name: 'c', image: 'x' }],
            },
          },
        });
        const ip = `172.${16 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
        await core.patchNamespacedPodStatus(
          { name, namespace: 'default', body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
          merge,
        );
      },
    );
    const seeded = (Date.now() - t0) / 1000;

    // The controller in its own process (as in production), so its RSS is its own.
    // Tunnels are marked Ready by the bench, standing in for agents.
    const runner = join(dir, 'run-controller.ts');
    await writeFile(
      runner,
      `import { parseConfig } from '${join(ROOT, 'src/common/config.ts')}';
import { createLogger } from '${join(ROOT, 'src/common/log.ts')}';
import { createControllers } from '${join(ROOT, 'src/controller/controller.ts')}';
import { loadKubeConfig } from '${join(ROOT, 'src/k8s/kubeconfig.ts')}';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { monitorEventLoopDelay } from 'node:perf_hooks';
const kc = loadKubeConfig(${JSON.stringify(cp.kubeconfigPath)});
const c = createControllers(kc, parseConfig({}, 'enableIPv4: true\\ntunnelIpv4Subnet: 192.200.0.0/16\\n'), createLogger('scale', 'error'), undefined, ${JSON.stringify(process.env['EGW_SCALE_SLICE_WORKERS'] ? { sliceWorkers: Number(process.env['EGW_SCALE_SLICE_WORKERS']) } : {})});
c.start(); void c.lead(new AbortController().signal);
process.on('SIGTERM', () => process.exit(0)); // so --cpu-prof can write its profile
// Where a change's time goes: when the controller saw the pod change, when it sent the slice
// update and when the apiserver answered (same clock as the bench: one machine).
let trace = false;
// The controller's event-loop delay per churn phase: time its own work keeps events waiting.
const loop = monitorEventLoopDelay({ resolution: 5 });
process.on('message', (m) => {
  if (m === 'trace') { trace = true; loop.reset(); loop.enable(); }
  if (m === 'loop') {
    process.send?.({ loop: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } });
    loop.reset();
  }
});
// Sent in batches: one IPC message per event would add to the controller's CPU.
let seen: [string, number][] = [];
let writes: { keys: string[]; sent: number; done: number }[] = [];
setInterval(() => {
  if (seen.length || writes.length) process.send?.({ seen, writes });
  seen = [];
  writes = [];
}, 50).unref();
const traced = new Set<string>(); // pod@policy keys of pods changed while tracing
c.informers.find((i) => i.kind === 'Pod')!.onChange((_e, p) => {
  if (!trace) return;
  const key = \`\${p.metadata?.name}@p-\${String(p.metadata?.labels?.['app']).slice(1)}\`;
  traced.add(key);
  seen.push([key, Date.now()]);
});
const replace = CustomObjectsApi.prototype.replaceNamespacedCustomObject;
CustomObjectsApi.prototype.replaceNamespacedCustomObject = async function (this: CustomObjectsApi, ...args: Parameters<typeof replace>) {
  const sent = Date.now();
  const out = await replace.apply(this, args);
  const body = args[0].body as { metadata?: { labels?: Record<string, string> }; endpoints?: { pod: string }[] };
  const policy = body.metadata?.labels?.['spidernet.io/policy-name'];
  if (trace && args[0].plural === 'egressendpointslices') writes.push({ keys: (body.endpoints ?? []).map((e) => \`\${e.pod}@\${policy}\`).filter((k) => traced.has(k)), sent, done: Date.now() });
  return out;
};
process.on('message', (m) => { if (m === 'gc') { globalThis.gc?.(); process.send?.({ liveHeap: process.memoryUsage().heapUsed }); } });
setInterval(() => { const m = process.memoryUsage(); process.send?.({ rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external }); }, 1000);
`,
    );
    // Where the CPU goes (2 cores shared by everything): per process, per phase.
    const pids: Record<string, number> = { bench: process.pid };
    for (const p of cp.state.processes) {
      const child = Number((await readFile(p.pidFile, 'utf8').catch(() => '')).trim());
      if (child) pids[p.name] = child;
    }
    const cpuNow = async (): Promise<Record<string, number>> =>
      Object.fromEntries(
        await Promise.all(Object.entries(pids).map(async ([k, v]) => [k, await cpuSeconds(v)] as const)),
      );
    const cpuSince = async (before: Record<string, number>) => {
      const now = await cpuNow();
      return Object.fromEntries(
        Object.entries(now).map(([k, v]) => [k, Number((v - (before[k] ?? 0)).toFixed(1))]),
      );
    };
    const tStart = Date.now();
    const profile = process.env['EGW_SCALE_CPU_PROFILE'];
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        // As the controller image runs it; EGW_SCALE_NODE_FLAGS replaces them for experiments.
        ...(process.env['EGW_SCALE_NODE_FLAGS']?.split(' ').filter(Boolean) ?? SERVICE_NODE_FLAGS),
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
        runner,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    pids['controller'] = child.pid!;
    const cpuAtStart = await cpuNow();
    const writesAtStart = await apiserverRequests(cp.kubeconfigPath);
    let rss = 0;
    let heap = 0;
    let atPeak = { heapTotal: 0, external: 0 };
    child.on('message', (m: { rss?: number; heap: number; heapTotal: number; external: number }) => {
      if (m.rss === undefined) return;
      if (m.rss > rss) atPeak = { heapTotal: m.heapTotal, external: m.external };
      rss = Math.max(rss, m.rss);
      heap = Math.max(heap, m.heap);
    });
    const log = createLogger('bench', 'error');
    const slices = new Informer<KubernetesObject & { endpoints?: { pod: string }[] }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressEndpointSlice',
      path: `/apis/${GROUP}/${VERSION}/egressendpointslices`,
      log,
    });
    const policies = new Informer<KubernetesObject & { status?: { eip?: { ipv4?: string } } }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressPolicy',
      path: `/apis/${GROUP}/${VERSION}/egresspolicies`,
      log,
    });
    const tunnels = new Informer<KubernetesObject & { status?: { phase?: string } }>(kc, {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressTunnel',
      path: `/apis/${GROUP}/${VERSION}/egresstunnels`,
      log,
    });
    const reported = new Set<string>();
    tunnels.onChange((_e, t) => {
      const name = t.metadata!.name!;
      if (t.status?.phase === 'Init' && !reported.has(name)) {
        reported.add(name);
        void custom
          .patchClusterCustomObjectStatus(
            {
              group: GROUP,
              version: VERSION,
              plural: 'egresstunnels',
              name,
              // What the agent writes once its tunnel device is up (upstream: the agent sets Ready).
              body: { status: { tunnel: { parent: { name: 'eth0' } }, phase: 'Ready' } },
            },
            merge,
          )
          .catch(() => reported.delete(name));
      }
    });
    for (const i of [slices, policies, tunnels]) void i.run();
    const endpointsByPod = () =>
      new Map(slices.list().flatMap((s) => (s.endpoints ?? []).map((e) => [e.pod, s.metadata!.name!])));
    let converged = Number.NaN;
    // Milestones say where the time goes when the goal is missed.
    const milestones: Record<string, number> = {};
    const mark = (what: string, done: boolean) => {
      if (done && milestones[what] === undefined) milestones[what] = (Date.now() - tStart) / 1000;
    };
    while (Date.now() - tStart < 300_000) {
      mark('tunnels', tunnels.list().filter((t) => t.status?.phase === 'Ready').length === N);
      const placed = policies.list().filter((p) => p.status?.eip?.ipv4).length;
      mark('eips', placed === POL);
      const endpoints = endpointsByPod().size;
      mark('slices', endpoints === P);
      if (Object.keys(milestones).length === 3) {
        converged = (Date.now() - tStart) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const cpuConverge = await cpuSince(cpuAtStart);
    let writesAtConverge = await apiserverRequests(cp.kubeconfigPath);
    const controllerWrites = (w: Map<string, number>) =>
      [...w].filter(([k]) => /egress|events/.test(k)).reduce((a, [, v]) => a + v, 0);
    // The churn is measured in steady state: after the controller's last cold-start writes
    // (events are written in the background and may trail the convergence a little).
    let settled = Number.NaN;
    for (let quiet = 0, last = controllerWrites(writesAtConverge); Date.now() - tStart < 360_000; ) {
      await new Promise((r) => setTimeout(r, 500));
      const now = controllerWrites(await apiserverRequests(cp.kubeconfigPath));
      quiet = now === last ? quiet + 1 : 0;
      last = now;
      if (quiet >= 4) {
        settled = (Date.now() - tStart) / 1000 - 2;
        break;
      }
    }
    const liveHeap = await new Promise<number>((resolve) => {
      const onMessage = (m: { liveHeap?: number }) => {
        if (m.liveHeap === undefined) return;
        child.off('message', onMessage);
        resolve(m.liveHeap);
      };
      child.on('message', onMessage);
      child.send('gc');
    });
    const reasons = new Map<string, number>();
    const { stdout: evs } = await run(toolBinary('kubectl'), [
      '--kubeconfig',
      cp.kubeconfigPath,
      'get',
      'events',
      '-A',
      '-o',
      'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
    ]);
    for (const r of evs.split('\n').filter(Boolean)) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    console.error(`controller-scale events by reason: ${JSON.stringify(Object.fromEntries(reasons))}`);
    console.error(
      `controller-scale settled at ${settled} s; live heap after GC ${Math.round(liveHeap / 2 ** 20)} MiB`,
    );
    writesAtConverge = await apiserverRequests(cp.kubeconfigPath);
    console.error(
      `controller-scale writes during convergence: ${JSON.stringify(requestsSince(writesAtStart, writesAtConverge))}`,
    );
    console.error(
      `controller-scale milestones (s after controller start): ${JSON.stringify(milestones)}; tunnels Ready ${tunnels.list().filter((t) => t.status?.phase === 'Ready').length}/${tunnels.list().length}`,
    );
    console.error(`controller-scale CPU s during convergence: ${JSON.stringify(cpuConverge)}`);

    // Steady churn: move pods between policies at RATE changes/s; lag = change → slice update.
    // EGW_SCALE_APISERVER_PROFILE=<file>: a 10 s CPU profile of the apiserver during the churn.
    const apiProfile = process.env['EGW_SCALE_APISERVER_PROFILE'];
    if (apiProfile) {
      const out = await open(apiProfile, 'w');
      const kubectl = spawn(
        toolBinary('kubectl'),
        ['--kubeconfig', cp.kubeconfigPath, 'get', '--raw', '/debug/pprof/profile?seconds=10'],
        { stdio: ['ignore', out.fd, 'inherit'] },
      );
      kubectl.on('exit', () => void out.close());
    }
    // Baseline, side by side: one apiserver hop (a write seen through a watch) under the same
    // load, probed 10 times a second. The controller's path is two such hops (pod write seen
    // by the controller, slice write seen by the bench) plus its own work.
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'bench-probe' } },
    });
    let probeSent = new Map<string, number>();
    let hops: number[] = [];
    const probe = new Informer<KubernetesObject & { data?: { seq?: string } }>(kc, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/default/configmaps',
      fieldSelector: 'metadata.name=bench-probe',
      log,
    });
    probe.onChange((_e, cm) => {
      const seq = cm.data?.seq;
      const t = seq === undefined ? undefined : probeSent.get(seq);
      if (seq !== undefined && t !== undefined) {
        hops.push(Date.now() - t);
        probeSent.delete(seq);
      }
    });
    void probe.run();
    await probe.synced;
    // The controller's side of each change (see the runner): when it saw the pod, when it sent
    // the slice update that carries it and when that returned. Keys are "pod@policy".
    let sentAt = new Map<string, number>();
    let podSeen = new Map<string, number>();
    let writeSent = new Map<string, number>();
    let writeDone = new Map<string, number>();
    let sliceSeen = new Map<string, number>();
    child.on(
      'message',
      (m: { seen?: [string, number][]; writes?: { keys: string[]; sent: number; done: number }[] }) => {
        for (const [k, t] of m.seen ?? []) if (sentAt.has(k) && !podSeen.has(k)) podSeen.set(k, t);
        for (const w of m.writes ?? []) {
          for (const k of w.keys) {
            if (!sentAt.has(k) || writeSent.has(k)) continue;
            writeSent.set(k, w.sent);
            writeDone.set(k, w.done);
          }
        }
      },
    );
    slices.onChange((_e, s) => {
      for (const e of s.endpoints ?? []) {
        const k = `${e.pod}@${s.metadata?.labels?.['spidernet.io/policy-name']}`;
        if (sentAt.has(k) && !sliceSeen.has(k)) sliceSeen.set(k, Date.now());
      }
    });
    child.send('trace');
    const changes = 1000;
    let writesBefore = writesAtConverge;
    /**
     * 1,000 pod label changes at RATE/s, each moving a pod to another policy (so two slices
     * change); `target(k, from)` picks the k-th change's new policy. Pods are distinct across
     * calls (`first` offsets them): a pod moves at most once.
     */
    const churn = async (first: number, target: (k: number, from: number) => number) => {
      sentAt = new Map();
      podSeen = new Map();
      writeSent = new Map();
      writeDone = new Map();
      sliceSeen = new Map();
      probeSent = new Map();
      hops = [];
      const cpuBefore = await cpuNow();
      let seq = 0;
      const prober = setInterval(() => {
        const s = String(++seq);
        probeSent.set(s, Date.now());
        void core
          .patchNamespacedConfigMap(
            { name: 'bench-probe', namespace: 'default', body: { data: { seq: s } } },
            merge,
          )
          .catch(() => probeSent.delete(s));
      }, 100);
      const tChurn = Date.now();
      for (let k = 0; k < changes; k++) {
        const i = ((first + k) * 7919) % P;
        const to = target(k, i % POL);
        const due = tChurn + (k * 1000) / RATE;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sentAt.set(`pod-${i}@p-${to}`, Date.now());
        void core.patchNamespacedPod(
          { name: `pod-${i}`, namespace: 'default', body: { metadata: { labels: { app: `a${to}` } } } },
          merge,
        );
      }
      const deadline = Date.now() + 30_000;
      while (sliceSeen.size < sentAt.size && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      clearInterval(prober);
      const cpu = await cpuSince(cpuBefore);
      const loop = await new Promise<{ p50: number; p99: number; max: number }>((resolve) => {
        const onMessage = (m: { loop?: { p50: number; p99: number; max: number } }) => {
          if (!m.loop) return;
          child.off('message', onMessage);
          resolve(m.loop);
        };
        child.on('message', onMessage);
        child.send('loop');
      });
      const lags = [...sliceSeen].map(([k, t]) => t - sentAt.get(k)!);
      const stage = (from: Map<string, number>, to: Map<string, number>) => {
        const d = [...to].filter(([k]) => from.has(k)).map(([k, t]) => t - from.get(k)!);
        return `p50 ${percentile(d, 50)} p90 ${percentile(d, 90)} p99 ${percentile(d, 99)} (n=${d.length})`;
      };
      const stages = {
        'patch → controller sees pod': stage(sentAt, podSeen),
        'controller sees pod → slice write sent': stage(podSeen, writeSent),
        'slice write round trip': stage(writeSent, writeDone),
        'slice write sent → bench sees slice': stage(writeSent, sliceSeen),
        'controller event-loop delay': `p50 ${loop.p50.toFixed(1)} p99 ${loop.p99.toFixed(1)} max ${loop.max.toFixed(1)}`,
      };
      const writesAfter = await apiserverRequests(cp.kubeconfigPath);
      const writes = requestsSince(writesBefore, writesAfter);
      writesBefore = writesAfter;
      console.error(`controller-scale churn lag by stage (ms): ${JSON.stringify(stages)}`);
      console.error(`controller-scale writes during churn: ${JSON.stringify(writes)}`);
      console.error(`controller-scale CPU s during churn: ${JSON.stringify(cpu)}`);
      return {
        p99: percentile(lags, 99),
        twoHops: 2 * percentile(hops, 99),
        notes: `goal 500 ms; p50 ${percentile(lags, 50)} ms; ${lags.length}/${changes} observed, ${changes - lags.length} not seen within 30 s; by stage (ms): ${JSON.stringify(stages)}; one hop p50 ${percentile(hops, 50)} ms, p99 ${percentile(hops, 99)} ms (${hops.length} probes); writes ${JSON.stringify(writes)}; CPU s ${JSON.stringify(cpu)}`,
      };
    };
    // Spread: every change goes to a different policy (no two changes share a slice).
    const spread = await churn(0, (k, from) =>
      (k * 7 + 3) % POL === from ? (k * 7 + 4) % POL : (k * 7 + 3) % POL,
    );
    // Hot: all moves go into 25 policies (40 each, as in a rollout); at 100 changes/s each of
    // their slices changes every 250 ms, about as often as a write round trip here.
    const hotTargets = Math.min(25, POL - 1);
    const hot = await churn(changes, (k, from) => {
      const t = (k % hotTargets) * Math.floor(POL / hotTargets);
      return t === from ? (t + 1) % POL : t;
    });
    probe.stop();
    child.kill('SIGTERM');
    for (const i of [slices, policies, tunnels]) i.stop();
    const notes = `${N} nodes, ${P} pods, ${POL} policies, ${G} gateways; seeding took ${seeded.toFixed(0)} s; all ready at (s): ${JSON.stringify(milestones)}; last cold-start write at ${settled} s; CPU s during convergence ${JSON.stringify(cpuConverge)}`;
    return [
      {
        name: 'controller cold start to converged (every tunnel Ready, every EIP placed, every pod in its slice)',
        unit: 's',
        value: converged,
        baseline: { name: 'goal', value: 30 },
        ratio: converged / 30,
        notes,
      },
      {
        name: 'controller peak RSS',
        unit: 'MiB',
        value: Math.round(rss / 2 ** 20),
        baseline: { name: 'goal', value: 300 },
        ratio: rss / 2 ** 20 / 300,
        notes: `live heap after convergence and a full GC ${Math.round(liveHeap / 2 ** 20)} MiB; peak V8 heap used ${Math.round(heap / 2 ** 20)} MiB; at peak RSS: heap total ${Math.round(atPeak.heapTotal / 2 ** 20)} MiB, external ${Math.round(atPeak.external / 2 ** 20)} MiB; ${notes}`,
      },
      ...(
        [
          ['spread over 1,000 policies', spread],
          ['into 25 hot policies', hot],
        ] as const
      ).map(([what, r]) => ({
        name: `p99 lag pod label change → endpoint slice update at ${RATE} changes/s, ${what}`,
        unit: 'ms',
        value: r.p99,
        baseline: { name: 'two apiserver hops (write → watch) under the same load, p99', value: r.twoHops },
        ratio: r.p99 / r.twoHops,
        notes: r.notes,
      })),
    ];
  } finally {
    await destroyControlPlane(dir);
  }
}
