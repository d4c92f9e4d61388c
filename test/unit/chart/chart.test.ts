// The chart renders with upstream's values and several variations, with helm's own lint
// and template (helm v4 from the pinned layer; the chart also targets helm v3: apiVersion v2,
// no v4-only features).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { toolBinary } from '../../../lab/src/paths.ts';
import { run } from '../../../src/common/exec.ts';

const CHART = fileURLToPath(new URL('../../../charts/egressgateway', import.meta.url));
type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };

async function render(sets: string[]): Promise<Doc[]> {
  const args = [
    'template',
    'egressgateway',
    CHART,
    '-n',
    'kube-system',
    ...sets.flatMap((s) => ['--set', s]),
  ];
  const { stdout } = await run(toolBinary('helm'), args);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
}

const WEBHOOK_SECRET = 'egressgateway-controller-server-certs';
const find = (docs: Doc[], kind: string, name?: string) =>
  docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));

test('helm lint passes with defaults and with every optional part on', async () => {
  await run(toolBinary('helm'), ['lint', CHART]);
  await run(toolBinary('helm'), [
    'lint',
    CHART,
    '--set',
    'controller.prometheus.enabled=true,controller.prometheus.serviceMonitor.install=true',
    '--set',
    'agent.prometheus.enabled=true,controller.podDisruptionBudget.enabled=true',
  ]);
});

test("the seed's values: conf.yml carries the feature block, env and ports as upstream", async () => {
  const docs = await render([
    'feature.tunnelIpv4Subnet=192.200.0.1/16',
    'feature.enableIPv6=true',
    'feature.tunnelIpv6Subnet=fd01::/112',
  ]);
  const cm = find(docs, 'ConfigMap', 'egressgateway') as { data: Record<string, string> } & Doc;
  assert.match(cm.data['conf.yml']!, /tunnelIpv4Subnet: 192\.200\.0\.1\/16/);
  assert.match(cm.data['conf.yml']!, /enableIPv6: true/);
  const dep = find(docs, 'Deployment', 'egressgateway-controller') as Doc & {
    spec: {
      template: {
        spec: {
          containers: { env: { name: string; value?: string }[]; ports: { containerPort: number }[] }[];
        };
      };
    };
  };
  const env = Object.fromEntries(dep.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
  assert.equal(env['WEBHOOK_PORT'], '5822');
  assert.equal(env['HEALTH_PROBE_BIND_ADDRESS'], ':5820');
  assert.equal(env['CONFIGMAP_PATH'], '/tmp/config-map/conf.yml');
  assert.equal(env['METRICS_BIND_ADDRESS'], undefined, 'metrics off by default');
  const ds = find(docs, 'DaemonSet', 'egressgateway-agent') as Doc & {
    spec: {
      template: {
        spec: {
          hostNetwork: boolean;
          containers: { securityContext: { privileged: boolean } }[];
          volumes: { name: string; hostPath?: { path: string } }[];
        };
      };
    };
  };
  assert.equal(ds.spec.template.spec.hostNetwork, true);
  assert.equal(ds.spec.template.spec.containers[0]!.securityContext.privileged, true);
  assert.ok(ds.spec.template.spec.volumes.some((v) => v.hostPath?.path === '/run/xtables.lock'));
});

test('extraVolumes go to volumes and extraVolumeMounts to mounts (upstream had them crossed)', async () => {
  const docs = await render([
    'agent.extraVolumes[0].name=extra',
    'agent.extraVolumes[0].emptyDir.medium=Memory',
    'agent.extraVolumeMounts[0].name=extra',
    'agent.extraVolumeMounts[0].mountPath=/extra',
    'agent.securityContext.runAsUser=0',
  ]);
  const ds = find(docs, 'DaemonSet') as Doc & {
    spec: {
      template: {
        spec: {
          volumes: { name: string }[];
          containers: {
            volumeMounts: { name: string; mountPath: string }[];
            securityContext: Record<string, unknown>;
          }[];
        };
      };
    };
  };
  const spec = ds.spec.template.spec;
  assert.ok(spec.volumes.some((v) => v.name === 'extra'));
  assert.ok(spec.containers[0]!.volumeMounts.some((m) => m.mountPath === '/extra'));
  assert.deepEqual(spec.containers[0]!.securityContext, { privileged: true, runAsUser: 0 });
});

test('webhooks: both configurations point at the controller Service with a CA bundle', async () => {
  const docs = await render([]);
  const v = find(docs, 'ValidatingWebhookConfiguration') as Doc & {
    webhooks: {
      clientConfig: { service: { name: string; port: number; path: string }; caBundle: string };
      rules: { resources: string[]; operations: string[] }[];
    }[];
  };
  const m = find(docs, 'MutatingWebhookConfiguration') as typeof v;
  assert.deepEqual(v.webhooks[0]!.clientConfig.service, {
    name: 'egressgateway-controller',
    namespace: 'kube-system',
    port: 5822,
    path: '/validate',
  });
  assert.equal(m.webhooks[0]!.clientConfig.service.path, '/mutate');
  const secret = find(docs, 'Secret', WEBHOOK_SECRET) as Doc & { data: Record<string, string> };
  assert.equal(v.webhooks[0]!.clientConfig.caBundle, secret.data['ca.crt']);
  assert.match(Buffer.from(secret.data['tls.crt']!, 'base64').toString(), /BEGIN CERTIFICATE/);
  assert.ok(
    v.webhooks[0]!.rules.some(
      (r) => r.resources.includes('egressclusterinfos') && !r.operations.includes('CREATE'),
    ),
  );
});

test('tls.method provided and certmanager render, and fail clearly when incomplete', async () => {
  const b64 = Buffer.from('x').toString('base64');
  const provided = await render([
    'controller.tls.method=provided',
    `controller.tls.provided.tlsCert=${b64}`,
    `controller.tls.provided.tlsKey=${b64}`,
    `controller.tls.provided.tlsCa=${b64}`,
  ]);
  assert.equal(
    (find(provided, 'Secret', WEBHOOK_SECRET) as Doc & { data: Record<string, string> }).data['ca.crt'],
    b64,
  );
  await assert.rejects(
    render(['controller.tls.method=provided']),
    /controller\.tls\.method=provided needs controller\.tls\.provided\.tlsCert, tlsKey and tlsCa/,
  );
  const cm = await render(['controller.tls.method=certmanager', 'controller.tls.certmanager.issuerName=ca']);
  assert.ok(find(cm, 'Certificate'));
  assert.equal(find(cm, 'Secret', WEBHOOK_SECRET), undefined);
  await assert.rejects(
    render(['controller.tls.method=certmanager']),
    /needs controller\.tls\.certmanager\.issuerName/,
  );
});

test('optional parts: PDB, ServiceMonitor, PrometheusRule, Grafana dashboard, no cleanup Job', async () => {
  const docs = await render([
    'controller.podDisruptionBudget.enabled=true',
    'controller.prometheus.enabled=true',
    'controller.prometheus.serviceMonitor.install=true',
    'controller.prometheus.prometheusRule.install=true',
    'controller.prometheus.grafanaDashboard.install=true',
    'agent.prometheus.enabled=true',
    'cleanup.enable=false',
  ]);
  for (const kind of ['PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule', 'GrafanaDashboard'])
    assert.ok(find(docs, kind), kind);
  assert.equal(find(docs, 'Job'), undefined);
  assert.ok(find(docs, 'Service', 'egressgateway-agent'), 'agent metrics Service');
});

test('RBAC: the agent cannot write anything but EgressTunnel status; nobody may delete webhooks at runtime', async () => {
  const docs = await render([]);
  type Role = Doc & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  const agent = find(docs, 'ClusterRole', 'egressgateway-agent') as Role;
  const writes = agent.rules.filter((r) =>
    r.verbs.some((v) => ['create', 'update', 'patch', 'delete'].includes(v)),
  );
  assert.deepEqual(writes.flatMap((r) => r.resources).sort(), ['egresstunnels/status', 'events']);
  const controller = find(docs, 'ClusterRole', 'egressgateway-controller') as Role;
  assert.ok(!controller.rules.some((r) => r.apiGroups.includes('admissionregistration.k8s.io')));
  assert.ok(!controller.rules.some((r) => r.resources.includes('secrets')));
});

test('failover probe key: a random Secret mounted read-only into the agent; none without fast failover', async () => {
  const docs = await render([]);
  const key = find(docs, 'Secret', 'egressgateway-agent-probe-key') as Doc & { data: Record<string, string> };
  assert.match(Buffer.from(key.data['key']!, 'base64').toString(), /^[A-Za-z0-9]{64}$/);
  const again = find(await render([]), 'Secret', 'egressgateway-agent-probe-key') as typeof key;
  assert.notEqual(again.data['key'], key.data['key'], 'generated, not a constant of the chart');
  const agent = find(docs, 'DaemonSet') as Doc & {
    spec: {
      template: {
        spec: {
          containers: {
            env: { name: string; value?: string }[];
            volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
          }[];
          volumes: { name: string; secret?: { secretName: string } }[];
        };
      };
    };
  };
  const pod = agent.spec.template.spec;
  assert.deepEqual(
    pod.volumes.find((v) => v.name === 'probe-key')?.secret?.secretName,
    'egressgateway-agent-probe-key',
  );
  const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === 'probe-key');
  assert.deepEqual(mount, { name: 'probe-key', mountPath: '/etc/egressgateway/probe-key', readOnly: true });
  assert.equal(
    pod.containers[0]!.env.find((e) => e.name === 'PROBE_KEY_DIR')?.value,
    '/etc/egressgateway/probe-key',
  );
  const off = await render(['feature.fastFailover.enable=false']);
  assert.equal(find(off, 'Secret', 'egressgateway-agent-probe-key'), undefined);
});
