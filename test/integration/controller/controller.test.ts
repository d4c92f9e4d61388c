// The controller's reconcilers against a real apiserver, with Nodes created as objects and
// the agents' part (reporting a tunnel parent) written by the test: tunnels, EIP placement,
// shared default EIPs, failover on NotReady, deletion guard with cluster policies, restart
// stability, tunnel removal with its node.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GROUP, VERSION } from '../../../src/api/schema/json-schema.ts';
import {
  type ControllerEnv,
  type FakeNode,
  mergePatch as merge,
  startControllerEnv,
} from '../../support/controller-env.ts';
import { eventually } from '../../support/lab.ts';

const NODES: (FakeNode & { gateway: boolean })[] = [
  { name: 'n1', ip: '172.22.0.3', gateway: true, labels: { egressgateway: 'true' } },
  { name: 'n2', ip: '172.22.0.4', gateway: true, labels: { egressgateway: 'true' } },
  { name: 'n3', ip: '172.22.0.5', gateway: false },
];
let env: ControllerEnv;
let core: ControllerEnv['core'];
let custom: ControllerEnv['custom'];
const startControllers = () => env.startControllers();
const stopControllers = () => env.stopControllers();
const setReady = (name: string, ready: boolean) => env.setReady(NODES.find((n) => n.name === name)!, ready);
const agentReports = (name: string) => env.agentReports(NODES.find((n) => n.name === name)!);
type Got = {
  metadata: { finalizers?: string[] };
  status?: Record<string, unknown> & {
    phase?: string;
    mark?: string;
    tunnel?: { ipv4?: string; mac?: string };
    eip?: { ipv4?: string };
    node?: string;
    nodeList?: { name: string; status: string; eips: { ipv4: string; policies: { name: string }[] }[] }[];
  };
};
const getObj = (plural: string, name: string, namespace?: string) => env.getObj<Got>(plural, name, namespace);

async function createPolicy(name: string, cluster = false, spec: Record<string, unknown> = {}) {
  const body = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: cluster ? 'EgressClusterPolicy' : 'EgressPolicy',
    metadata: { name, ...(cluster ? {} : { namespace: 'default' }) },
    spec: {
      egressGatewayName: 'default',
      egressIP: { useNodeIP: false, allocatorPolicy: 'default' },
      appliedTo: { podSelector: { matchLabels: { app: name } } },
      ...spec,
    },
  };
  if (cluster)
    await custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'egressclusterpolicies',
      body,
    });
  else
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'egresspolicies',
      namespace: 'default',
      body,
    });
}

before(async () => {
  env = await startControllerEnv({ nodes: NODES });
  core = env.core;
  custom = env.custom;
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressclusterinfos',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressClusterInfo',
      metadata: { name: 'default' },
      spec: { autoDetect: { podCidrMode: 'auto', clusterIP: true, nodeIP: true } },
    },
  });
  startControllers();
});

after(() => env?.close());

test('every node gets an EgressTunnel: unique tunnel IP, MAC and mark; Init until its agent reports, then Ready', async () => {
  const tunnels = await eventually('tunnels allocated', async () => {
    const ts = await Promise.all(NODES.map((n) => getObj('egresstunnels', n.name).catch(() => undefined)));
    return ts.every((t) => t?.status?.phase === 'Init') ? ts : undefined;
  });
  const ips = tunnels.map((t) => t!.status!.tunnel!.ipv4);
  assert.equal(new Set(ips).size, 3);
  for (const ip of ips) assert.match(ip!, /^192\.200\.0\.\d+$/);
  assert.equal(new Set(tunnels.map((t) => t!.status!.mark)).size, 3);
  for (const t of tunnels) assert.match(t!.status!.tunnel!.mac!, /^66(:[0-9a-f]{2}){5}$/);
  // One allocation each, counted under upstream's metric names.
  await eventually('allocations counted', async () =>
    (await env.metric('egress_ip_allocate_next_restore_calls', { version: 'ipv4' })) === 3 &&
    (await env.metric('egress_mark_allocate_next_calls')) === 3
      ? true
      : undefined,
  );
  for (const n of NODES) await agentReports(n.name);
  await eventually('tunnels Ready', async () => {
    const ts = await Promise.all(NODES.map((n) => getObj('egresstunnels', n.name)));
    return ts.every((t) => t.status?.phase === 'Ready') ? true : undefined;
  });
});

test("the seed's gateway and policy: the default EIP lands on a Ready gateway node; statuses agree", async () => {
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressgateways',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressGateway',
      metadata: { name: 'default', finalizers: ['egressgateway.spidernet.io/egressgateway'] },
      spec: {
        ippools: { ipv4: ['172.22.0.100-172.22.0.110'], ipv4DefaultEIP: '172.22.0.110' },
        nodeSelector: { selector: { matchLabels: { egressgateway: 'true' } } },
      },
    },
  });
  await createPolicy('test');
  const p = await eventually('policy placed', async () => {
    const x = await getObj('egresspolicies', 'test', 'default');
    return x.status?.node ? x : undefined;
  });
  assert.equal(p.status?.eip?.ipv4, '172.22.0.110');
  assert.ok(['n1', 'n2'].includes(p.status!.node!));
  const gw = await getObj('egressgateways', 'default');
  assert.deepEqual(
    gw.status?.nodeList?.map((n) => [n.name, n.status]),
    [
      ['n1', 'Ready'],
      ['n2', 'Ready'],
    ],
  );
  const carrying = gw.status!.nodeList!.find((n) => n.eips.length)!;
  assert.equal(carrying.name, p.status!.node);
  assert.deepEqual(gw.status?.ipUsage, { ipv4Total: 11, ipv4Free: 10, ipv6Total: 0, ipv6Free: 0 });
  // The EIP gauge says what the status says.
  const other = p.status!.node === 'n1' ? 'n2' : 'n1';
  await eventually('EIP gauge', async () =>
    (await env.metric('egressgateway_eips', { gateway: 'default', node: p.status!.node! })) === 1 &&
    (await env.metric('egressgateway_eips', { gateway: 'default', node: other })) === 0 &&
    (await env.metric('egressgateway_eip_placements_total', {
      gateway: 'default',
      reason: 'EIPAssigned',
    })) === 1
      ? true
      : undefined,
  );
});

test('a second policy on the default EIP is listed in the same entry (upstream lost it)', async () => {
  await createPolicy('second');
  await eventually('both listed', async () => {
    const gw = await getObj('egressgateways', 'default');
    const entry = gw.status?.nodeList?.flatMap((n) => n.eips).find((e) => e.ipv4 === '172.22.0.110');
    return entry?.policies
      .map((x) => x.name)
      .sort()
      .join(',') === 'second,test'
      ? true
      : undefined;
  });
});

test('failover: the node carrying the EIP goes NotReady and the EIP moves to the other gateway node', async () => {
  const before = await getObj('egresspolicies', 'test', 'default');
  const from = before.status!.node!;
  const to = from === 'n1' ? 'n2' : 'n1';
  const t0 = Date.now();
  await setReady(from, false);
  await eventually('EIP moved', async () => {
    const p = await getObj('egresspolicies', 'test', 'default');
    return p.status?.node === to ? true : undefined;
  });
  const ms = Date.now() - t0;
  const gw = await getObj('egressgateways', 'default');
  assert.equal(gw.status?.nodeList?.find((n) => n.name === from)?.status, 'NodeNotReady');
  assert.equal(gw.status?.nodeList?.find((n) => n.name === to)?.eips[0]?.ipv4, '172.22.0.110');
  const events = await core.listNamespacedEvent({ namespace: 'default' });
  assert.ok(
    events.items.some((e) => e.reason === 'EIPMoved' && e.message?.includes(`from ${from} to ${to}`)),
  );
  assert.ok(ms < 5000, `moved after ${ms} ms`);
  assert.ok((await env.metric('egressgateway_eip_placements_total', { reason: 'EIPMoved' })) >= 1);
  assert.equal(await env.metric('egressgateway_eips', { gateway: 'default', node: to }), 1);
  // back to Ready: the EIP stays where it is now (stable)
  await setReady(from, true);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await getObj('egresspolicies', 'test', 'default')).status?.node, to);
});

test('a controller restart changes nothing: same tunnels, same placements', async () => {
  const snapshot = async () =>
    JSON.stringify([
      ...(await Promise.all(NODES.map((n) => getObj('egresstunnels', n.name)))).map((t) => t.status),
      (await getObj('egressgateways', 'default')).status,
      (await getObj('egresspolicies', 'test', 'default')).status,
    ]);
  const before = await snapshot();
  stopControllers();
  startControllers();
  await env.controllers()!.synced;
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await snapshot(), before);
});

test('endpoint slices follow pods: create, label change, delete; removed with their policy', async () => {
  const mkPod = async (name: string, ip: string, labels: Record<string, string>) => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name, labels },
        spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'nginx' }] },
      },
    });
    await core.patchNamespacedPodStatus(
      { name, namespace: 'default', body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
      merge,
    );
  };
  await mkPod('v1', '10.244.1.11', { app: 'visitors' });
  await mkPod('v2', '10.244.1.12', { app: 'visitors' });
  await mkPod('other', '10.244.1.13', { app: 'nope' });
  await createPolicy('visitors');
  type Slice = {
    metadata: { name: string; ownerReferences?: { name: string; controller?: boolean }[] };
    endpoints?: { pod: string; ipv4: string[]; node: string }[];
  };
  const slicesNow = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'egressendpointslices',
        namespace: 'default',
        labelSelector: 'spidernet.io/policy-name=visitors',
      })) as { items: Slice[] }
    ).items;
  const podsIn = async () =>
    (await slicesNow())
      .flatMap((s) => (s.endpoints ?? []).map((e) => `${e.pod}=${e.ipv4.join(',')}`))
      .sort()
      .join(' ');
  await eventually('slice with two pods', async () =>
    (await podsIn()) === 'v1=10.244.1.11 v2=10.244.1.12' ? true : undefined,
  );
  const [slice] = await slicesNow();
  assert.equal(slice!.metadata.ownerReferences?.[0]?.name, 'visitors');
  assert.match(slice!.metadata.name, /^visitors-/);
  await core.patchNamespacedPod(
    { name: 'v2', namespace: 'default', body: { metadata: { labels: { app: 'nope' } } } },
    merge,
  );
  await eventually('label change removes v2', async () =>
    (await podsIn()) === 'v1=10.244.1.11' ? true : undefined,
  );
  await core.patchNamespacedPod(
    { name: 'other', namespace: 'default', body: { metadata: { labels: { app: 'visitors' } } } },
    merge,
  );
  await core.deleteNamespacedPod({ name: 'v1', namespace: 'default', gracePeriodSeconds: 0 });
  await eventually('delete and relabel', async () =>
    (await podsIn()) === 'other=10.244.1.13' ? true : undefined,
  );
  // Quick successive changes to one policy: each write builds on the previous one's answer,
  // not on a cache that has not shown it yet; the end state is one slice with exactly the pods.
  for (let i = 0; i < 6; i++) await mkPod(`q${i}`, `10.244.2.${i + 1}`, { app: 'visitors' });
  for (let i = 0; i < 6; i += 2)
    await core.patchNamespacedPod(
      { name: `q${i}`, namespace: 'default', body: { metadata: { labels: { app: 'nope' } } } },
      merge,
    );
  const quick = 'other=10.244.1.13 q1=10.244.2.2 q3=10.244.2.4 q5=10.244.2.6';
  await eventually('quick changes land', async () => ((await podsIn()) === quick ? true : undefined));
  assert.equal((await slicesNow()).length, 1, 'no second slice from a stale view');
  // Someone else rewrites or deletes the slice: the controller puts back what the pods say.
  const [mine] = (await slicesNow()) as (Slice & { metadata: { resourceVersion?: string } })[];
  const theSlice = {
    group: GROUP,
    version: VERSION,
    plural: 'egressendpointslices',
    namespace: 'default',
    name: mine!.metadata.name,
  };
  await custom.replaceNamespacedCustomObject({
    ...theSlice,
    body: { ...mine, endpoints: [{ ns: 'default', pod: 'ghost', ipv4: ['10.9.9.9'], node: 'n1' }] },
  });
  await eventually('a foreign edit is undone', async () => ((await podsIn()) === quick ? true : undefined));
  await custom.deleteNamespacedCustomObject(theSlice);
  await eventually('a deleted slice is recreated', async () =>
    (await podsIn()) === quick && (await slicesNow())[0]?.metadata.name !== mine!.metadata.name
      ? true
      : undefined,
  );
  await custom.deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egresspolicies',
    namespace: 'default',
    name: 'visitors',
  });
  await eventually(
    'slices garbage-collected with the policy',
    async () => ((await slicesNow()).length === 0 ? true : undefined),
    30_000,
  );
});

test('EgressClusterInfo/default: node IPs, service CIDR, pod CIDR mode; a detector turned off clears', async () => {
  type Info = {
    status?: {
      podCidrMode?: string;
      nodeIP?: Record<string, { ipv4: string[] }>;
      clusterIP?: { ipv4: string[] };
      extraCidr?: string[];
    };
  };
  const info = await eventually('cluster info written', async () => {
    const i = (await custom.getClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'egressclusterinfos',
      name: 'default',
    })) as Info;
    return i.status?.clusterIP ? i : undefined;
  });
  assert.equal(info.status?.podCidrMode, 'k8s');
  assert.deepEqual(info.status?.clusterIP?.ipv4, ['10.96.0.0/16']);
  assert.deepEqual(info.status?.nodeIP?.['n1']?.ipv4, ['172.22.0.3']);
  await custom.patchClusterCustomObject(
    {
      group: GROUP,
      version: VERSION,
      plural: 'egressclusterinfos',
      name: 'default',
      body: { spec: { autoDetect: { nodeIP: false }, extraCidr: ['10.6.1.92'] } },
    },
    merge,
  );
  await eventually('nodeIP cleared, extraCidr normalized', async () => {
    const i = (await custom.getClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'egressclusterinfos',
      name: 'default',
    })) as Info;
    return !i.status?.nodeIP && i.status?.extraCidr?.[0] === '10.6.1.92/32' ? true : undefined;
  });
});

test('deletion guard: a gateway used by an EgressClusterPolicy only is kept until it is gone', async () => {
  await custom.deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egresspolicies',
    namespace: 'default',
    name: 'test',
  });
  await custom.deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egresspolicies',
    namespace: 'default',
    name: 'second',
  });
  await createPolicy('cluster-user', true);
  await custom.deleteClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressgateways',
    name: 'default',
  });
  await new Promise((r) => setTimeout(r, 1500));
  const still = await getObj('egressgateways', 'default');
  assert.deepEqual(still.metadata.finalizers, ['egressgateway.spidernet.io/egressgateway']);
  await custom.deleteClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressclusterpolicies',
    name: 'cluster-user',
  });
  await eventually('gateway deleted', async () => {
    try {
      await getObj('egressgateways', 'default');
      return undefined;
    } catch {
      return true;
    }
  });
});

test("a deleted node's EgressTunnel is released", async () => {
  await core.deleteNode({ name: 'n3' });
  await eventually('tunnel gone', async () => {
    try {
      await getObj('egresstunnels', 'n3');
      return undefined;
    } catch {
      return true;
    }
  });
  await eventually('release counted', async () =>
    (await env.metric('egress_ip_allocate_release_calls', { version: 'ipv4' })) === 1 &&
    (await env.metric('egress_mark_release_calls')) === 1
      ? true
      : undefined,
  );
});
