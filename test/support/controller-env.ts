// A private control plane with our CRDs, optionally our admission webhook (served in
// process, registered as the chart does), the controller's reconcilers in process, and fake
// Nodes kept Ready by Lease heartbeats. Tests play the agents' part by reporting a tunnel
// parent. Everything started here is stopped by `close()`.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
} from '@kubernetes/client-node';
import type { ControlPlane } from '../../lab/src/index.ts';
import { toolBinary } from '../../lab/src/paths.ts';
import { GROUP, VERSION } from '../../src/api/schema/json-schema.ts';
import { parseConfig } from '../../src/common/config.ts';
import { run } from '../../src/common/exec.ts';
import { createLogger } from '../../src/common/log.ts';
import { controllerMetrics, newRegistry } from '../../src/common/metrics.ts';
import { type Controllers, createControllers } from '../../src/controller/controller.ts';
import { exitSoonAfterTests, privateControlPlane } from './cluster.ts';
import { startTestWebhook } from './webhook.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface FakeNode {
  name: string;
  ip: string;
  ipv6?: string;
  labels?: Record<string, string>;
}

export interface ControllerEnv {
  cp: ControlPlane;
  kc: KubeConfig;
  kubeconfigPath: string;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  controllers(): Controllers | undefined;
  startControllers(): void;
  stopControllers(): void;
  setReady(node: FakeNode, ready: boolean): Promise<void>;
  agentReports(node: FakeNode): Promise<void>;
  getObj<T = Record<string, unknown>>(plural: string, name: string, namespace?: string): Promise<T>;
  /** a metric's value as the controllers' registry reports it (0 when the series is absent) */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startControllerEnv(opts: {
  nodes: FakeNode[];
  confYaml?: string;
  webhook?: boolean;
  families?: { enableIPv4: boolean; enableIPv6: boolean };
  apiserverArgs?: string[];
}): Promise<ControllerEnv> {
  const cp = await privateControlPlane(opts.apiserverArgs ? { apiserverArgs: opts.apiserverArgs } : {});
  const kc = cp.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const kubectl = (args: string[]) =>
    run(toolBinary('kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args]);
  await kubectl(['apply', '-f', join(ROOT, 'charts/egressgateway/crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  const config = parseConfig(
    { LOG_LEVEL: 'warn' },
    opts.confYaml ?? 'enableIPv4: true\ntunnelIpv4Subnet: 192.200.0.1/16\n',
  );
  const webhook = opts.webhook
    ? await startTestWebhook(
        kc,
        join(cp.state.dir, 'webhook-pki'),
        opts.families ?? {
          enableIPv4: config.feature.enableIPv4,
          enableIPv6: config.feature.enableIPv6,
        },
      )
    : undefined;

  const setReady = async (n: FakeNode, ready: boolean) => {
    const now = new Date();
    const addresses = [
      { type: 'InternalIP', address: n.ip },
      ...(n.ipv6 ? [{ type: 'InternalIP', address: n.ipv6 }] : []),
    ];
    await core.patchNodeStatus(
      {
        name: n.name,
        body: {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: ready ? 'True' : 'False',
                reason: 'Test',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
            addresses,
          },
        },
      },
      mergePatch,
    );
  };
  for (const n of opts.nodes) {
    await core.createNode({ body: { metadata: { name: n.name, labels: n.labels ?? {} } } });
    await setReady(n, true);
  }
  // Lease heartbeats, so the real node-lifecycle controller keeps the fake nodes Ready.
  const coord = kc.makeApiClient(CoordinationV1Api);
  const beat = async () => {
    for (const n of opts.nodes) {
      const spec = {
        holderIdentity: n.name,
        leaseDurationSeconds: 40,
        renewTime: new V1MicroTime(Date.now()),
      };
      try {
        const l = await coord.readNamespacedLease({ name: n.name, namespace: 'kube-node-lease' });
        await coord.replaceNamespacedLease({
          name: n.name,
          namespace: 'kube-node-lease',
          body: { ...l, spec },
        });
      } catch {
        await coord
          .createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name: n.name }, spec } })
          .catch(() => undefined);
      }
    }
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), 3000);

  // One registry across controller restarts, as one process would have.
  const registry = newRegistry('controller-test');
  const metrics = controllerMetrics(registry);
  let controllers: Controllers | undefined;
  let leading: AbortController | undefined;
  const env: ControllerEnv = {
    cp,
    kc,
    kubeconfigPath: cp.kubeconfigPath,
    core,
    custom,
    controllers: () => controllers,
    startControllers() {
      controllers = createControllers(kc, config, createLogger('controller-test', 'warn'), metrics);
      controllers.start();
      leading = new AbortController();
      void controllers.lead(leading.signal);
    },
    stopControllers() {
      leading?.abort();
      controllers?.stop();
    },
    setReady,
    async agentReports(n) {
      await custom.patchClusterCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: 'egresstunnels',
          name: n.name,
          body: { status: { tunnel: { parent: { name: 'eth0', ipv4: n.ip } } } },
        },
        mergePatch,
      );
    },
    async metric(name, labels = {}) {
      const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
      const hit = m.find((v) =>
        Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x),
      );
      return hit?.value ?? 0;
    },
    async getObj<T>(plural: string, name: string, namespace?: string) {
      return (
        namespace
          ? await custom.getNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              plural,
              namespace,
              name,
            })
          : await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural, name })
      ) as T;
    },
    async close() {
      env.stopControllers();
      clearInterval(heartbeat);
      await webhook?.close();
      exitSoonAfterTests();
    },
  };
  return env;
}

/** Creates one of our objects: namespaced when `metadata.namespace` is set, else cluster-wide. */
export async function createEgressObject(
  custom: CustomObjectsApi,
  plural: string,
  kind: string,
  metadata: { name: string; namespace?: string; finalizers?: string[] },
  spec: Record<string, unknown>,
): Promise<void> {
  const body = { apiVersion: `${GROUP}/${VERSION}`, kind, metadata, spec };
  if (metadata.namespace)
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
      namespace: metadata.namespace,
      body,
    });
  else await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body });
}
