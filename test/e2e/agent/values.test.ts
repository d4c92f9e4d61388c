// Upstream values set to non-defaults, on the lab: each does what docs/values.md says.
// - feature.mark=0x27000000: every tunnel gets a 0x27… mark, the nodes route by those marks,
//   and the seed's Quick Start still leaves with the EIP from every node;
// - feature.vxlan.disableChecksumOffload=true: `ethtool -k` shows TX checksum offload off on
//   the tunnel device of every node;
// - feature.announcedInterfacesToExclude matching the uplink: the carrier stops answering
//   for the EIP there (no proxy entry), and answers again once the value is back;
// - feature.tunnelDetectCustomInterface: nodes whose labels match run the tunnel over the
//   named interface (a second link the test adds), EIPs stay on the default route's device;
// - a value the chart refuses, or one the schema rejects, fails `helm install` naming it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError, run } from '../../../src/common/exec.ts';
import { allSee, carrier, helmInstall, inNode, labelGatewayNodes } from '../../support/egress.ts';
import {
  eventually,
  LAB_TEST_TIMEOUT,
  type Lab,
  runningPods,
  visitorYaml,
  withLab,
} from '../../support/lab.ts';
import { SEED_GATEWAY, SEED_POLICY } from '../../support/seed.ts';

const EIP = '172.22.0.110';
const NODES = ['egressgateway-control-plane', 'egressgateway-worker', 'egressgateway-worker2'];

/** The stderr of a lab command that must fail. */
async function failure(lab: Lab, args: string[]): Promise<string> {
  try {
    await lab.lab(args, { timeoutMs: 120_000 });
  } catch (err) {
    if (err instanceof CommandError) return `${err.result.stderr}${err.result.stdout}`;
    throw err;
  }
  assert.fail(`${args.join(' ')} succeeded`);
}

const upgrade = (lab: Lab, sets: string[], extra: string[] = []) =>
  lab.lab(
    [
      'helm',
      'upgrade',
      'egressgateway',
      'charts/egressgateway',
      '-n',
      'kube-system',
      '--reuse-values',
      ...sets.flatMap((s) => ['--set', s]),
      ...extra,
      '--wait',
      '--timeout',
      '180s',
    ],
    { timeoutMs: 240_000 },
  );

/** EIPs with a proxy ARP entry on a node's uplink. */
async function proxied(node: string): Promise<string> {
  return (await inNode(node, ['ip', 'neigh', 'show', 'proxy', 'dev', 'eth0'])).stdout;
}

test('upstream values set to non-defaults do what docs/values.md says', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(['--nodes', '3'], async (lab) => {
    await t.test('refused and malformed values fail helm install, naming the key', async () => {
      const install = (set: string) => [
        'helm',
        'install',
        'egressgateway',
        'charts/egressgateway',
        '-n',
        'kube-system',
        '--set',
        set,
      ];
      assert.match(
        await failure(lab, install('feature.enableGatewayReplyRoute=true')),
        /feature.enableGatewayReplyRoute=true: reply routing .* not supported yet; set it to false/,
      );
      assert.match(
        await failure(lab, install('feature.datapathMode=ebpf')),
        /'\/feature\/datapathMode': value must be one of/,
      );
      assert.match(await failure(lab, install('feature.mark=0x27000001')), /'\/feature\/mark'/);
      assert.equal((await lab.lab(['helm', 'list', '-A', '-q'])).stdout.trim(), '', 'nothing installed');
    });

    await t.test('mark=0x27000000 and checksum offload off: the Quick Start from every node', async () => {
      await helmInstall(lab, [
        'feature.tunnelIpv4Subnet=192.200.0.1/16',
        'feature.mark=0x27000000',
        'feature.vxlan.disableChecksumOffload=true',
      ]);
      await labelGatewayNodes(lab);
      await lab.apply(SEED_GATEWAY);
      await lab.apply(SEED_POLICY);
      await lab.apply(visitorYaml('visitor', 3));
      const visitors = await runningPods(lab, 'app=visitor', 3);
      assert.equal(new Set(visitors.map((p) => p.node)).size, 3, 'a visitor on every node');
      await carrier(lab, 'test');
      await allSee(lab, visitors, () => EIP, 'visitor via the gateway (mark base 0x27)');

      const marks = (await lab.kubectl(['get', 'egt', '-o', 'jsonpath={.items[*].status.mark}'])).split(
        /\s+/,
      );
      assert.equal(marks.length, 3);
      for (const m of marks) assert.match(m, /^0x27[0-9a-f]{6}$/);
      for (const node of NODES) {
        const rules = (await inNode(node, ['ip', 'rule', 'show'])).stdout;
        // our rules: priority 99, one per other node
        const fwmarks = [...rules.matchAll(/^99:\s.*fwmark (0x[0-9a-f]+)/gm)].map((m) => m[1]!);
        assert.equal(fwmarks.length, 2, `${node}: one rule per other node\n${rules}`);
        for (const m of fwmarks) assert.match(m, /^0x27/, `${node}: ${rules}`);
        const features = (await inNode(node, ['ethtool', '-k', 'egress.vxlan'])).stdout;
        assert.match(features, /^tx-checksumming: off/m, `${node}: TX checksum offload off`);
      }
    });

    await t.test(
      'announcedInterfacesToExclude matching the uplink: no answer for the EIP there',
      async () => {
        const node = await carrier(lab, 'test');
        assert.match(await proxied(node), new RegExp(`^${EIP.replaceAll('.', '\\.')} `, 'm'));
        await upgrade(lab, ['feature.announcedInterfacesToExclude={^eth0$}']);
        await eventually(`${node} withdrew ${EIP} from eth0`, async () =>
          (await proxied(node)).includes(EIP) ? undefined : true,
        );
        await upgrade(lab, ['feature.announcedInterfacesToExclude={^cali.*,br-*}']);
        await eventually(`${node} answers for ${EIP} on eth0 again`, async () =>
          (await proxied(node)).includes(EIP) ? true : undefined,
        );
        const visitors = await runningPods(lab, 'app=visitor', 3);
        await allSee(lab, visitors, () => EIP, 'after the exclusion is lifted');
      },
    );

    await t.test(
      'tunnelDetectCustomInterface: the tunnel runs over the interface the labels pick',
      async () => {
        // A second link between the nodes (a bridge in a namespace of ours), 10.77.0.0/24.
        const br = `egwv-${process.pid}`;
        await run('ip', ['netns', 'add', br]);
        try {
          await run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
          await run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
          for (const [i, node] of NODES.entries()) {
            const peer = `p${i}`;
            await run('ip', [
              'link',
              'add',
              'egw2',
              'netns',
              `egwlab-${node}`,
              'type',
              'veth',
              'peer',
              'name',
              peer,
              'netns',
              br,
            ]);
            await run('ip', ['-n', br, 'link', 'set', peer, 'master', 'br0', 'up']);
            await inNode(node, ['ip', 'addr', 'add', `10.77.0.${i + 1}/24`, 'dev', 'egw2']);
            await inNode(node, ['ip', 'link', 'set', 'egw2', 'up']);
          }
          await lab.kubectl(['label', 'node', '--all', 'egw-underlay=second']);
          await upgrade(
            lab,
            [],
            [
              '--set-json',
              'feature.tunnelDetectCustomInterface=[{"nodeSelector":{"egw-underlay":"second"},"interfaceName":"egw2"}]',
            ],
          );
          for (const [i, node] of NODES.entries()) {
            await eventually(`${node}: tunnel parent egw2`, async () => {
              const parent = (
                await lab.kubectl([
                  'get',
                  'egt',
                  node,
                  '-o',
                  'jsonpath={.status.tunnel.parent.name} {.status.tunnel.parent.ipv4}',
                ])
              ).trim();
              return parent === `egw2 10.77.0.${i + 1}` ? true : undefined;
            });
            const link = JSON.parse(
              (await inNode(node, ['ip', '-d', '-j', 'link', 'show', 'egress.vxlan'])).stdout,
            ) as {
              linkinfo: { info_data: { local?: string } };
            }[];
            assert.equal(link[0]?.linkinfo.info_data.local, `10.77.0.${i + 1}`, `${node}: VXLAN over egw2`);
          }
          // EIPs stay announced on the default route's device (eth0), whose subnet they are in.
          const node = await carrier(lab, 'test');
          await eventually(`${node} answers for ${EIP} on eth0`, async () =>
            (await proxied(node)).includes(EIP) ? true : undefined,
          );
          const visitors = await runningPods(lab, 'app=visitor', 3);
          await allSee(lab, visitors, () => EIP, 'tunnel over the second link');
          await upgrade(lab, [], ['--set-json', 'feature.tunnelDetectCustomInterface=[]']);
          await eventually('tunnels back on eth0', async () => {
            const names = (
              await lab.kubectl(['get', 'egt', '-o', 'jsonpath={.items[*].status.tunnel.parent.name}'])
            ).trim();
            return names === 'eth0 eth0 eth0' ? true : undefined;
          });
        } finally {
          await run('ip', ['netns', 'del', br]).catch(() => undefined);
        }
      },
    );

    await t.test('helm uninstall', async () => {
      await lab.lab(
        ['helm', 'uninstall', 'egressgateway', '-n', 'kube-system', '--wait', '--timeout', '180s'],
        {
          timeoutMs: 240_000,
        },
      );
    });
  });
});
