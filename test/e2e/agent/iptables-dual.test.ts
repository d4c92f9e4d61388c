// The iptables + ipset backend in dual stack (`datapathMode: iptables`, `enableIPv6`), with
// bridge pods and the CNI's NAT jump appended (the seed's recommended setting): one policy
// gives each pod an IPv4 and an IPv6 EIP, from every node; ip6tables holds our chains and
// the egw6 sets, and there is no nftables table of ours.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allSee, carrier, EXTERNAL, helmInstall, inNode, labelGatewayNodes } from '../../support/egress.ts';
import { LAB_TEST_TIMEOUT, runningPods, visitorYaml, withLab } from '../../support/lab.ts';
import { SEED_POLICY } from '../../support/seed.ts';

const EIP4 = '172.22.0.110';
const EIP6 = 'fc00:f853:ccd:e793::10a';
const NODES = ['egressgateway-control-plane', 'egressgateway-worker', 'egressgateway-worker2'];

test('datapathMode iptables in dual stack: IPv4 and IPv6 EIPs from every node', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(
    ['--nodes', '3', '--ip-family', 'dual', '--cni', 'bridge', '--cni-chain-insert-mode', 'append'],
    async (lab) => {
      await helmInstall(lab, [
        'feature.tunnelIpv4Subnet=192.200.0.1/16',
        'feature.enableIPv6=true',
        'feature.tunnelIpv6Subnet=fd01::/112',
        'feature.datapathMode=iptables',
        'controller.nodeSelector.kubernetes\\.io/hostname=egressgateway-control-plane',
      ]);
      await labelGatewayNodes(lab);
      await lab.apply(`apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressGateway
metadata: {name: default}
spec:
  ippools: {ipv4: ["172.22.0.100-172.22.0.110"], ipv6: ["fc00:f853:ccd:e793::100-fc00:f853:ccd:e793::10a"]}
  nodeSelector: {selector: {matchLabels: {egressgateway: "true"}}}
`);
      await lab.apply(SEED_POLICY);
      await lab.apply(visitorYaml('visitor', 3));
      const visitors = await runningPods(lab, 'app=visitor', 3);
      assert.equal(new Set(visitors.map((p) => p.node)).size, 3, 'a visitor on every node');
      const node = await carrier(lab, 'test');
      t.diagnostic(`policy test carried by ${node}`);

      await t.test(
        'IPv4 and IPv6 leave with their EIPs; our rules are in iptables and ip6tables',
        async () => {
          await allSee(lab, visitors, () => EIP4, 'IPv4', EXTERNAL[4]);
          await allSee(lab, visitors, () => EIP6, 'IPv6', EXTERNAL[6]);
          for (const n of NODES) {
            assert.match(
              (await inNode(n, ['ip6tables-nft-save', '-t', 'nat'])).stdout,
              /-j EGW-POSTROUTING/,
              n,
            );
            assert.match((await inNode(n, ['ipset', 'list', '-n'])).stdout, /^egw6-here$/m, n);
            assert.doesNotMatch((await inNode(n, ['nft', 'list', 'tables'])).stdout, /egressgateway/, n);
          }
        },
      );
    },
  );
});
