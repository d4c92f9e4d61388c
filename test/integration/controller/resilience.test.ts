// The controller under faults, on a real apiserver: the leader dies mid-churn and the standby
// takes over within one lease duration without moving or duplicating any EIP or mark; the
// apiserver restarts and etcd is compacted under the watches (410) and the controller
// recovers without a restart and converges. Uninstall's clean waits until a controller pod
// still in its grace period is really gone, and leaves nothing behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AppsV1Api } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../../src/api/schema/json-schema.ts';
import { parseConfig } from '../../../src/common/config.ts';
import { createLogger } from '../../../src/common/log.ts';
import { clean } from '../../../src/controller/clean.ts';
import { createControllers } from '../../../src/controller/controller.ts';
import { LeaderElector } from '../../../src/k8s/leader-election.ts';
import {
  type ControllerEnv,
  createEgressObject,
  type FakeNode,
  mergePatch,
  startControllerEnv,
} from '../../support/controller-env.ts';
import { compactEtcd } from '../../support/etcd.ts';
import { eventually } from '../../support/lab.ts';

const nodes: FakeNode[] = [1, 2, 3, 4].map((i) => ({
  name: `w${i}`,
  ip: `172.22.0.${10 + i}`,
  labels: { egw: 'yes' },
}));
let env: ControllerEnv;
const LEASE_MS = 3000;
type Pol = { status?: { eip?: { ipv4?: string }; node?: string } };
type Tun = { status?: { mark?: string; tunnel?: { ipv4?: string } } };

/** One controller replica: informers always, reconcilers only while holding the lease. */
function replica(identity: string) {
  const config = parseConfig({}, 'enableIPv4: true\ntunnelIpv4Subnet: 192.200.0.0/16\n');
  const log = createLogger(`replica-${identity}`, 'error');
  const controllers = createControllers(env.kc, config, log);
  controllers.start();
  const elector = new LeaderElector(env.kc, {
    name: 'egressgateway',
    namespace: 'default',
    identity,
    log,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: 2000,
    retryPeriodMs: 300,
    onStartedLeading: (signal) => void controllers.lead(signal),
    onStoppedLeading: () => controllers.stop(),
  });
  void elector.run();
  return {
    elector,
    async crash() {
      await elector.stop(false);
      controllers.stop();
    },
  };
}

async function createPolicy(i: number) {
  await createEgressObject(
    env.custom,
    'egresspolicies',
    'EgressPolicy',
    { name: `p${i}`, namespace: 'default' },
    {
      egressGatewayName: 'gw',
      egressIP: { useNodeIP: false, allocatorPolicy: 'rr' },
      appliedTo: { podSelector: { matchLabels: { app: `a${i}` } } },
    },
  );
}

async function state(count: number) {
  const pols = await Promise.all(
    Array.from({ length: count }, (_, i) => env.getObj<Pol>('egresspolicies', `p${i}`, 'default')),
  );
  const tuns = await Promise.all(nodes.map((n) => env.getObj<Tun>('egresstunnels', n.name)));
  return {
    eips: pols.map((p) => p.status?.eip?.ipv4 ?? ''),
    nodes: pols.map((p) => p.status?.node ?? ''),
    marks: tuns.map((t) => `${t.status?.mark}/${t.status?.tunnel?.ipv4}`),
  };
}

before(async () => {
  env = await startControllerEnv({ nodes, apiserverArgs: ['--watch-cache=false'] });
  await createEgressObject(
    env.custom,
    'egressgateways',
    'EgressGateway',
    { name: 'gw' },
    {
      ippools: { ipv4: ['10.80.0.1-10.80.0.100'] },
      nodeSelector: { selector: { matchLabels: { egw: 'yes' } } },
    },
  );
});

after(() => env?.close());

test('leader killed mid-churn: the standby takes over within a lease duration; nothing moves, nothing is duplicated', async () => {
  const a = replica('a');
  await eventually('a leads', async () => (a.elector.isLeader() ? true : undefined), 10_000);
  const b = replica('b');
  for (const n of nodes) {
    await eventually(
      `tunnel ${n.name}`,
      async () =>
        (await env.getObj<Tun>('egresstunnels', n.name).catch(() => undefined))?.status?.mark
          ? true
          : undefined,
      15_000,
    );
    await env.agentReports(n);
  }
  for (let i = 0; i < 20; i++) await createPolicy(i);
  await eventually(
    '20 placed',
    async () => ((await state(20)).nodes.every(Boolean) ? true : undefined),
    20_000,
  );
  const before = await state(20);
  // Churn: more policies arrive while the leader dies without releasing its lease.
  const churn = (async () => {
    for (let i = 20; i < 40; i++) await createPolicy(i);
  })();
  const t0 = Date.now();
  await a.crash();
  await eventually('b leads', async () => (b.elector.isLeader() ? true : undefined), 15_000);
  const takeover = Date.now() - t0;
  await churn;
  await eventually(
    '40 placed',
    async () => ((await state(40)).nodes.every(Boolean) ? true : undefined),
    20_000,
  );
  const afterState = await state(40);
  assert.ok(takeover <= LEASE_MS + 1000, `takeover after ${takeover} ms`);
  assert.deepEqual(afterState.eips.slice(0, 20), before.eips, 'no EIP of the first 20 was reassigned');
  assert.deepEqual(afterState.nodes.slice(0, 20), before.nodes, 'no EIP moved');
  assert.deepEqual(afterState.marks, before.marks, 'no mark or tunnel IP changed');
  assert.equal(new Set(afterState.eips).size, 40, 'no EIP handed out twice');
  console.log(`# standby took over ${takeover} ms after the leader died (lease ${LEASE_MS} ms)`);
  await b.crash();
});

test('apiserver crash and etcd compaction under the watches: the controller recovers and converges', async () => {
  env.startControllers();
  await eventually(
    'existing state seen',
    async () => ((await state(40)).nodes.every(Boolean) ? true : undefined),
    20_000,
  );
  await env.cp.restart('kube-apiserver', { crash: true });
  await compactEtcd(env.cp.state.dir, env.cp.state.ports.etcdClient);
  await createPolicy(40);
  await eventually(
    'new policy placed after the restart',
    async () => ((await env.getObj<Pol>('egresspolicies', 'p40', 'default')).status?.node ? true : undefined),
    30_000,
  );
  const s = await state(41);
  assert.equal(new Set(s.eips).size, 41);
});

test('uninstall: clean waits for a terminating controller pod, then nothing is left', async () => {
  // The controller keeps reconciling (it re-creates tunnels) while its pod is terminating.
  env.stopControllers();
  env.startControllers();
  const apps = env.kc.makeApiClient(AppsV1Api);
  const labels = { app: 'egw-controller-under-test' };
  await apps.createNamespacedDeployment({
    namespace: 'default',
    body: {
      metadata: { name: 'egw-controller' },
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'none' }] } },
      },
    },
  });
  // A pod marked for deletion but held by a finalizer: what a pod in its grace period looks like.
  await env.core.createNamespacedPod({
    namespace: 'default',
    body: {
      metadata: { name: 'egw-controller-old', labels, finalizers: ['test.egressgateway/hold'] },
      spec: { containers: [{ name: 'c', image: 'none' }] },
    },
  });
  await env.core.deleteNamespacedPod({ name: 'egw-controller-old', namespace: 'default' });
  await eventually('tunnels exist', async () =>
    (await listNames('egresstunnels')).length === 4 ? true : undefined,
  );

  let cleaned = false;
  const log = createLogger('clean', 'error');
  const cleaning = clean(
    env.kc,
    { validate: 'none', mutating: 'none', controller: 'default/egw-controller' },
    log,
  ).then(() => {
    cleaned = true;
  });
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(cleaned, false, 'clean went on while a controller pod still existed');
  // The old controller exits; its pod goes away.
  env.stopControllers();
  await env.core.patchNamespacedPod(
    { name: 'egw-controller-old', namespace: 'default', body: { metadata: { finalizers: null } } },
    mergePatch,
  );
  await cleaning;
  for (const plural of ['egresspolicies', 'egresstunnels', 'egressgateways', 'egressendpointslices']) {
    assert.deepEqual(await listNames(plural), [], `${plural} left behind`);
  }
});

async function listNames(plural: string): Promise<string[]> {
  const list = (await env.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as {
    items: { metadata: { name: string } }[];
  };
  return list.items.map((i) => i.metadata.name);
}
