// Upstream's controller-level e2e cases (upstream-behaviour.md §6), by ID, against a real
// apiserver with our webhook and controller; Nodes are objects and the test plays the
// agents. Datapath checks ("pods egress via the EIP") belong to the agent milestone and are
// not claimed here; every status and admission check is. Budgets are upstream's or tighter.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../../src/api/schema/json-schema.ts';
import {
  type ControllerEnv,
  type FakeNode,
  mergePatch,
  startControllerEnv,
} from '../../support/controller-env.ts';
import { eventually } from '../../support/lab.ts';

const n1: FakeNode = {
  name: 'node1',
  ip: '172.22.0.3',
  ipv6: 'fc00::3',
  labels: { egw: 'yes', which: 'one' },
};
const n2: FakeNode = {
  name: 'node2',
  ip: '172.22.0.4',
  ipv6: 'fc00::4',
  labels: { egw: 'yes', which: 'two' },
};
const n3: FakeNode = { name: 'node3', ip: '172.22.0.5', ipv6: 'fc00::5', labels: {} };
let env: ControllerEnv;
const api = `${GROUP}/${VERSION}`;

type Status = {
  eip?: { ipv4?: string; ipv6?: string };
  node?: string;
  nodeList?: {
    name: string;
    status: string;
    eips: { ipv4: string; ipv6: string; policies: { name: string; namespace: string }[] }[];
  }[];
  ipUsage?: { ipv4Total: number; ipv4Free: number; ipv6Total: number; ipv6Free: number };
};
type Obj = {
  metadata: { name: string; finalizers?: string[]; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: Status;
};

const selector = (labels: Record<string, string>) => ({ selector: { matchLabels: labels } });

async function createGw(name: string, spec: Record<string, unknown>) {
  await env.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressgateways',
    body: { apiVersion: api, kind: 'EgressGateway', metadata: { name }, spec },
  });
}
async function createEgp(name: string, spec: Record<string, unknown>, namespace = 'default') {
  await env.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egresspolicies',
    namespace,
    body: { apiVersion: api, kind: 'EgressPolicy', metadata: { name }, spec },
  });
}
async function createEgcp(name: string, spec: Record<string, unknown>) {
  await env.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressclusterpolicies',
    body: { apiVersion: api, kind: 'EgressClusterPolicy', metadata: { name }, spec },
  });
}
const gwObj = (name: string) => env.getObj<Obj>('egressgateways', name);
const egpObj = (name: string, ns = 'default') => env.getObj<Obj>('egresspolicies', name, ns);
const egcpObj = (name: string) => env.getObj<Obj>('egressclusterpolicies', name);
const patchGw = (name: string, spec: Record<string, unknown>) =>
  env.custom.patchClusterCustomObject(
    { group: GROUP, version: VERSION, plural: 'egressgateways', name, body: { spec } },
    mergePatch,
  );
const del = (plural: string, name: string, namespace?: string) =>
  namespace
    ? env.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name })
    : env.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name });
const gone = async (p: Promise<unknown>) => {
  try {
    await p;
    return false;
  } catch (err) {
    return err instanceof ApiException && err.code === 404;
  }
};
async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiException, String(err));
    assert.match(String((typeof err.body === 'string' ? JSON.parse(err.body) : err.body)?.message), message);
    return true;
  });
}

before(async () => {
  env = await startControllerEnv({
    nodes: [n1, n2, n3],
    webhook: true,
    confYaml:
      'enableIPv4: true\nenableIPv6: true\ntunnelIpv4Subnet: 192.200.0.0/16\ntunnelIpv6Subnet: fd11::/112\n',
  });
  env.startControllers();
  for (const n of [n1, n2, n3]) {
    await eventually(`tunnel ${n.name}`, async () =>
      (await env.getObj<Obj>('egresstunnels', n.name).catch(() => undefined)) ? true : undefined,
    );
    await env.agentReports(n);
  }
  await env.core.createNamespace({ body: { metadata: { name: 'test-ns' } } });
});

after(() => env?.close());

test('G00005-G00008, G00012: pools as single IP, range and CIDR; defaults filled inside the pools; growing both families', async () => {
  await createGw('g-single', {
    ippools: { ipv4: ['10.61.0.1'], ipv6: ['fd61::1'] },
    nodeSelector: selector({ egw: 'yes' }),
  });
  await createGw('g-range', {
    ippools: { ipv4: ['10.62.0.1-10.62.0.3'], ipv6: ['fd62::1-fd62::3'] },
    nodeSelector: selector({ egw: 'yes' }),
  });
  await createGw('g-cidr', {
    ippools: { ipv4: ['10.63.0.0/30'], ipv6: ['fd63::/127'] },
    nodeSelector: selector({ egw: 'yes' }),
  });
  for (const [name, v4, v6] of [
    ['g-single', /^10\.61\.0\.1$/, /^fd61::1$/],
    ['g-range', /^10\.62\.0\.[123]$/, /^fd62::[123]$/],
    ['g-cidr', /^10\.63\.0\.[12]$/, /^fd63::[01]?$/],
  ] as const) {
    const ip = (await gwObj(name)).spec['ippools'] as Record<string, string>;
    assert.match(ip['ipv4DefaultEIP']!, v4, name);
    assert.match(ip['ipv6DefaultEIP']!, v6, name);
  }
  await patchGw('g-range', { ippools: { ipv4: ['10.62.0.1-10.62.0.4'], ipv6: ['fd62::1-fd62::4'] } });
  assert.deepEqual(((await gwObj('g-range')).spec['ippools'] as { ipv4: string[] }).ipv4, [
    '10.62.0.1-10.62.0.4',
  ]);
});

test('G00009, G00011: updates that add an invalid address, or one family only, are refused', async () => {
  await refused(
    patchGw('g-range', { ippools: { ipv4: ['10.62.0.1-10.62.0.4', 'bad'] } }),
    /Failed to check IP/,
  );
  await refused(
    patchGw('g-range', { ippools: { ipv4: ['10.62.0.1-10.62.0.5'] } }),
    /The number of ipv4 and ipv6 is not equal/,
  );
});

test('(no ID) ipUsage totals count ranges, with a selector matching no node', async () => {
  await createGw('g-count', {
    ippools: { ipv4: ['10.6.1.21', '10.6.1.11-10.6.1.20'], ipv6: ['fd00::1', 'fd01::1-fd01::a'] },
    nodeSelector: selector({ none: 'x' }),
  });
  await eventually(
    'ipUsage',
    async () => {
      const u = (await gwObj('g-count')).status?.ipUsage;
      return u?.ipv4Total === 11 && u.ipv6Total === 11 ? true : undefined;
    },
    10_000,
  );
});

test('P00008, P00022, P00010: default EIP, explicit EIP, explicit with rr; gateway and policy status agree', async () => {
  await createGw('g-p', {
    ippools: {
      ipv4: ['10.6.100.1-10.6.100.3'],
      ipv6: ['fd09:6:100::1-fd09:6:100::3'],
      ipv4DefaultEIP: '10.6.100.1',
      ipv6DefaultEIP: 'fd09:6:100::1',
    },
    nodeSelector: selector({ which: 'one' }),
  });
  await createEgp('p8', {
    egressGatewayName: 'g-p',
    appliedTo: { podSelector: { matchLabels: { app: 'p8' } } },
  });
  await createEgp('p22', {
    egressGatewayName: 'g-p',
    egressIP: { ipv4: '10.6.100.2', ipv6: 'fd09:6:100::2' },
    appliedTo: { podSelector: { matchLabels: { app: 'p22' } } },
  });
  await createEgp('p10', {
    egressGatewayName: 'g-p',
    egressIP: { ipv4: '10.6.100.3', ipv6: 'fd09:6:100::3', allocatorPolicy: 'rr' },
    appliedTo: { podSelector: { matchLabels: { app: 'p10' } } },
  });
  for (const [name, v4, v6] of [
    ['p8', '10.6.100.1', 'fd09:6:100::1'],
    ['p22', '10.6.100.2', 'fd09:6:100::2'],
    ['p10', '10.6.100.3', 'fd09:6:100::3'],
  ] as const) {
    const st = await eventually(
      `${name} status`,
      async () => {
        const s = (await egpObj(name)).status;
        return s?.node ? s : undefined;
      },
      10_000,
    );
    assert.deepEqual(st, { eip: { ipv4: v4, ipv6: v6 }, node: 'node1' });
  }
  const g = await gwObj('g-p');
  assert.deepEqual(g.status?.ipUsage, { ipv4Total: 3, ipv4Free: 0, ipv6Total: 3, ipv6Free: 0 });
  assert.equal(g.status?.nodeList?.find((n) => n.name === 'node1')?.eips.length, 3);
});

test('G00010: removing an allocated address from the pool is refused', async () => {
  await refused(
    patchGw('g-p', {
      ippools: {
        ipv4: ['10.6.100.2-10.6.100.3', '10.6.100.4'],
        ipv6: ['fd09:6:100::2-fd09:6:100::4'],
        ipv4DefaultEIP: '10.6.100.2',
        ipv6DefaultEIP: 'fd09:6:100::2',
      },
    }),
    /10\.6\.100\.1 has been allocated and cannot be deleted/,
  );
});

test('P00018, P00019: egressIP and egressGatewayName cannot change', async () => {
  const patch = (spec: Record<string, unknown>) =>
    env.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: 'egresspolicies',
        namespace: 'default',
        name: 'p22',
        body: { spec },
      },
      mergePatch,
    );
  await refused(patch({ egressIP: { ipv4: '10.6.100.3' } }), /the EgressIP\.IPv4 field cannot be modified/);
  await refused(patch({ egressGatewayName: 'g-range' }), /'spec\.EgressGatewayName' field is immutable/);
});

test('(no ID) dual-stack gateway with an IPv6-only pool: a policy naming only an IPv6 EIP gets it', async () => {
  await createGw('g-v6', {
    ippools: { ipv6: ['fd09:6:100::10', 'fd09:6:100::20'], ipv6DefaultEIP: 'fd09:6:100::10' },
    nodeSelector: selector({ egw: 'yes' }),
  });
  await createEgp('p-v6', {
    egressGatewayName: 'g-v6',
    egressIP: { ipv6: 'fd09:6:100::20' },
    appliedTo: { podSelector: { matchLabels: { app: 'v6' } } },
  });
  await eventually(
    'ipv6 EIP',
    async () => ((await egpObj('p-v6')).status?.eip?.ipv6 === 'fd09:6:100::20' ? true : undefined),
    10_000,
  );
});

test('G00018, G00019, P00015, P00016: empty-pool gateway; useNodeIP false refused, true placed; selector change moves it', async () => {
  await createGw('g-empty', { nodeSelector: selector({ which: 'one' }) });
  const applied = { podSelector: { matchLabels: { app: 'nodeip' } } };
  await refused(
    createEgp('nodeip-off', { egressGatewayName: 'g-empty', appliedTo: applied }),
    /UseNodeIP is false, referenced egw\(g-empty\) spec\.Ippools cannot be empty/,
  );
  await refused(
    createEgcp('nodeip-off-c', { egressGatewayName: 'g-empty', appliedTo: applied }),
    /UseNodeIP is false/,
  );
  await createEgp('nodeip', {
    egressGatewayName: 'g-empty',
    egressIP: { useNodeIP: true },
    appliedTo: applied,
  });
  const t0 = Date.now();
  await eventually(
    'useNodeIP entry on node1',
    async () => {
      const g = await gwObj('g-empty');
      const e = g.status?.nodeList?.find((n) => n.name === 'node1');
      return e?.status === 'Ready' && e.eips[0]?.policies[0]?.name === 'nodeip' && !e.eips[0].ipv4
        ? true
        : undefined;
    },
    3000,
  );
  // The policy's status is written right after the gateway's: allow it to land.
  const st = await eventually(
    'policy status',
    async () => {
      const s = (await egpObj('nodeip')).status;
      return s?.node ? s : undefined;
    },
    3000,
  );
  assert.deepEqual(st, { eip: { ipv4: n1.ip, ipv6: n1.ipv6 }, node: 'node1' });
  assert.ok(Date.now() - t0 < 3000);
  await patchGw('g-empty', { nodeSelector: selector({ which: 'two' }) });
  await eventually(
    'moved to node2 within 3 s',
    async () => ((await egpObj('nodeip')).status?.node === 'node2' ? true : undefined),
    3000,
  );
  assert.deepEqual((await egpObj('nodeip')).status?.eip, { ipv4: n2.ip, ipv6: n2.ipv6 });
});

test('G00014: selector to no node empties nodeList and the policy status; back restores', async () => {
  await patchGw('g-empty', { nodeSelector: selector({ which: 'nobody' }) });
  await eventually(
    'empty',
    async () => {
      const g = await gwObj('g-empty');
      const p = await egpObj('nodeip');
      return g.status?.nodeList?.length === 0 && !p.status?.node ? true : undefined;
    },
    5000,
  );
  assert.deepEqual((await egpObj('nodeip')).status ?? {}, {});
  await patchGw('g-empty', { nodeSelector: selector({ which: 'two' }) });
  await eventually(
    'restored',
    async () => ((await egpObj('nodeip')).status?.node === 'node2' ? true : undefined),
    5000,
  );
});

test('G00017, P00002, P00003: cluster default gateway; namespace label wins; a second default is refused', async () => {
  await createGw('g-default', {
    clusterDefault: true,
    ippools: { ipv4: ['10.99.0.1-10.99.0.3'], ipv6: ['fd99::1-fd99::3'] },
    nodeSelector: selector({ which: 'one' }),
  });
  await refused(
    createGw('g-default-2', { clusterDefault: true, nodeSelector: selector({ which: 'one' }) }),
    /A cluster can only have one default gateway/,
  );
  await createEgcp('c-default', { appliedTo: { podSelector: { matchLabels: { app: 'cd' } } } });
  const c = await eventually(
    'cluster policy placed',
    async () => {
      const o = await egcpObj('c-default');
      return o.status?.node ? o : undefined;
    },
    5000,
  );
  assert.equal(c.spec['egressGatewayName'], 'g-default');
  const d = (await gwObj('g-default')).spec['ippools'] as Record<string, string>;
  assert.deepEqual(c.status, {
    eip: { ipv4: d['ipv4DefaultEIP'], ipv6: d['ipv6DefaultEIP'] },
    node: 'node1',
  });
  await eventually(
    'ipUsage 3/2',
    async () => {
      const u = (await gwObj('g-default')).status?.ipUsage;
      return u?.ipv4Total === 3 && u.ipv4Free === 2 ? true : undefined;
    },
    5000,
  );
  await env.core.patchNamespace(
    { name: 'test-ns', body: { metadata: { labels: { 'spidernet.io/egressgateway-default': 'g-p' } } } },
    mergePatch,
  );
  await createEgp(
    'by-label',
    { egressIP: { useNodeIP: false }, appliedTo: { podSelector: { matchLabels: { app: 'l' } } } },
    'test-ns',
  );
  assert.equal((await egpObj('by-label', 'test-ns')).spec['egressGatewayName'], 'g-p');
  await createEgp('by-default', { appliedTo: { podSelector: { matchLabels: { app: 'l' } } } });
  assert.equal((await egpObj('by-default')).spec['egressGatewayName'], 'g-default');
});

test('P00021, S00001: endpoint slices hold exactly the selected pods of the policy namespace, and follow them', async () => {
  await createEgp('s1', {
    egressGatewayName: 'g-p',
    appliedTo: { podSelector: { matchLabels: { app: 'same' } } },
  });
  const mkPod = async (name: string, ns: string, ip: string) => {
    await env.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, labels: { app: 'same' } },
        spec: { nodeName: 'node3', containers: [{ name: 'c', image: 'x' }] },
      },
    });
    await env.core.patchNamespacedPodStatus(
      { name, namespace: ns, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } },
      mergePatch,
    );
  };
  for (let i = 0; i < 10; i++) await mkPod(`pod-${i}`, 'default', `10.244.3.${10 + i}`);
  await mkPod('pod-0', 'test-ns', '10.244.3.99');
  type Slice = { endpoints?: { ns: string; pod: string; ipv4: string[]; node: string }[] };
  const endpoints = async () =>
    (
      (await env.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'egressendpointslices',
        namespace: 'default',
        labelSelector: 'spidernet.io/policy-name=s1',
      })) as { items: Slice[] }
    ).items.flatMap((s) => s.endpoints ?? []);
  const eps = await eventually(
    '10 endpoints',
    async () => {
      const e = await endpoints();
      return e.length === 10 ? e : undefined;
    },
    20_000,
  );
  assert.ok(
    eps.every((e) => e.ns === 'default' && e.node === 'node3'),
    'only the policy namespace',
  );
  assert.deepEqual(
    eps.map((e) => e.ipv4[0]).sort(),
    Array.from({ length: 10 }, (_, i) => `10.244.3.${10 + i}`).sort(),
  );
  for (let i = 0; i < 10; i++)
    await env.core.deleteNamespacedPod({ name: `pod-${i}`, namespace: 'default', gracePeriodSeconds: 0 });
  await eventually(
    'slice gone after the pods',
    async () => ((await endpoints()).length === 0 ? true : undefined),
    10_000,
  );
});

test('I00001-I00005, I00007: cluster info status; detector switches accepted and applied; default cannot be deleted', async () => {
  await env.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressclusterinfos',
    body: {
      apiVersion: api,
      kind: 'EgressClusterInfo',
      metadata: { name: 'default' },
      spec: { autoDetect: { podCidrMode: 'auto', clusterIP: true, nodeIP: true } },
    },
  });
  type Info = {
    status?: {
      clusterIP?: { ipv4: string[] };
      nodeIP?: Record<string, { ipv4: string[] }>;
      podCidrMode?: string;
      extraCidr?: string[];
    };
  };
  const info = () => env.getObj<Info>('egressclusterinfos', 'default');
  await eventually(
    'I00001',
    async () => {
      const i = await info();
      return i.status?.clusterIP?.ipv4[0] === '10.96.0.0/16' && i.status.nodeIP?.['node1']?.ipv4[0] === n1.ip
        ? true
        : undefined;
    },
    30_000,
  );
  const patch = (spec: Record<string, unknown>) =>
    env.custom.patchClusterCustomObject(
      { group: GROUP, version: VERSION, plural: 'egressclusterinfos', name: 'default', body: { spec } },
      mergePatch,
    );
  await patch({ autoDetect: { clusterIP: false } });
  await patch({ autoDetect: { nodeIP: false } });
  await patch({ autoDetect: { podCidrMode: 'k8s' } });
  await patch({ extraCidr: ['10.10.10.1'] });
  await eventually(
    'I00002-I00005 applied',
    async () => {
      const s = (await info()).status;
      return s && !s.clusterIP && !s.nodeIP && s.podCidrMode === 'k8s' && s.extraCidr?.[0] === '10.10.10.1/32'
        ? true
        : undefined;
    },
    30_000,
  );
  await refused(
    del('egressclusterinfos', 'default'),
    /EgressClusterInfo 'default' is not allowed to be deleted/,
  );
});

test('R00008, P00009: rr hands every pool address out exactly once; extra policies get an empty status', async () => {
  await createGw('g-rr', {
    ippools: { ipv4: ['10.70.0.1-10.70.0.50'], ipv6: ['fd70::1-fd70::32'] },
    nodeSelector: selector({ egw: 'yes' }),
  });
  const applied = (i: number) => ({ podSelector: { matchLabels: { app: `rr${i}` } } });
  for (let i = 0; i < 70; i++)
    await createEgp(`rr-${i}`, {
      egressGatewayName: 'g-rr',
      egressIP: { allocatorPolicy: 'rr' },
      appliedTo: applied(i),
    });
  const statuses = await eventually(
    'all rr policies reconciled',
    async () => {
      const all = await Promise.all(Array.from({ length: 70 }, (_, i) => egpObj(`rr-${i}`)));
      const placed = all.filter((p) => p.status?.node);
      return placed.length === 50 ? all : undefined;
    },
    60_000,
  );
  const ips = statuses.map((p) => p.status?.eip?.ipv4).filter(Boolean);
  assert.equal(new Set(ips).size, 50, 'every pool address exactly once');
  assert.equal(
    statuses.filter((p) => !p.status?.node && !p.status?.eip).length,
    20,
    'the 20 extra have an empty status',
  );
  const u = (await gwObj('g-rr')).status?.ipUsage;
  assert.equal(u?.ipv4Total, 50);
  assert.equal(u?.ipv4Free, 0);
  for (let i = 0; i < 70; i++) await del('egresspolicies', `rr-${i}`, 'default');
  await eventually(
    'all free again',
    async () => ((await gwObj('g-rr')).status?.ipUsage?.ipv4Free === 50 ? true : undefined),
    60_000,
  );
});

test('R00005, R00006: a failed node hands its EIP over; all gateway nodes down empties statuses; recovery does not drift', async () => {
  const placed = await eventually('p8 placed', async () =>
    (await egpObj('p8')).status?.node ? (await egpObj('p8')).status! : undefined,
  );
  // A merge patch merges matchLabels: drop the old key explicitly.
  await patchGw('g-p', { nodeSelector: { selector: { matchLabels: { egw: 'yes', which: null } } } });
  await new Promise((r) => setTimeout(r, 1000));
  const from = (await egpObj('p8')).status!.node!;
  const other = from === 'node1' ? n2 : n1;
  await env.setReady(from === 'node1' ? n1 : n2, false);
  await eventually(
    'R00005 moved',
    async () => {
      const st = (await egpObj('p8')).status;
      if (st?.node === other.name) return true;
      const tunnels = await Promise.all([n1, n2].map((n) => env.getObj<Obj>('egresstunnels', n.name)));
      throw new Error(
        `p8 ${JSON.stringify(st)} gw ${JSON.stringify((await gwObj('g-p')).status?.nodeList)} tunnels ${JSON.stringify(tunnels.map((t) => t.status))}`,
      );
    },
    5000,
  );
  const g = await gwObj('g-p');
  assert.equal(g.status?.nodeList?.find((n) => n.name === from)?.status, 'NodeNotReady');
  assert.equal(placed.eip?.ipv4, (await egpObj('p8')).status?.eip?.ipv4, 'same EIP');
  await env.setReady(other, false);
  await eventually(
    'R00006 all down',
    async () => {
      const p = await egpObj('p8');
      const u = (await gwObj('g-p')).status?.ipUsage;
      return !p.status?.node && u?.ipv4Free === u?.ipv4Total ? true : undefined;
    },
    5000,
  );
  await env.setReady(n1, true);
  await eventually(
    'node1 takes it',
    async () => ((await egpObj('p8')).status?.node === 'node1' ? true : undefined),
    10_000,
  );
  await env.setReady(n2, true);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await egpObj('p8')).status?.node, 'node1', 'no drift when the others come back');
});

test('G00020, G00015, G00016: finalizer; a referenced gateway waits; it goes once unreferenced', async () => {
  assert.deepEqual((await gwObj('g-empty')).metadata.finalizers, [
    'egressgateway.spidernet.io/egressgateway',
  ]);
  await del('egressgateways', 'g-empty');
  await new Promise((r) => setTimeout(r, 6000));
  assert.ok((await gwObj('g-empty')).metadata.deletionTimestamp, 'still there, being deleted');
  await del('egresspolicies', 'nodeip', 'default');
  await eventually(
    'gateway gone within 6 s',
    async () => ((await gone(gwObj('g-empty'))) ? true : undefined),
    6000,
  );
});
