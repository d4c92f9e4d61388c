// The seed's Quick Start on Flannel for real: the lab runs the real flanneld (VXLAN backend,
// Kubernetes subnet manager, its own masquerade rules) on every node, pods on cni0 with the
// overlay's MTU. Our VXLAN tunnel runs beside flannel.1; selected pods on every node leave
// with the EIP, unselected ones with their node address (flannel's masquerade), and traffic
// inside the cluster (pod to pod across the overlay, pod to ClusterIP) keeps the pod address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allSee,
  carrier,
  EXTERNAL,
  helmInstall,
  inNode,
  labelGatewayNodes,
  NODE_IPS,
} from '../../support/egress.ts';
import {
  curlFromPod,
  echoServerYaml,
  eventually,
  LAB_TEST_TIMEOUT,
  type PodView,
  runningPods,
  urlFor,
  visitorYaml,
  withLab,
} from '../../support/lab.ts';
import { SEED_GATEWAY, SEED_POLICY } from '../../support/seed.ts';

const EIP = '172.22.0.110';

test('egress on Flannel: the real flanneld overlay, the seed Quick Start from every node', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(['--nodes', '3', '--cni', 'flannel'], async (lab) => {
    let visitors: PodView[] = [];
    let bystanders: PodView[] = [];

    await t.test('flanneld links the nodes: flannel.1 (VXLAN 8472), routes to every other node', async () => {
      for (const node of Object.keys(NODE_IPS)) {
        const link = (await inNode(node, ['ip', '-d', 'link', 'show', 'flannel.1'])).stdout;
        assert.match(link, /vxlan id 1 local 172\.22\.0\.\d+ dev eth0 .*dstport 8472/, `${node}: ${link}`);
        const routes = (await inNode(node, ['ip', 'route', 'show', 'dev', 'flannel.1'])).stdout;
        const others = Object.keys(NODE_IPS).filter((n) => n !== node).length;
        assert.equal(routes.trim().split('\n').length, others, `${node} routes: ${routes}`);
        const nat = (await inNode(node, ['iptables', '-w', '5', '-t', 'nat', '-S', 'POSTROUTING'])).stdout;
        assert.match(nat, /-j FLANNEL-POSTRTG/, "flannel's own masquerade chain");
      }
      const annotations = await lab.kubectl([
        'get',
        'node',
        'egressgateway-worker',
        '-o',
        'jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/public-ip}',
      ]);
      assert.equal(annotations.trim(), '172.22.0.3', "flanneld published the node's VTEP");
    });

    await t.test('helm install, the seed gateway and policy, pods on every node', async () => {
      await helmInstall(lab);
      await labelGatewayNodes(lab);
      await lab.apply(SEED_GATEWAY);
      await lab.apply(SEED_POLICY);
      await lab.apply(visitorYaml('visitor', 3));
      await lab.apply(visitorYaml('bystander', 3));
      visitors = await runningPods(lab, 'app=visitor', 3);
      bystanders = await runningPods(lab, 'app=bystander', 3);
      assert.equal(new Set(visitors.map((p) => p.node)).size, 3, 'a visitor on every node');
      const node = await carrier(lab, 'test');
      t.diagnostic(`policy test carried by ${node}`);
      // Our tunnel and flannel's overlay side by side, each on its own VXLAN port.
      const ours = (await inNode(node, ['ip', '-d', 'link', 'show', 'egress.vxlan'])).stdout;
      assert.match(ours, /dstport 7789/);
    });

    await t.test(
      'selected pods leave with the EIP, others masqueraded by flannel to their node',
      async () => {
        await allSee(lab, visitors, () => EIP, 'visitor via the gateway', EXTERNAL[4]);
        await allSee(lab, bystanders, (p) => NODE_IPS[p.node]!, 'bystander via flannel masquerade');
      },
    );

    await t.test(
      'in-cluster traffic keeps the pod address: across the overlay and via ClusterIP',
      async () => {
        await lab.apply(echoServerYaml('echo', 3, 'SingleStack'));
        const echo = await runningPods(lab, 'app=echo', 3);
        const clusterIp = (
          await lab.kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])
        ).trim();
        for (const v of visitors) {
          const remote = echo.find((e) => e.node !== v.node)!;
          // Running is not ready (no readiness probe): a fresh server may need a moment.
          const direct = await eventually(`${remote.name} answers`, () =>
            curlFromPod(lab, v.name, urlFor(remote.ips[0]!, 8080)),
          );
          assert.equal(
            direct,
            `Remote IP: ${v.ips[0]}`,
            `${v.name} on ${v.node} → ${remote.name} on ${remote.node}`,
          );
          const viaService = await eventually('ClusterIP answers', async () =>
            curlFromPod(lab, v.name, urlFor(clusterIp, 80)),
          );
          assert.equal(viaService, `Remote IP: ${v.ips[0]}`, `${v.name} via ${clusterIp}`);
        }
      },
    );
  });
});
