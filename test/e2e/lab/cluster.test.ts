// The lab as a user meets it (IPv4, Calico-style pods, 3 nodes): nodes Ready, a Deployment's
// pods Running with real addresses on several nodes, pod egress masqueraded to the node's
// address, pod-to-pod and ClusterIP traffic, a node powered off and on, `up` idempotent, and
// `down` leaving the machine exactly as it was.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NAT_CHAIN } from '../../../lab/src/net/nat-outgoing.ts';
import { planTopology } from '../../../lab/src/net/topology.ts';
import { run } from '../../../src/common/exec.ts';
import { cidrToRange, parseCidr, parseIp, rangeContains } from '../../../src/common/ip.ts';
import {
  curlFromPod,
  E2E_LAB_DIR,
  echoServerYaml,
  eventually,
  hostSnapshot,
  LAB_TEST_TIMEOUT,
  labNamespaces,
  NETTOOLS_IMAGE,
  rootMountOf,
  runningPods,
  urlFor,
  withLab,
} from '../../support/lab.ts';

const topo = planTopology({ nodes: 3, ipFamily: 'ipv4', cni: 'calico' });
const nodeIp = (name: string) => topo.nodes.find((n) => n.name === name)!.ipv4!;
const inCidr = (ip: string, cidr: string) => {
  const a = parseIp(ip);
  return rangeContains(cidrToRange(parseCidr(cidr)), a.family, a.value);
};

type NodeList = {
  items: {
    metadata: { name: string };
    status: {
      addresses: { type: string; address: string }[];
      conditions: { type: string; status: string }[];
    };
  }[];
};

async function nodeReadyStatus(lab: Parameters<Parameters<typeof withLab>[1]>[0], name: string) {
  const n = await lab.kubectlJson<NodeList['items'][number]>(['get', 'node', name]);
  return n.status.conditions.find((c) => c.type === 'Ready')?.status;
}

/** Processes whose command line mentions the lab (state dir or lab sources). */
function labProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (cmd.includes(E2E_LAB_DIR)) out.push(`${pid} ${cmd}`);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

test('lab: a real 3-node IPv4 cluster with Calico-style pods', { timeout: LAB_TEST_TIMEOUT }, async (t) => {
  // Both snapshots are taken holding the lab lock: another test file's lab cannot be up then.
  let before: Awaited<ReturnType<typeof hostSnapshot>> | undefined;
  const afterDown = async () => {
    await t.test('lab down leaves no namespace, link, route, mount, process or file behind', async () => {
      assert.deepEqual(await labNamespaces(), []);
      assert.deepEqual(await hostSnapshot(), before);
      assert.deepEqual(labProcesses(), []);
      assert.equal(existsSync(E2E_LAB_DIR), false);
    });
  };
  const beforeUp = async () => {
    before = await hostSnapshot();
  };
  await withLab(
    ['--nodes', '3'],
    async (lab, upSeconds) => {
      t.diagnostic(`lab up (cached binaries) took ${upSeconds.toFixed(1)} s`);

      await t.test('every node registers and is Ready with its underlay address', async () => {
        const nodes = await lab.kubectlJson<NodeList>(['get', 'nodes']);
        assert.deepEqual(
          nodes.items.map((n) => n.metadata.name).sort(),
          topo.nodes.map((n) => n.name).sort(),
        );
        for (const n of nodes.items) {
          assert.equal(n.status.conditions.find((c) => c.type === 'Ready')?.status, 'True', n.metadata.name);
          const internal = n.status.addresses.find((a) => a.type === 'InternalIP')?.address;
          assert.equal(internal, nodeIp(n.metadata.name));
        }
      });

      let visitors: Awaited<ReturnType<typeof runningPods>> = [];
      await t.test('kubectl create deployment: pods Running with IPs from their node pod CIDR', async () => {
        await lab.kubectl(['create', 'deployment', 'visitor', '--image', NETTOOLS_IMAGE, '--replicas', '3']);
        visitors = await runningPods(lab, 'app=visitor', 3);
        for (const p of visitors) {
          const cidr = topo.nodes.find((n) => n.name === p.node)!.podCidrV4!;
          assert.ok(inCidr(p.ips[0]!, cidr), `${p.name} ${p.ips[0]} not in ${p.node}'s ${cidr}`);
        }
        assert.equal(new Set(visitors.map((p) => p.ips[0])).size, 3, 'pod IPs are unique');
        assert.ok(new Set(visitors.map((p) => p.node)).size >= 2, 'pods landed on more than one node');
      });

      await t.test("the external host's server is the nettools image, run as the seed runs it", async () => {
        const dir = join(lab.dir, 'external');
        const pid = Number(readFileSync(join(dir, 'nettools.pid'), 'utf8'));
        const root = rootMountOf(pid);
        assert.equal(root.fstype, 'overlay');
        assert.match(root.lowerdir ?? '', /\/images\/unpacked\/nettools-[0-9a-f]{16}\/rootfs$/);
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        assert.ok(
          argv.includes('/app/src/nettools/server-main.ts') && argv.includes('-protocol'),
          argv.join(' '),
        );
        assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+1000\s/m);
        const answer = await lab.lab(['external', '--', 'curl', '-sS', '-m', '3', 'http://10.6.1.92:8080']);
        assert.equal(answer.stdout.trim(), 'Remote IP: 10.6.1.92');
      });

      await t.test('an image the lab has not got is not run: ErrImageNeverPull', async () => {
        await lab.kubectl(['run', 'foreign', '--image', 'nginx', '--restart', 'Never']);
        const waiting = await eventually('foreign pod waiting', async () => {
          const w = (
            await lab.kubectl([
              'get',
              'pod',
              'foreign',
              '-o',
              'jsonpath={.status.containerStatuses[0].state.waiting}',
            ])
          ).trim();
          return w.includes('ErrImageNeverPull') ? w : undefined;
        });
        assert.match(waiting, /docker\.io\/library\/nginx:latest|nginx/);
        assert.equal(
          (await lab.kubectl(['get', 'pod', 'foreign', '-o', 'jsonpath={.status.phase}'])).trim(),
          'Pending',
        );
        await lab.kubectl(['delete', 'pod', 'foreign', '--wait=true']);
      });

      await t.test('pod egress leaves masqueraded to its node address (natOutgoing)', async () => {
        for (const p of visitors) {
          const body = await curlFromPod(lab, p.name, 'http://10.6.1.92:8080');
          assert.equal(body, `Remote IP: ${nodeIp(p.node)}`, `from ${p.name} on ${p.node}`);
        }
      });

      await t.test(
        "Calico's API: the seed's kubectl patch moves Felix's NAT jump last, Insert puts it back first",
        async () => {
          const jumps = async () =>
            Promise.all(
              topo.nodes.map(async (n) => {
                const { stdout } = await run('ip', [
                  'netns',
                  'exec',
                  n.netns,
                  'iptables',
                  '-w',
                  '5',
                  '-t',
                  'nat',
                  '-S',
                  'POSTROUTING',
                ]);
                const rules = stdout.split('\n').filter((l) => l.startsWith('-A POSTROUTING'));
                return { first: rules[0], last: rules.at(-1), count: rules.length };
              }),
            );
          const fresh = await lab.kubectl([
            'get',
            'felixconfigurations',
            'default',
            '-o',
            'jsonpath={.spec.chainInsertMode}',
          ]);
          assert.equal(fresh.trim(), 'Insert', "Felix's default");
          assert.equal(
            (
              await lab.kubectl([
                'get',
                'ippools',
                'default-ipv4-ippool',
                '-o',
                'jsonpath={.spec.cidr} {.spec.natOutgoing}',
              ])
            ).trim(),
            '10.244.0.0/16 true',
          );
          for (const j of await jumps()) assert.equal(j.first, `-A POSTROUTING -j ${NAT_CHAIN}`);
          // The seed's command, verbatim (its shell quoting undone).
          await lab.kubectl([
            'patch',
            'felixconfigurations',
            'default',
            '--type=merge',
            '-p',
            '{"spec":{"chainInsertMode":"Append"}}',
          ]);
          const shown = await lab.kubectl(['get', 'FelixConfiguration', 'default', '-o', 'yaml']);
          assert.match(shown, /^apiVersion: crd\.projectcalico\.org\/v1$/m);
          assert.match(shown, /chainInsertMode: Append/);
          await eventually('the jump is last on every node', async () =>
            (await jumps()).every((j) => j.count > 1 && j.last === `-A POSTROUTING -j ${NAT_CHAIN}`)
              ? true
              : undefined,
          );
          for (const p of visitors) {
            const body = await curlFromPod(lab, p.name, 'http://10.6.1.92:8080');
            assert.equal(body, `Remote IP: ${nodeIp(p.node)}`, `natOutgoing still applies (${p.name})`);
          }
          await lab.kubectl([
            'patch',
            'felixconfigurations',
            'default',
            '--type=merge',
            '-p',
            '{"spec":{"chainInsertMode":"Insert"}}',
          ]);
          await eventually('the jump is first again on every node', async () =>
            (await jumps()).every((j) => j.first === `-A POSTROUTING -j ${NAT_CHAIN}`) ? true : undefined,
          );
        },
      );

      let echo: Awaited<ReturnType<typeof runningPods>> = [];
      await t.test('pod-to-pod across nodes and pod-to-ClusterIP keep the pod address', async () => {
        await lab.apply(echoServerYaml('echo', 3, 'SingleStack'));
        echo = await runningPods(lab, 'app=echo', 3);
        const clusterIp = (
          await lab.kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])
        ).trim();
        for (const v of visitors) {
          const remote = echo.find((e) => e.node !== v.node)!;
          assert.equal(
            await curlFromPod(lab, v.name, urlFor(remote.ips[0]!, 8080)),
            `Remote IP: ${v.ips[0]}`,
          );
          const viaService = await eventually('ClusterIP answers', async () =>
            curlFromPod(lab, v.name, urlFor(clusterIp, 80)),
          );
          assert.equal(viaService, `Remote IP: ${v.ips[0]}`, `${v.name} via ${clusterIp}`);
        }
      });

      await t.test('lab logs shows a container log', async () => {
        const out = await lab.lab(['logs', echo[0]!.name]);
        assert.match(out.stdout, /8080/);
      });

      await t.test('lab up again is idempotent: same processes, still Ready', async () => {
        const status1 = (await lab.lab(['status'])).stdout;
        const again = await lab.lab(['up', '--nodes', '3']);
        assert.match(again.stdout, /lab up in/);
        assert.equal((await lab.lab(['status'])).stdout, status1);
        await assert.rejects(lab.lab(['up', '--nodes', '4']), /already up/);
      });

      await t.test(
        'node off: NotReady within the grace period, traffic stops; node on recovers',
        async () => {
          // The control-plane node cannot be powered off: it runs the apiserver.
          const onVictim = visitors.find((p) => p.node !== topo.controlPlane.name)!;
          const other = visitors.find((p) => p.node !== onVictim.node)!;
          const target = echo.find((e) => e.node === onVictim.node)!;
          const t0 = Date.now();
          await lab.lab(['node', 'off', onVictim.node]);
          await assert.rejects(
            curlFromPod(lab, onVictim.name, 'http://10.6.1.92:8080'),
            'egress from the off node',
          );
          await assert.rejects(
            curlFromPod(lab, other.name, urlFor(target.ips[0]!, 8080)),
            'traffic to the off node',
          );
          let notReadyAfter = Number.POSITIVE_INFINITY;
          let t1 = 0;
          try {
            await eventually('Node NotReady', async () =>
              (await nodeReadyStatus(lab, onVictim.node)) !== 'True' ? true : undefined,
            );
            notReadyAfter = (Date.now() - t0) / 1000;
          } finally {
            // Whatever happened, the node comes back: the tests after this one need it.
            t1 = Date.now();
            await lab.lab(['node', 'on', onVictim.node]);
          }
          t.diagnostic(`node off → NotReady after ${notReadyAfter.toFixed(1)} s (grace period 20 s)`);
          // grace period 20 s + node-monitor-period 2 s, plus up to 10 s for the control plane and
          // kubectl on a loaded 2-core machine (measured 21.6–28.9 s; 28.9 with tests in parallel)
          assert.ok(notReadyAfter <= 20 + 2 + 10, `NotReady after ${notReadyAfter}s`);

          assert.equal(await nodeReadyStatus(lab, onVictim.node), 'True');
          t.diagnostic(`node on → Ready after ${((Date.now() - t1) / 1000).toFixed(1)} s`);
          const body = await eventually('egress after node on', () =>
            curlFromPod(lab, onVictim.name, 'http://10.6.1.92:8080'),
          );
          assert.equal(body, `Remote IP: ${nodeIp(onVictim.node)}`);
          const back = await eventually('pod on the node serves again', () =>
            curlFromPod(lab, other.name, urlFor(target.ips[0]!, 8080)),
          );
          assert.equal(back, `Remote IP: ${other.ips[0]}`);
        },
      );

      await t.test('partition cuts a node off the underlay; heal reconnects it', async () => {
        const p = visitors.find((v) => v.node !== 'egressgateway-control-plane')!;
        await lab.lab(['node', 'partition', p.node]);
        await assert.rejects(curlFromPod(lab, p.name, 'http://10.6.1.92:8080'));
        await lab.lab(['node', 'heal', p.node]);
        assert.equal(
          await eventually('egress after heal', () => curlFromPod(lab, p.name, 'http://10.6.1.92:8080')),
          `Remote IP: ${nodeIp(p.node)}`,
        );
      });

      await t.test('kubectl delete pod: the pod object is gone and a replacement runs', async () => {
        const victim = echo[0]!;
        const t0 = Date.now();
        // kubectl waits until the object is gone; a kubelet that never confirms leaves it
        // Terminating and this times out.
        await lab.kubectl(['delete', 'pod', victim.name, '--timeout', '60s']);
        t.diagnostic(`kubectl delete pod took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        await assert.rejects(lab.kubectl(['get', 'pod', victim.name]), /NotFound|not found/);
        echo = await runningPods(lab, 'app=echo', 3);
        assert.ok(!echo.some((e) => e.name === victim.name));
      });
    },
    { beforeUp, afterDown },
  );
});
