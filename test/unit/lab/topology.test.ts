// The lab's address plan and the pure parts of its kubelet: names, addresses, rules and
// objects that every other lab process derives from the same inputs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NodeIpam } from '../../../lab/src/kubelet/ipam.ts';
import { newNode, nodeStatus } from '../../../lab/src/kubelet/node-object.ts';
import { containerEnv, fieldValue, type PodLookup } from '../../../lab/src/kubelet/pod-spec.ts';
import { JUMP, jumpFix, labNatSpec, NAT_CHAIN, natOutgoingChain } from '../../../lab/src/net/nat-outgoing.ts';
import { hostVethName } from '../../../lab/src/net/pod-network.ts';
import {
  bridgeGateway,
  nodeName,
  planTopology,
  podAddresses,
  podNetns,
} from '../../../lab/src/net/topology.ts';

test('node names and addresses match a kind cluster named egressgateway', () => {
  const t = planTopology({ nodes: 4, ipFamily: 'dual' });
  assert.deepEqual(
    t.nodes.map((n) => [n.name, n.ipv4, n.ipv6, n.podCidrV4, n.podCidrV6]),
    [
      [
        'egressgateway-control-plane',
        '172.22.0.2',
        'fc00:f853:ccd:e793::2',
        '10.244.0.0/24',
        'fd00:10:244::/64',
      ],
      ['egressgateway-worker', '172.22.0.3', 'fc00:f853:ccd:e793::3', '10.244.1.0/24', 'fd00:10:244:1::/64'],
      ['egressgateway-worker2', '172.22.0.4', 'fc00:f853:ccd:e793::4', '10.244.2.0/24', 'fd00:10:244:2::/64'],
      ['egressgateway-worker3', '172.22.0.5', 'fc00:f853:ccd:e793::5', '10.244.3.0/24', 'fd00:10:244:3::/64'],
    ],
  );
  assert.equal(t.outsideV4?.external, '10.6.1.92');
  assert.deepEqual(t.serviceCidrs, ['10.96.0.0/16', 'fd00:10:96::/112']);
  assert.equal(nodeName(12), 'egressgateway-worker12');
});

test('single-family plans carry only that family', () => {
  const v4 = planTopology({ nodes: 2, ipFamily: 'ipv4' });
  assert.equal(v4.nodes[1]!.ipv6, undefined);
  assert.equal(v4.underlayV6, undefined);
  const v6 = planTopology({ nodes: 2, ipFamily: 'ipv6' });
  assert.equal(v6.nodes[1]!.ipv4, undefined);
  assert.deepEqual(v6.clusterPodCidrs, ['fd00:10:244::/56']);
});

test('bad options are all reported at once', () => {
  assert.throws(
    () => planTopology({ nodes: 0, ipFamily: 'ipv5' as never, cni: 'weave' as never }),
    /--nodes 0: use a whole number from 1 to 200; --ip-family ipv5: use ipv4, ipv6 or dual; --cni weave: use calico, bridge or flannel/,
  );
});

test('pod addresses share the host part across families and are canonical', () => {
  const t = planTopology({ nodes: 2, ipFamily: 'dual' });
  assert.deepEqual(podAddresses(t.nodes[0]!, 2), { ipv4: '10.244.0.2', ipv6: 'fd00:10:244::2' });
  assert.deepEqual(podAddresses(t.nodes[1]!, 200), { ipv4: '10.244.1.200', ipv6: 'fd00:10:244:1::c8' });
  assert.deepEqual(bridgeGateway(t.nodes[1]!), { ipv4: '10.244.1.1', ipv6: 'fd00:10:244:1::1' });
  assert.throws(() => podAddresses(t.nodes[0]!, 1), /out of 2..254/);
  assert.throws(() => podAddresses(t.nodes[0]!, 255), /out of 2..254/);
});

test('namespace and interface names fit the kernel limits and refuse junk', () => {
  assert.equal(podNetns('0f8fad5b-d9cb-469f-a165-70867728950e'), 'egwlab-pod-0f8fad5bd9cb469fa165');
  assert.throws(() => podNetns('../../etc'), /invalid pod uid/);
  const v = hostVethName('calico', 'default', 'visitor-abc');
  assert.match(v, /^cali[0-9a-f]{11}$/);
  assert.ok(v.length <= 15);
  assert.equal(v, hostVethName('calico', 'default', 'visitor-abc'), 'stable');
});

test('natOutgoing: masquerades only off-pool traffic of natOutgoing pools', () => {
  const spec = labNatSpec(planTopology({ nodes: 1 }));
  const v4 = natOutgoingChain(spec, 4)!;
  assert.match(v4, new RegExp(`-A ${NAT_CHAIN} -s 10\\.244\\.0\\.0/16 -d 10\\.244\\.0\\.0/16 -j RETURN`));
  assert.match(v4, new RegExp(`-A ${NAT_CHAIN} -s 10\\.244\\.0\\.0/16 -j MASQUERADE`));
  assert.doesNotMatch(v4, /POSTROUTING/, 'the jump is placed separately');
  assert.equal(natOutgoingChain(spec, 6), undefined, 'no IPv6 rules in an IPv4 lab');
  // a pool without natOutgoing: its destinations stay exempt, its pods are not masqueraded
  const two = natOutgoingChain(
    { mode: 'insert', pools: ['10.244.0.0/16', '10.250.0.0/16'], natPools: ['10.244.0.0/16'] },
    4,
  )!;
  assert.match(two, /-s 10\.244\.0\.0\/16 -d 10\.250\.0\.0\/16 -j RETURN/);
  assert.doesNotMatch(two, /-s 10\.250/);
});

test('natOutgoing jump: Insert keeps it first, Append moves it last once', () => {
  const kube = '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING';
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', kube], 'insert'), 'insert');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', kube], 'append'), 'append');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', JUMP, kube], 'insert'), 'ok');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', kube, JUMP], 'insert'), 'move-first');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', JUMP, kube], 'append'), 'move-last');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', kube, JUMP], 'append'), 'ok');
  assert.equal(jumpFix(['-P POSTROUTING ACCEPT', JUMP], 'append'), 'ok', 'alone: first is also last');
});

test('Node object: labels, podCIDRs, addresses, Ready condition, capacity', () => {
  const t = planTopology({ nodes: 2, ipFamily: 'dual' });
  const node = newNode(t.nodes[1]!);
  assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], 'egressgateway-worker');
  assert.equal(node.metadata?.labels?.['kubernetes.io/os'], 'linux');
  assert.deepEqual(node.spec?.podCIDRs, ['10.244.1.0/24', 'fd00:10:244:1::/64']);
  const st = nodeStatus(t.nodes[1]!, new Date(), new Date());
  assert.deepEqual(
    st.addresses?.map((a) => a.address),
    ['172.22.0.3', 'fc00:f853:ccd:e793::3', 'egressgateway-worker'],
  );
  assert.equal(st.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  assert.equal(st.allocatable?.['pods'], '110');
  assert.equal(newNode(t.nodes[0]!).metadata?.labels?.['node-role.kubernetes.io/control-plane'], '');
});

test('IPAM keeps allocations across restarts and ignores a corrupted file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipam-'));
  const file = join(dir, 'ipam.json');
  const a = new NodeIpam(file);
  assert.equal(a.allocate('pod-a'), 2);
  assert.equal(a.allocate('pod-b'), 3);
  assert.equal(a.allocate('pod-a'), 2, 'idempotent');
  a.release('pod-a');
  const b = new NodeIpam(file);
  assert.equal(b.get('pod-b'), 3);
  assert.equal(b.allocate('pod-c'), 2, 'freed address reused');
  writeFileSync(file, JSON.stringify({ x: 5, y: 5, z: 'junk', w: 999 }));
  const c = new NodeIpam(file);
  assert.deepEqual(c.keys(), ['x'], 'duplicates and garbage dropped');
  assert.equal(c.allocate('n'), 2);
  assert.match(readFileSync(file, 'utf8'), /"n": 2/);
});

test('container env: values, $(VAR) expansion, downward API, ConfigMap and Secret refs', async () => {
  const lookup: PodLookup = {
    configMap: async (_ns, name) => (name === 'cm' ? { LEVEL: 'debug' } : undefined),
    secret: async (_ns, name) => (name === 's' ? { TOKEN: 'shh' } : undefined),
    serviceAccountToken: async () => 'jwt',
  };
  const pod = {
    metadata: { name: 'p', namespace: 'kube-system', labels: { app: 'a' } },
    spec: { nodeName: 'egressgateway-worker', containers: [] },
  };
  const host = {
    hostIPs: ['172.22.0.3'],
    podIPs: ['10.244.1.2'],
    apiService: { host: '10.96.0.1', port: 443 },
  };
  const env = await containerEnv(
    pod,
    {
      name: 'c',
      env: [
        { name: 'A', value: 'x' },
        { name: 'B', value: '$(A)-y' },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'L', valueFrom: { configMapKeyRef: { name: 'cm', key: 'LEVEL' } } },
        { name: 'T', valueFrom: { secretKeyRef: { name: 's', key: 'TOKEN' } } },
      ],
    },
    host,
    lookup,
  );
  assert.equal(env['B'], 'x-y');
  assert.equal(env['NODE'], 'egressgateway-worker');
  assert.equal(env['IP'], '10.244.1.2');
  assert.equal(env['L'], 'debug');
  assert.equal(env['T'], 'shh');
  assert.equal(env['KUBERNETES_SERVICE_HOST'], '10.96.0.1');
  assert.equal(fieldValue(pod, host, "metadata.labels['app']"), 'a');
  await assert.rejects(
    containerEnv(
      pod,
      { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] },
      host,
      lookup,
    ),
    /env X: key k of nope not found/,
  );
});
