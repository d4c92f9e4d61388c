// The chart in the lab, as the seed's user runs it: `helm install … --wait` brings up the
// controller (webhook) and an agent per node; the seed's YAMLs apply unchanged through the
// webhook; bad objects are refused by the controller process; `helm uninstall` runs the
// cleanup Job and leaves no custom resource, finalizer, webhook configuration or node
// datapath behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { builtImageRef } from '../../../lab/src/paths.ts';
import { run } from '../../../src/common/exec.ts';
import { helmInstall, inNode, labelGatewayNodes } from '../../support/egress.ts';
import { containerOf, eventually, LAB_TEST_TIMEOUT, rootMountOf, withLab } from '../../support/lab.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

import { SEED_GATEWAY, SEED_POLICY } from '../../support/seed.ts';

test('helm install --wait, the seed YAMLs through the webhook, helm uninstall cleans up', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(['--nodes', '3'], async (lab) => {
    await t.test("the seed's install command succeeds with --wait", async () => {
      const t0 = Date.now();
      await helmInstall(lab);
      t.diagnostic(`helm install --wait took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const pods = await lab.kubectlJson<{
        items: { metadata: { name: string }; status: { phase: string } }[];
      }>(['get', 'pods', '-n', 'kube-system', '-l', 'app.kubernetes.io/name=egressgateway']);
      assert.equal(pods.items.length, 4, 'one controller and an agent on each of 3 nodes');
      assert.ok(pods.items.every((p) => p.status.phase === 'Running'));
      const crds = (await lab.kubectl(['get', 'crd', '-o', 'name']))
        .split('\n')
        .filter((l) => l.includes('egressgateway.spidernet.io'));
      assert.equal(crds.length, 7);
    });

    await t.test(
      'the pods run our images with runc: root filesystem, user, programs, health check',
      async () => {
        const pods = await lab.kubectlJson<{
          items: {
            metadata: { name: string; labels: Record<string, string> };
            spec: { containers: { name: string; image: string }[] };
            status: { containerStatuses: { imageID: string; containerID: string }[] };
          }[];
        }>(['get', 'pods', '-n', 'kube-system', '-l', 'app.kubernetes.io/name=egressgateway']);
        const want = { controller: builtImageRef('controller'), agent: builtImageRef('agent') };
        for (const component of ['controller', 'agent'] as const) {
          const pod = pods.items.find((p) => p.metadata.labels['app.kubernetes.io/component'] === component)!;
          const c = pod.spec.containers[0]!;
          assert.equal(c.image, want[component], `${pod.metadata.name} names our image`);
          assert.match(pod.status.containerStatuses[0]!.imageID, /^sha256:[0-9a-f]{64}$/);
          const ctr = await containerOf(lab, 'kube-system', pod.metadata.name, c.name);
          // The process's root is an overlay of the unpacked image, not the machine's file system.
          const rootMount = rootMountOf(ctr.pid);
          assert.equal(rootMount.fstype, 'overlay');
          assert.match(
            rootMount.lowerdir ?? '',
            new RegExp(`/images/unpacked/${component}-[0-9a-f]{16}/rootfs$`),
          );
          const root = `/proc/${ctr.pid}/root`;
          assert.equal(existsSync(join(root, REPO_ROOT, '.git')), false, 'no checkout inside');
          assert.equal(existsSync(join(root, 'app/test')), false, 'no tests inside');
          assert.equal(existsSync(join(root, 'app/node_modules/typescript')), false, 'no dev dependencies');
          assert.equal(existsSync(join(root, 'usr/local/etc/npmrc')), false, 'no build-time npm settings');
          const argv = readFileSync(`/proc/${ctr.pid}/cmdline`, 'utf8').split('\0');
          assert.ok(argv.includes(`/app/src/${component}/main.ts`), argv.join(' '));
          const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${ctr.pid}/status`, 'utf8'))?.[1];
          assert.equal(uid, component === 'controller' ? '1000' : '0', `${component} user`);
          if (component === 'agent') {
            // the kernel tools it drives are the image's own
            for (const tool of ['usr/sbin/nft', 'usr/sbin/ip', 'usr/sbin/ipset', 'usr/sbin/conntrack'])
              assert.ok(existsSync(join(root, tool)), tool);
          }
          // The image's HEALTHCHECK command, run inside the container.
          await run('runc', ['--root', ctr.runcRoot, 'exec', ctr.id, 'node', '/app/images/healthcheck.ts']);
        }
      },
    );

    await t.test("the seed's EgressGateway and EgressPolicy apply unchanged and are defaulted", async () => {
      await labelGatewayNodes(lab);
      await lab.apply(SEED_GATEWAY);
      await lab.apply(SEED_POLICY);
      const gw = await lab.kubectl(['get', 'EgressGateway', 'default', '-o', 'yaml']);
      assert.match(gw, /ipv4DefaultEIP: 172\.22\.0\.110/);
      assert.match(gw, /- egressgateway\.spidernet\.io\/egressgateway/);
      // The controller in the lab manages one EgressTunnel per node.
      await eventually('tunnels for 3 nodes', async () =>
        (await lab.kubectl(['get', 'egt', '-o', 'name'])).trim().split('\n').length === 3 ? true : undefined,
      );
      // The agents report their underlay: tunnels turn Ready, the gateway lists its nodes
      // as Ready and the seed policy is placed on one of them with the default EIP.
      await eventually('gateway lists its two nodes, tunnels Ready', async () => {
        const list = (
          await lab.kubectl([
            'get',
            'egw',
            'default',
            '-o',
            'jsonpath={.status.nodeList[*].name}:{.status.nodeList[*].status}',
          ])
        ).trim();
        return list === 'egressgateway-worker egressgateway-worker2:Ready Ready' ? true : undefined;
      });
      const placed = await eventually('policy placed', async () => {
        const s = (
          await lab.kubectl(['get', 'egp', 'test', '-o', 'jsonpath={.status.node} {.status.eip.ipv4}'])
        ).trim();
        return s.includes(' ') ? s : undefined;
      });
      assert.match(placed, /^egressgateway-worker2? 172\.22\.0\.110$/);
      const listed = await lab.kubectl(['get', 'egw,egp', '-A']);
      assert.match(
        listed,
        /NAME\s+IPV4DEFAULTEIP\s+IPV6DEFAULTEIP\s+CLUSTERDEFAULT\s+IPV4TOTAL\s+IPV4FREE\s+IPV6TOTAL\s+IPV6FREE/,
      );
      assert.match(listed, /NAMESPACE\s+NAME\s+GATEWAY\s+IPV4\s+IPV6\s+EGRESSTUNNEL/);
      assert.match(listed, /default\s+egresspolicy\.egressgateway\.spidernet\.io\/test\s+default/);
    });

    await t.test('the controller process in the lab refuses a bad object through the apiserver', async () => {
      const bad = SEED_GATEWAY.replace('name: default', 'name: overlapping').replace(
        '172.22.0.100-172.22.0.110',
        '172.22.0.105',
      );
      await assert.rejects(
        lab.apply(bad),
        /admission webhook "egressgateway\.egressgateway\.spidernet\.io" denied the request: EgressGateway overlapping: spec\.ippools\.ipv4: find duplicate IPv4 172\.22\.0\.105 in EgressGateway default/,
      );
      await assert.rejects(
        lab.kubectl(['delete', 'egci', 'default']),
        /EgressClusterInfo 'default' is not allowed to be deleted/,
      );
    });

    await t.test(
      'helm uninstall runs the cleanup Job: no CR, finalizer, webhook configuration or node datapath left',
      async () => {
        await lab.lab(
          ['helm', 'uninstall', 'egressgateway', '-n', 'kube-system', '--wait', '--timeout', '180s'],
          { timeoutMs: 240_000 },
        );
        for (const kind of ['egw', 'egp', 'egcp', 'egt', 'egci', 'egep', 'egcep']) {
          assert.equal(
            (await lab.kubectl(['get', kind, '-A', '-o', 'name'])).trim(),
            '',
            `${kind} left behind`,
          );
        }
        const hooks = await lab.kubectl([
          'get',
          'validatingwebhookconfigurations,mutatingwebhookconfigurations',
          '-o',
          'name',
        ]);
        assert.doesNotMatch(hooks, /egressgateway/);
        const roles = await lab.kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'name']);
        assert.doesNotMatch(roles, /egressgateway/);
        // The agents removed their datapath when their tunnels went: nothing left on the nodes.
        for (const node of ['egressgateway-control-plane', 'egressgateway-worker', 'egressgateway-worker2']) {
          assert.doesNotMatch((await inNode(node, ['ip', 'link', 'show'])).stdout, /egress\.vxlan/, node);
          assert.doesNotMatch((await inNode(node, ['nft', 'list', 'tables'])).stdout, /egressgateway/, node);
          assert.doesNotMatch((await inNode(node, ['ip', 'rule', 'show'])).stdout, /fwmark 0x26/, node);
          assert.equal((await inNode(node, ['ip', 'route', 'show', 'proto', '114'])).stdout.trim(), '', node);
          assert.equal((await inNode(node, ['ip', 'neigh', 'show', 'proxy'])).stdout.trim(), '', node);
        }
      },
    );
  });
});
