// The seed Quick Start with `feature.datapathMode: iptables` (the iptables + ipset backend)
// on the real kernel. The lab's Calico keeps its natOutgoing jump first in nat POSTROUTING
// (Felix's default chainInsertMode Insert): the agents report it, then the seed's
// `kubectl patch felixconfigurations default … Append` is applied as its README says. Then
// pods on every node reach the external server as `Remote IP: <EIP>`, unselected pods keep
// their node address, destSubnet captures only its destinations, useNodeIP leaves with the
// carrier's address, a cluster policy selects by namespace; the kernel holds our
// iptables chains and ipsets and no nftables table, an agent restart changes none of it,
// and the EIP survives its holder powering off. Then `helm upgrade` to nftables while a pod
// probes: traffic keeps its EIP and no iptables state of ours is left; `helm uninstall`
// leaves nothing of either backend. Last, `datapathMode: auto` on nodes whose `nft` cannot
// load our table (a wrapper that fails, put first in the agents' PATH) takes iptables, says
// why, and the seed scenario passes.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  allSee,
  assertNoLeak,
  carrier,
  EXTERNAL,
  helmInstall,
  inNode,
  labelGatewayNodes,
  longestGap,
  NODE_IPS,
  probeStream,
} from '../../support/egress.ts';
import { agentPodsOn, destSubnetCase, nodeIpAndClusterPolicyCase } from '../../support/egress-cases.ts';
import {
  eventually,
  LAB_TEST_TIMEOUT,
  type PodView,
  runningPods,
  visitorYaml,
  withLab,
} from '../../support/lab.ts';
import { SEED_GATEWAY, SEED_POLICY } from '../../support/seed.ts';

const EIP = '172.22.0.110';
const NODES = Object.keys(NODE_IPS);

/** This backend's rules on a node (for the shared cases): chains, then set members. */
const iptablesRules = async (node: string) =>
  (await inNode(node, ['iptables-nft-save'])).stdout + (await inNode(node, ['ipset', 'save'])).stdout;

/** Everything of ours in a node's packet filter: iptables chains (any variant), ipsets, the nft table. */
async function ours(node: string): Promise<string[]> {
  const out: string[] = [];
  for (const tool of [
    'iptables-nft-save',
    'iptables-legacy-save',
    'ip6tables-nft-save',
    'ip6tables-legacy-save',
  ]) {
    const text = (await inNode(node, [tool])).stdout;
    out.push(
      ...text
        .split('\n')
        .filter((l) => /EGW-|egw[46]-/.test(l))
        .map((l) => `${tool}: ${l}`),
    );
  }
  const sets = (await inNode(node, ['ipset', 'list', '-n'])).stdout;
  out.push(
    ...sets
      .split('\n')
      .filter((s) => /^egw[46]-/.test(s))
      .map((s) => `ipset: ${s}`),
  );
  if ((await inNode(node, ['nft', 'list', 'tables'])).stdout.includes('table inet egressgateway'))
    out.push('nft: table inet egressgateway');
  return out;
}

test('datapathMode iptables: the seed Quick Start from every node, then a switch to nftables', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(['--nodes', '3'], async (lab) => {
    let visitors: PodView[] = [];
    const agentPods = async () =>
      (
        await lab.kubectl([
          'get',
          'pods',
          '-n',
          'kube-system',
          '-l',
          'app.kubernetes.io/component=agent',
          '-o',
          'jsonpath={.items[*].metadata.name}',
        ])
      )
        .trim()
        .split(' ')
        .filter(Boolean);

    await t.test('nothing of ours on the nodes before the install', async () => {
      for (const node of NODES) assert.deepEqual(await ours(node), [], node);
    });

    await t.test('helm install with datapathMode iptables; selected pods leave with the EIP', async () => {
      await helmInstall(lab, [
        'feature.tunnelIpv4Subnet=192.200.0.1/16',
        'feature.datapathMode=iptables',
        'controller.nodeSelector.kubernetes\\.io/hostname=egressgateway-control-plane',
      ]);
      await labelGatewayNodes(lab);
      await lab.apply(SEED_GATEWAY);
      await lab.apply(SEED_POLICY);
      await lab.apply(visitorYaml('visitor', 3));
      await lab.apply(visitorYaml('bystander', 3));
      visitors = await runningPods(lab, 'app=visitor', 3);
      const bystanders = await runningPods(lab, 'app=bystander', 3);
      assert.equal(new Set(visitors.map((p) => p.node)).size, 3, 'a visitor on every node');
      t.diagnostic(`policy test carried by ${await carrier(lab, 'test')}`);
      // Felix (Insert) puts its jump back before ours: every agent says so, with the fix.
      await eventually(
        'every agent warns that Calico runs first',
        async () => {
          for (const pod of await agentPods()) {
            const logs = (await lab.lab(['logs', '-n', 'kube-system', pod])).stdout;
            const warned = logs
              .split('\n')
              .some(
                (l) =>
                  l.includes("Calico's chains run before ours") &&
                  l.includes('nat POSTROUTING → cali-nat-outgoing') &&
                  l.includes('chainInsertMode: Append'),
              );
            if (!warned) return undefined;
          }
          return true;
        },
        90_000,
      );
      // The seed's command for Calico users, verbatim (its shell quoting undone).
      await lab.kubectl([
        'patch',
        'felixconfigurations',
        'default',
        '--type=merge',
        '-p',
        '{"spec":{"chainInsertMode":"Append"}}',
      ]);
      await allSee(lab, visitors, () => EIP, 'visitor via the gateway (iptables)');
      await allSee(lab, bystanders, (p) => NODE_IPS[p.node]!, 'bystander unchanged');
    });

    await t.test('the kernel holds our iptables chains and ipsets, and no nftables table', async () => {
      for (const node of NODES) {
        const state = await ours(node);
        assert.ok(!state.includes('nft: table inet egressgateway'), `${node}: no nft table`);
        // the lab's kube-proxy and CNI write iptables-nft: auto follows them
        assert.ok(
          state.some(
            (l) => l.startsWith('iptables-nft-save: -A POSTROUTING') && l.endsWith('-j EGW-POSTROUTING'),
          ),
          `${node}: our nat jump\n${state.join('\n')}`,
        );
        assert.ok(!state.some((l) => l.startsWith('iptables-legacy')), `${node}: nothing in iptables-legacy`);
        assert.ok(state.includes('ipset: egw4-here'), node);
      }
    });

    await t.test('destSubnet: only the listed destinations go through the gateway', async () => {
      await destSubnetCase(lab, EIP, iptablesRules);
    });

    await t.test(
      'useNodeIP leaves with the gateway node address; a cluster policy by namespace',
      async () => {
        await nodeIpAndClusterPolicyCase(lab, EIP, iptablesRules);
      },
    );

    await t.test(
      'an agent restart on the gateway: traffic keeps flowing, the kernel ends as it was',
      async () => {
        const gateway = await carrier(lab, 'test');
        const snapshot = async () =>
          (
            await Promise.all(
              NODES.map(async (node) => {
                const members = (await inNode(node, ['ipset', 'save'])).stdout
                  .split('\n')
                  .filter((l) => /^add egw[46]-/.test(l))
                  .sort();
                return [...(await ours(node)), ...members].join('\n');
              }),
            )
          ).join('\n---\n');
        const before = await snapshot();
        const [agent] = Object.keys(await agentPodsOn(lab, gateway));
        assert.ok(agent, `agent pod on ${gateway}`);
        await lab.kubectl(['delete', 'pod', '-n', 'kube-system', agent, '--wait=false']);
        await allSee(lab, visitors, () => EIP, 'during the agent restart');
        await eventually(
          'a new agent on the gateway node, and the kernel as before',
          async () => {
            const pods = await agentPods();
            if (pods.length !== 3 || pods.includes(agent)) return undefined;
            return (await snapshot()) === before ? true : undefined;
          },
          120_000,
        );
        await allSee(lab, visitors, () => EIP, 'after the agent restart');
      },
    );

    await t.test('fast failover: the carrying node powers off; the standby SNATs with the EIP', async () => {
      const from = await carrier(lab, 'test');
      const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
      await allSee(lab, [client], () => EIP, 'before the failure');
      const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = Date.now();
      await lab.lab(['node', 'off', from]);
      try {
        await new Promise((r) => setTimeout(r, 3000));
        const seen = await stream.stop();
        const gap = longestGap(seen, t0);
        assertNoLeak(seen);
        t.diagnostic(
          `${from} off: egress as ${EIP} resumed after a gap of ${gap} ms (${seen.length} requests)`,
        );
        assert.ok(gap < 2000, `gap ${gap} ms`);
      } finally {
        await lab.lab(['node', 'on', from]);
      }
      await eventually(
        'every agent back',
        async () => {
          const ready = await lab.kubectl([
            'get',
            'pods',
            '-n',
            'kube-system',
            '-l',
            'app.kubernetes.io/component=agent',
            '-o',
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}',
          ]);
          return ready
            .trim()
            .split(' ')
            .filter((x) => x === 'True').length === 3
            ? true
            : undefined;
        },
        120_000,
      );
      await allSee(lab, visitors, () => EIP, 'after the node came back');
    });

    await t.test(
      'helm upgrade to nftables: traffic keeps its EIP, no iptables state of ours left',
      async () => {
        const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
        const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        await lab.lab(
          [
            'helm',
            'upgrade',
            'egressgateway',
            'charts/egressgateway',
            '-n',
            'kube-system',
            '--reuse-values',
            '--set',
            'feature.datapathMode=nftables',
            '--wait',
            '--timeout',
            '180s',
          ],
          { timeoutMs: 240_000 },
        );
        await eventually(
          'every node switched: the nft table, nothing of ours in iptables or ipset',
          async () => {
            for (const node of NODES) {
              const state = await ours(node);
              if (state.length !== 1 || state[0] !== 'nft: table inet egressgateway') return undefined;
            }
            return true;
          },
          120_000,
        );
        await new Promise((r) => setTimeout(r, 1000));
        const seen = await stream.stop();
        const pattern = seen.map((x) => (x.ok ? 'o' : 'x')).join('');
        t.diagnostic(
          `iptables → nftables: longest gap ${longestGap(seen, t0)} ms over ${seen.length} requests; ${pattern}`,
        );
        assertNoLeak(seen);
        await allSee(lab, visitors, () => EIP, 'after the switch to nftables');
      },
    );

    await t.test('helm uninstall: nothing of either backend left', async () => {
      await lab.lab(
        ['helm', 'uninstall', 'egressgateway', '-n', 'kube-system', '--wait', '--timeout', '180s'],
        {
          timeoutMs: 240_000,
        },
      );
      await eventually('every node clean', async () => {
        for (const node of NODES) if ((await ours(node)).length > 0) return undefined;
        return true;
      });
    });

    await t.test('datapathMode auto where nft cannot load our table: iptables, and why', async () => {
      const dir = `/run/egw-e2e-nftfail-${process.pid}`;
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        `${dir}/nft`,
        '#!/bin/sh\necho "Error: Could not process rule: Operation not supported (test wrapper)" >&2\nexit 1\n',
        { mode: 0o755 },
      );
      writeFileSync(
        `${dir}/values.yaml`,
        `agent:
  extraEnv:
    - {name: PATH, value: "/opt/nftfail:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
  extraVolumes:
    - {name: nftfail, hostPath: {path: ${dir}, type: Directory}}
  extraVolumeMounts:
    - {name: nftfail, mountPath: /opt/nftfail, readOnly: true}
`,
      );
      try {
        await lab.lab(
          [
            'helm',
            'install',
            'egressgateway',
            'charts/egressgateway',
            '-n',
            'kube-system',
            '-f',
            `${dir}/values.yaml`,
            '--set',
            'feature.tunnelIpv4Subnet=192.200.0.1/16',
            '--set',
            'controller.nodeSelector.kubernetes\\.io/hostname=egressgateway-control-plane',
            '--wait',
            '--timeout',
            '180s',
          ],
          { timeoutMs: 240_000 },
        );
        await lab.apply(SEED_GATEWAY);
        await lab.apply(SEED_POLICY);
        const eip = await eventually('the policy has its EIP', async () => {
          const ip = (await lab.kubectl(['get', 'egp', 'test', '-o', 'jsonpath={.status.eip.ipv4}'])).trim();
          return ip || undefined;
        });
        await allSee(lab, visitors, () => eip, 'visitor via the gateway (auto → iptables)');
        const pods = await agentPods();
        assert.equal(pods.length, 3);
        for (const pod of pods) {
          const logs = (await lab.lab(['logs', '-n', 'kube-system', pod])).stdout;
          const line = logs.split('\n').find((l) => l.includes('packet backend: '));
          assert.ok(line, `${pod}: no backend line in\n${logs.slice(0, 2000)}`);
          assert.match(line, /packet backend: iptables/, pod);
          assert.match(line, /datapathMode auto: the kernel cannot load our nftables table/, pod);
          assert.match(line, /Operation not supported/, pod);
          t.diagnostic(`${pod}: ${line.slice(0, 400)}`);
        }
        for (const node of NODES) {
          const state = await ours(node);
          assert.ok(!state.includes('nft: table inet egressgateway'), node);
          assert.ok(state.includes('ipset: egw4-here'), node);
        }
        await lab.lab(
          ['helm', 'uninstall', 'egressgateway', '-n', 'kube-system', '--wait', '--timeout', '180s'],
          { timeoutMs: 240_000 },
        );
        await eventually('every node clean', async () => {
          for (const node of NODES) if ((await ours(node)).length > 0) return undefined;
          return true;
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
