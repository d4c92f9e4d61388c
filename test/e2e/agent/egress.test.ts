// The seed's Quick Start from every node, on the real kernel: the chart installed with helm,
// the seed's EgressGateway and EgressPolicy applied, and pods on every node (gateway or not)
// reach the external server as `Remote IP: <EIP>`; unselected pods keep their node address;
// destination filters, the EIP never being a local address, an agent restart that loses no
// traffic state, and a deleted policy that leaves nothing behind in the kernel.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eipKey } from '../../../src/api/contracts.ts';
import { run } from '../../../src/common/exec.ts';
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
import {
  agentPodsOn,
  destSubnetCase,
  nftRules,
  nodeIpAndClusterPolicyCase,
} from '../../support/egress-cases.ts';
import {
  curlFromPod,
  E2E_LAB_DIR,
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
const EGCTL = fileURLToPath(new URL('../../../src/egctl/main.ts', import.meta.url));
const FORGE = fileURLToPath(new URL('../../support/forge-probe.ts', import.meta.url));
/** whether a node answers ARP for the EIP (proxy neighbour entry) */
const proxiesFor = async (node: string) =>
  (await inNode(node, ['ip', 'neigh', 'show', 'proxy'])).stdout.includes(`${EIP} `);

test('egress through the gateway: the seed Quick Start from every node', {
  timeout: LAB_TEST_TIMEOUT,
}, async (t) => {
  await withLab(['--nodes', '3'], async (lab) => {
    let visitors: PodView[] = [];
    let bystanders: PodView[] = [];
    let gatewayNode = '';

    await t.test('helm install, the seed gateway and policy, pods on every node', async () => {
      // The controller runs on the control-plane node, as operators usually place it: the HA
      // test below powers off a gateway node, and a single controller replica dying with it
      // would wait for its pod's eviction (5 min) before moving the EIP.
      await helmInstall(lab, [
        'feature.tunnelIpv4Subnet=192.200.0.1/16',
        'controller.nodeSelector.kubernetes\\.io/hostname=egressgateway-control-plane',
        'agent.prometheus.enabled=true',
      ]);
      await labelGatewayNodes(lab);
      await lab.apply(SEED_GATEWAY);
      await lab.apply(SEED_POLICY);
      await lab.apply(visitorYaml('visitor', 3));
      await lab.apply(visitorYaml('bystander', 3));
      visitors = await runningPods(lab, 'app=visitor', 3);
      bystanders = await runningPods(lab, 'app=bystander', 3);
      assert.equal(new Set(visitors.map((p) => p.node)).size, 3, 'a visitor on every node');
      gatewayNode = await carrier(lab, 'test');
      assert.ok(['egressgateway-worker', 'egressgateway-worker2'].includes(gatewayNode), gatewayNode);
      const eip = (await lab.kubectl(['get', 'egp', 'test', '-o', 'jsonpath={.status.eip.ipv4}'])).trim();
      assert.equal(eip, EIP);
      t.diagnostic(`policy test carried by ${gatewayNode} with EIP ${eip}`);
    });

    await t.test(
      'selected pods on every node leave with the EIP, others with their node address',
      async () => {
        await allSee(lab, visitors, () => EIP, 'visitor via the gateway');
        await allSee(lab, bystanders, (p) => NODE_IPS[p.node]!, 'bystander unchanged');
      },
    );

    await t.test('the EIP is never a local address: node services do not answer on it', async () => {
      for (const node of Object.keys(NODE_IPS)) {
        const addrs = (await inNode(node, ['ip', '-j', 'addr', 'show'])).stdout;
        assert.ok(!addrs.includes(`"${EIP}"`), `${EIP} is an address on ${node}`);
      }
      // The agent's health endpoint listens on every address of the gateway node: it
      // answers on the node address and not on the EIP, from the external host.
      const health = await lab.kubectl([
        'get',
        'ds',
        '-n',
        'kube-system',
        'egressgateway-agent',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].readinessProbe.httpGet.port}',
      ]);
      const port = Number(health.trim());
      assert.ok(port > 0, `agent health port ${health}`);
      const curlExt = (ip: string) =>
        run(
          'ip',
          ['netns', 'exec', 'egwlab-external', 'curl', '-sS', '-m', '2', `http://${ip}:${port}/readyz`],
          {
            okCodes: [0, 7, 28],
          },
        );
      assert.equal((await curlExt(NODE_IPS[gatewayNode]!)).code, 0, 'the node address answers');
      assert.notEqual((await curlExt(EIP)).code, 0, 'the EIP must not reach node services');
    });

    await t.test("the agents' metrics show which node announces the EIP", async () => {
      const metric = async (node: string, name: string) => {
        const text = (await inNode(node, ['curl', '-sS', '-m', '2', 'http://127.0.0.1:5811/metrics'])).stdout;
        const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
        return Number(line?.split(' ').at(-1) ?? Number.NaN);
      };
      for (const node of Object.keys(NODE_IPS)) {
        const want = node === gatewayNode ? 1 : 0;
        assert.equal(await metric(node, 'egressgateway_agent_eips_announced'), want, node);
        const started = await metric(node, 'egressgateway_agent_eip_announcements_total');
        assert.ok(want ? started >= 1 : started === 0, `${node}: ${started} announcements started`);
        assert.ok((await metric(node, 'egressgateway_agent_sync_seconds_count')) > 0, node);
      }
    });

    await t.test('the holder repairs its EIP announcement when it disappears (link flap)', async () => {
      await inNode(gatewayNode, ['ip', 'neigh', 'del', 'proxy', EIP, 'dev', 'eth0']);
      assert.equal(await proxiesFor(gatewayNode), false);
      const t0 = Date.now();
      await eventually(
        'proxy entry back',
        async () => ((await proxiesFor(gatewayNode)) ? true : undefined),
        10_000,
      );
      t.diagnostic(`proxy entry restored after ${Date.now() - t0} ms`);
      await allSee(lab, visitors, () => EIP, 'after the repair');
    });

    await t.test(
      'selected pods never use the EIP inside the cluster: pod to pod across nodes, ClusterIP, a node address',
      async () => {
        await lab.apply(echoServerYaml('incluster', 3, 'SingleStack'));
        // A server on every node's own address (hostNetwork), as node services are reached.
        await lab.apply(
          echoServerYaml('nodeecho', 3, 'SingleStack')
            .replace(
              'spec:\n      topologySpreadConstraints',
              'spec:\n      hostNetwork: true\n      topologySpreadConstraints',
            )
            .replaceAll('"8080"', '"18080"')
            .replace('targetPort: 8080', 'targetPort: 18080'),
        );
        const echo = await runningPods(lab, 'app=incluster', 3);
        await runningPods(lab, 'app=nodeecho', 3);
        const clusterIp = (
          await lab.kubectl(['get', 'svc', 'incluster', '-o', 'jsonpath={.spec.clusterIP}'])
        ).trim();
        for (const v of visitors) {
          const remote = echo.find((e) => e.node !== v.node)!;
          const otherNode = Object.keys(NODE_IPS).find((n) => n !== v.node)!;
          const seen = {
            pod: await eventually('pod answers', () =>
              curlFromPod(lab, v.name, urlFor(remote.ips[0]!, 8080)),
            ),
            clusterIP: await eventually('ClusterIP answers', () =>
              curlFromPod(lab, v.name, urlFor(clusterIp, 80)),
            ),
            node: await eventually('node answers', () =>
              curlFromPod(lab, v.name, urlFor(NODE_IPS[otherNode]!, 18080)),
            ),
          };
          const own = `Remote IP: ${v.ips[0]}`;
          // Calico's natOutgoing masquerades pod traffic to anything outside the pools, node
          // addresses included: the node sees the pod's node, as from any pod, never the EIP.
          const node = `Remote IP: ${NODE_IPS[v.node]}`;
          assert.deepEqual(seen, { pod: own, clusterIP: own, node }, `${v.name} on ${v.node}`);
        }
        await lab.kubectl(['delete', 'deployment,service', 'incluster', 'nodeecho']);
      },
    );

    await t.test('destSubnet: only the listed destinations go through the gateway', async () => {
      await destSubnetCase(lab, EIP, nftRules);
    });

    await t.test(
      'useNodeIP leaves with the gateway node address; a cluster policy selects by namespace',
      async () => {
        await nodeIpAndClusterPolicyCase(lab, EIP, nftRules);
      },
    );

    await t.test('egctl vip move: a planned hand-over to the other gateway node and back', async () => {
      const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
      const other = gatewayNode === 'egressgateway-worker' ? 'egressgateway-worker2' : 'egressgateway-worker';
      const kubeconfig = join(E2E_LAB_DIR, 'control-plane', 'admin.kubeconfig');
      for (const [from, to] of [
        [gatewayNode, other],
        [other, gatewayNode],
      ] as const) {
        await allSee(lab, [client], () => EIP, `before moving to ${to}`);
        const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
        await new Promise((r) => setTimeout(r, 500));
        const t0 = Date.now();
        const r = await run(process.execPath, [
          EGCTL,
          '--kubeconfig',
          kubeconfig,
          'vip',
          'move',
          '--egressGatewayName',
          'default',
          '--vip',
          EIP,
          '--targetNode',
          to,
        ]);
        assert.match(
          r.stdout,
          new RegExp(`Successfully moved VIP ${EIP.replace(/\./g, '\\.')} to node ${to}`),
        );
        await eventually('only the target announces the EIP', async () =>
          (await proxiesFor(to)) && !(await proxiesFor(from)) ? true : undefined,
        );
        await new Promise((r) => setTimeout(r, 1000));
        const seen = await stream.stop();
        const gap = longestGap(seen, t0);
        const pattern = seen.map((x) => (x.ok ? 'o' : 'x')).join('');
        const why = [...new Set(seen.filter((x) => !x.ok).map((x) => x.why))].join('; ');
        t.diagnostic(
          `egctl vip move ${from} → ${to}: longest gap ${gap} ms; requests: ${pattern}; failures: ${why}`,
        );
        assertNoLeak(seen);
        assert.equal(await carrier(lab, 'test'), to);
        assert.match(pattern, /^o+x*o+$/, 'at most one short outage');
        assert.ok(gap < 2000, `gap ${gap} ms`);
      }
    });

    await t.test(
      'forged failover probes change nothing: wrong key, stale stamp, a non-candidate claiming the EIP',
      async () => {
        const holder = await carrier(lab, 'test');
        const standby = holder === 'egressgateway-worker' ? 'egressgateway-worker2' : 'egressgateway-worker';
        const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
        await allSee(lab, [client], () => EIP, 'before forging');
        const keyB64 = (
          await lab.kubectl([
            'get',
            'secret',
            '-n',
            'kube-system',
            'egressgateway-agent-probe-key',
            '-o',
            'jsonpath={.data.key}',
          ])
        ).trim();
        // Each forgery, if honoured, would make the holder let go: a peer it hears claiming
        // the EIP stops it from announcing (hand-back rule), and traffic would follow the claim.
        const forge = (from: string, args: string[]) =>
          inNode(from, [
            process.execPath,
            FORGE,
            '--to',
            Object.values(NODE_IPS).join(','),
            '--node',
            from,
            '--holds',
            eipKey(EIP),
            ...args,
          ]);
        const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
        await new Promise((r) => setTimeout(r, 500));
        const t0 = Date.now();
        await forge(standby, ['--wrong-key']);
        await forge(standby, ['--key-b64', keyB64, '--stale']);
        await forge('egressgateway-control-plane', ['--key-b64', keyB64]);
        await new Promise((r) => setTimeout(r, 500));
        const seen = await stream.stop();
        assertNoLeak(seen);
        const lost = seen.filter((x) => x.t > t0 && !x.ok).length;
        t.diagnostic(
          `forged probes for ${((Date.now() - t0) / 1000).toFixed(1)} s: ${seen.length} requests, ${lost} lost`,
        );
        assert.equal(lost, 0, 'no request lost while forged probes arrive');
        assert.ok(await proxiesFor(holder), 'the holder still announces the EIP');
        assert.ok(!(await proxiesFor(standby)), 'the standby does not');
        assert.equal(await carrier(lab, 'test'), holder);
        // The holder's agent saw them and says why it dropped them.
        const [pod] = Object.keys(await agentPodsOn(lab, holder));
        assert.ok(pod, `an agent pod on ${holder}`);
        const logs = (await lab.lab(['logs', '-n', 'kube-system', pod])).stdout;
        const dropped = (why: string) =>
          logs.split('\n').some((l) => l.includes('failover probe dropped') && l.includes(why));
        assert.ok(dropped('unsigned'), `no 'unsigned' drop logged by ${pod}`);
        assert.ok(dropped('clock-skew'), `no 'clock-skew' drop logged by ${pod}`);
      },
    );

    await t.test('an agent restart: traffic keeps flowing and the kernel ends as it was', async () => {
      const snapshot = async () =>
        (
          await Promise.all(
            Object.keys(NODE_IPS).map(async (node) =>
              [
                (await inNode(node, ['nft', 'list', 'table', 'inet', 'egressgateway'])).stdout,
                (await inNode(node, ['ip', 'rule', 'show'])).stdout,
                (await inNode(node, ['ip', 'route', 'show', 'proto', '114'])).stdout,
                (await inNode(node, ['ip', 'neigh', 'show', 'proxy'])).stdout,
                (
                  await inNode(node, ['ip', '-d', 'link', 'show', 'egress.vxlan'])
                ).stdout.replace(/\d+ (bytes|packets)/g, ''),
              ].join('\n'),
            ),
          )
        ).join('\n---\n');
      const before = await snapshot();
      const [agent] = Object.keys(await agentPodsOn(lab, gatewayNode));
      assert.ok(agent, 'agent pod on the gateway node');
      // A pod on a non-gateway node requests back to back through the whole restart.
      const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
      const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      await lab.kubectl(['delete', 'pod', '-n', 'kube-system', agent, '--wait=false']);
      await eventually('a new agent Ready on the gateway node', async () => {
        const pods = await agentPodsOn(lab, gatewayNode);
        return Object.entries(pods).some(([name, ready]) => ready && name !== agent) ? true : undefined;
      });
      // The holder's agent handed its EIP to the next candidate while it was away (fast
      // failover) and takes it back: the kernel ends exactly as it was.
      await eventually('kernel state as before the restart', async () =>
        (await snapshot()) === before ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const seen = await stream.stop();
      const gap = longestGap(seen, t0);
      const lost = seen.filter((x) => x.t > t0 && !x.ok).length;
      t.diagnostic(
        `agent restart on ${gatewayNode}: ${seen.length} requests, ${lost} lost, longest gap ${gap} ms; ${seen.map((x) => (x.ok ? 'o' : 'x')).join('')}`,
      );
      // Never another source; the hand-over and the hand-back each cost at most a failover.
      assertNoLeak(seen);
      assert.ok(gap < 2000, `gap ${gap} ms`);
      await allSee(lab, visitors, () => EIP, 'after the agent restart');
    });

    await t.test('deleting the policy removes its rules and the EIP announcement', async () => {
      await lab.kubectl(['delete', 'egp', 'test']); // the destSubnet case removed its own
      await allSee(lab, visitors, (p) => NODE_IPS[p.node]!, 'policy deleted');
      await eventually('no policy rule and no EIP left on any node', async () => {
        for (const node of Object.keys(NODE_IPS)) {
          const table = (await inNode(node, ['nft', 'list', 'table', 'inet', 'egressgateway'])).stdout;
          if (table.includes('EgressPolicy')) return undefined;
          if ((await inNode(node, ['ip', 'route', 'show', 'proto', '114'])).stdout.trim()) return undefined;
          if ((await inNode(node, ['ip', 'neigh', 'show', 'proxy'])).stdout.includes(EIP)) return undefined;
        }
        return true;
      });
    });

    await t.test(
      'fast failover: the holder is cut off the underlay; it withdraws, the next takes over',
      async () => {
        await lab.apply(SEED_POLICY);
        const holder = await carrier(lab, 'test');
        const other = holder === 'egressgateway-worker' ? 'egressgateway-worker2' : 'egressgateway-worker';
        const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
        await allSee(lab, [client], () => EIP, 'before the partition');
        await eventually('only the holder announces the EIP', async () =>
          (await proxiesFor(holder)) && !(await proxiesFor(other)) ? true : undefined,
        );
        const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        await lab.lab(['node', 'partition', holder]);
        try {
          // The cut-off holder hears nobody: it withdraws; the other gateway node takes over.
          await eventually(
            'the cut-off holder withdrew',
            async () => ((await proxiesFor(holder)) ? undefined : true),
            10_000,
          );
          await eventually(
            'the other gateway node announces the EIP',
            async () => ((await proxiesFor(other)) ? true : undefined),
            10_000,
          );
          await new Promise((r) => setTimeout(r, 1500));
          const seen = await stream.stop();
          const gap = longestGap(seen, t0);
          assertNoLeak(seen);
          t.diagnostic(
            `partition of ${holder}: egress as ${EIP} resumed through ${other} after a gap of ${gap} ms (${seen.length} requests)`,
          );
          // one outage window, then every request leaves with the EIP again
          const pattern = seen
            .filter((x) => x.t > t0 - 500)
            .map((x) => (x.ok ? 'o' : 'x'))
            .join('');
          t.diagnostic(`requests around the partition (o = ${EIP}, x = failed): ${pattern}`);
          assert.match(pattern, /^o*x*o+$/, 'a single outage, then only good answers');
          assert.ok(gap < 2000, `gap ${gap} ms`);
        } finally {
          await lab.lab(['node', 'heal', holder]);
        }
        // healed before the controller noticed anything: the EIP goes back to the controller's
        // choice, announced by one node only
        await allSee(lab, [client], () => EIP, 'after heal');
        await eventually('exactly one node announces the EIP', async () =>
          (await proxiesFor(holder)) !== (await proxiesFor(other)) ? true : undefined,
        );
      },
    );

    await t.test(
      'fast failover: the carrying node powers off; traffic resumes in under a second',
      async () => {
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
          // Later the controller sees the node NotReady and moves the EIP officially: the
          // agents already carry it there, so nothing changes for the pod.
          const to = await eventually(
            'policy moved to the other gateway node',
            async () => {
              const node = await carrier(lab, 'test');
              return node !== from ? node : undefined;
            },
            90_000,
          );
          const moved = (Date.now() - t0) / 1000;
          await allSee(lab, [client], () => EIP, 'after the controller moved it');
          t.diagnostic(
            `${from} off: egress as ${EIP} resumed after a gap of ${gap} ms (${seen.length} requests); the controller moved the policy to ${to} after ${moved.toFixed(1)} s`,
          );
          assert.ok(gap < 2000, `gap ${gap} ms (goal: under a second; 2 s allows for a loaded machine)`);
          assert.ok(await proxiesFor(to));
        } finally {
          await lab.lab(['node', 'on', from]);
        }
      },
    );

    await t.test(
      'fast failover needs no apiserver: with it frozen, traffic keeps its EIP and a dead carrier is replaced',
      async () => {
        // both gateway nodes usable again (the one powered off above is back)
        await eventually(
          'two candidates for the EIP',
          async () => {
            const c = await lab.kubectl([
              'get',
              'egw',
              'default',
              '-o',
              'jsonpath={.status.eipCandidates[0].nodes[*]}',
            ]);
            return c.trim().split(' ').length === 2 ? true : undefined;
          },
          90_000,
        );
        const holder = await carrier(lab, 'test');
        const client = visitors.find((p) => p.node === 'egressgateway-control-plane')!;
        await allSee(lab, [client], () => EIP, 'before freezing the apiserver');
        await eventually('the holder announces the EIP', async () =>
          (await proxiesFor(holder)) ? true : undefined,
        );
        const stream = probeStream(lab, client, EXTERNAL[4], `Remote IP: ${EIP}`);
        await new Promise((r) => setTimeout(r, 1000));
        const apiserver = apiserverPid();
        process.kill(apiserver, 'SIGSTOP');
        let t0 = 0;
        try {
          await new Promise((r) => setTimeout(r, 2000));
          t0 = Date.now();
          await lab.lab(['node', 'off', holder]);
          await new Promise((r) => setTimeout(r, 3000));
        } finally {
          process.kill(apiserver, 'SIGCONT');
        }
        const seen = await stream.stop();
        const gap = longestGap(seen, t0);
        assertNoLeak(seen);
        const pattern = seen.map((x) => (x.ok ? 'o' : 'x')).join('');
        t.diagnostic(`apiserver frozen, ${holder} off: gap ${gap} ms; requests: ${pattern}`);
        try {
          assert.match(
            pattern,
            /^o+x*o+$/,
            'good answers with the apiserver frozen, one outage for the node, then good again',
          );
          assert.ok(gap < 2000, `gap ${gap} ms`);
        } finally {
          await lab.lab(['node', 'on', holder]);
        }
      },
    );
  });
});

/** The kube-apiserver process of the e2e lab (the lab started it; its wrapper records the PID). */
function apiserverPid(): number {
  const state = JSON.parse(readFileSync(join(E2E_LAB_DIR, 'control-plane', 'state.json'), 'utf8')) as {
    processes: { name: string; pidFile: string }[];
  };
  const proc = state.processes.find((p) => p.name === 'kube-apiserver');
  if (!proc) throw new Error('no kube-apiserver in the lab state');
  const pid = Number(readFileSync(proc.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`bad kube-apiserver PID in ${proc.pidFile}`);
  return pid;
}
