// The lab in its other shapes: dual stack with flannel-style bridge pods and the CNI's NAT
// jump appended (the seed's recommended setting), and IPv6 only with Calico-style pods.
// In each: egress masqueraded to the node's address per family, pod-to-pod across nodes,
// and a ClusterIP Service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NAT_CHAIN } from '../../../lab/src/net/nat-outgoing.ts';
import { type IpFamilyMode, planTopology } from '../../../lab/src/net/topology.ts';
import {
  curlFromPod,
  echoServerYaml,
  eventually,
  LAB_TEST_TIMEOUT,
  type Lab,
  runningPods,
  urlFor,
  withLab,
} from '../../support/lab.ts';

async function checkFamilies(
  t: test.TestContext,
  lab: Lab,
  family: IpFamilyMode,
  families: (4 | 6)[],
): Promise<void> {
  const topo = planTopology({ nodes: 2, ipFamily: family });
  await lab.apply(echoServerYaml('echo', 2, families.length === 2 ? 'RequireDualStack' : 'SingleStack'));
  const pods = await runningPods(lab, 'app=echo', 2);
  assert.equal(new Set(pods.map((p) => p.node)).size, 2, 'one pod per node');
  for (const p of pods) assert.equal(p.ips.length, families.length, `${p.name} has ${p.ips.join(',')}`);
  const external = { 4: 'http://10.6.1.92:8080', 6: 'http://[fd00:10:6::92]:8080' } as const;
  const svc = (await lab.kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIPs[*]}']))
    .trim()
    .split(' ');
  for (const fam of families) {
    const idx = families.indexOf(fam);
    await t.test(`IPv${fam}: egress, pod-to-pod and ClusterIP`, async () => {
      for (const p of pods) {
        const node = topo.nodes.find((n) => n.name === p.node)!;
        const nodeAddr = fam === 4 ? node.ipv4 : node.ipv6;
        assert.equal(await curlFromPod(lab, p.name, external[fam]), `Remote IP: ${nodeAddr}`);
        const peer = pods.find((q) => q.node !== p.node)!;
        assert.equal(
          await curlFromPod(lab, p.name, urlFor(peer.ips[idx]!, 8080)),
          `Remote IP: ${p.ips[idx]}`,
        );
        const clusterIp = svc.find((ip) => (fam === 6) === ip.includes(':'))!;
        assert.ok(clusterIp, `Service has an IPv${fam} ClusterIP: ${svc.join(',')}`);
        // The Service may pick the pod itself: kube-proxy then masquerades the hairpin, so
        // only check that the answer names one of the two pods' addresses or the node's.
        const via = await eventually('ClusterIP answers', () =>
          curlFromPod(lab, p.name, urlFor(clusterIp, 80)),
        );
        assert.match(via, /^Remote IP: /);
        const seen = via.slice('Remote IP: '.length);
        assert.ok([p.ips[idx], nodeAddr].includes(seen), `ClusterIP answer ${via} from ${p.name}`);
      }
    });
  }
}

test('lab: dual stack, bridge-style pods, NAT jump appended', { timeout: LAB_TEST_TIMEOUT }, async (t) => {
  await withLab(
    ['--nodes', '2', '--ip-family', 'dual', '--cni', 'bridge', '--cni-chain-insert-mode', 'append'],
    async (lab) => {
      await checkFamilies(t, lab, 'dual', [4, 6]);
      await t.test('the natOutgoing jump is the last rule of POSTROUTING', async () => {
        const out = await lab.lab([
          'node',
          'exec',
          'egressgateway-worker',
          '--',
          'iptables',
          '-t',
          'nat',
          '-S',
          'POSTROUTING',
        ]);
        const rules = out.stdout
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('-A POSTROUTING'));
        assert.equal(rules.at(-1), `-A POSTROUTING -j ${NAT_CHAIN}`, rules.join('\n'));
      });
    },
  );
});

test('lab: IPv6 only, Calico-style pods', { timeout: LAB_TEST_TIMEOUT }, async (t) => {
  await withLab(['--nodes', '2', '--ip-family', 'ipv6'], async (lab) => {
    await checkFamilies(t, lab, 'ipv6', [6]);
  });
});
