// `lab` — a real Kubernetes cluster on this machine: bring it up and down, inspect it, run
// kubectl/helm against it, run commands in pods, nodes and the external host, inject faults.
// kubectl and helm are the pinned official binaries, pointed at the lab's admin kubeconfig.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import {
  apiserverReady,
  COMPONENTS,
  type Component,
  loadState as loadControlPlaneState,
  startControlPlane,
} from './controlplane/controlplane.ts';
import { childPid, isHealthy } from './controlplane/processes.ts';
import { logFile } from './kubelet/container-runtime.ts';
import {
  adminKubeConfig,
  controlPlaneDir,
  down,
  labDir,
  labState,
  nodeDir,
  nodeOff,
  nodeOn,
  partition,
  up,
} from './lab.ts';
import { findNode, podNetns, type TopologyOptions } from './net/topology.ts';
import { toolBinary } from './paths.ts';

/** Runs a program with inherited stdio and exits with its code. No shell sees the arguments. */
function runInherit(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): never {
  const res = spawnSync(file, args, { stdio: 'inherit', env });
  if (res.error) throw res.error;
  process.exit(res.status ?? 1);
}

function passthrough(tool: 'kubectl' | 'helm', args: string[]): never {
  const kubeconfig = join(controlPlaneDir(), 'admin.kubeconfig');
  runInherit(toolBinary(tool), args, { ...process.env, KUBECONFIG: kubeconfig });
}

/** Splits `… -- CMD ARGS` so commander never sees (or eats) the command's own flags. */
function splitCommand(argv: string[]): { own: string[]; command: string[] } {
  const i = argv.indexOf('--');
  return i < 0 ? { own: argv, command: [] } : { own: argv.slice(0, i), command: argv.slice(i + 1) };
}

const argv = process.argv.slice(2);
const [verb, ...rest] = argv;
if (verb === 'kubectl' || verb === 'helm') passthrough(verb, rest);
const { own, command } = splitCommand(argv);
const needCommand = (what: string) => {
  if (command.length === 0) throw new Error(`${what}: give the command after "--"`);
  return command;
};

function mustLab() {
  const s = labState();
  if (!s) throw new Error('the lab is down; run "lab/bin/lab up" first');
  return s;
}

async function findPod(namespace: string, name: string) {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name, namespace });
  if (!pod.spec?.nodeName) throw new Error(`pod ${namespace}/${name} is not scheduled yet`);
  return pod;
}

const program = new Command('lab')
  .description('a real Kubernetes cluster on this machine, for tests and demos')
  .showHelpAfterError();

program
  .command('up')
  .description('start the lab (idempotent: a running lab is left as it is)')
  .addOption(new Option('--nodes <n>', 'number of nodes, the control-plane node included').default('3'))
  .addOption(
    new Option('--ip-family <family>', 'address families').choices(['ipv4', 'ipv6', 'dual']).default('ipv4'),
  )
  .addOption(
    new Option('--cni <mode>', 'pod wiring').choices(['calico', 'bridge', 'flannel']).default('calico'),
  )
  .addOption(
    new Option('--cni-chain-insert-mode <mode>', "where the CNI's NAT jump goes")
      .choices(['insert', 'append'])
      .default('insert'),
  )
  .action(async (o: { nodes: string; ipFamily: string; cni: string; cniChainInsertMode: string }) => {
    const options: TopologyOptions = {
      nodes: Number(o.nodes),
      ipFamily: o.ipFamily as TopologyOptions['ipFamily'],
      cni: o.cni as TopologyOptions['cni'],
      chainInsertMode: o.cniChainInsertMode as TopologyOptions['chainInsertMode'],
    };
    const res = await up(options);
    console.log(
      `lab up in ${res.seconds.toFixed(1)}s: ${res.state.topology.nodes.map((n) => n.name).join(', ')}`,
    );
    console.log(`  kubeconfig: ${res.controlPlane.kubeconfigPath}`);
    console.log('  try: lab/bin/lab kubectl get nodes -o wide');
  });

program
  .command('down')
  .description('stop everything the lab started and remove every namespace, link and file it made')
  .action(async () => {
    await down();
    console.log('lab is down');
  });

program
  .command('status')
  .description('show what runs; exit code 1 when the lab is not fully up')
  .action(async () => {
    const cpState = await loadControlPlaneState(controlPlaneDir());
    const lab = labState();
    if (!cpState || !lab) {
      console.log('lab is down');
      process.exitCode = 1;
      return;
    }
    let healthy = true;
    const line = (name: string, text: string) => console.log(`${name.padEnd(40)} ${text}`);
    for (const name of COMPONENTS) {
      const p = cpState.processes.find((q) => q.name === name);
      const pid = p && childPid(p);
      healthy &&= pid !== undefined;
      line(name, pid !== undefined ? `running (pid ${pid})` : 'stopped');
    }
    for (const p of lab.processes) {
      const ok = isHealthy(p);
      const expectedOff = lab.off.some((n) => p.name.endsWith(n));
      healthy &&= ok || expectedOff;
      line(p.name, ok ? `running (pid ${childPid(p)})` : 'stopped');
    }
    for (const n of lab.off) line(`node ${n}`, 'powered off');
    for (const n of lab.partitioned) line(`node ${n}`, 'partitioned');
    const ready = await apiserverReady(cpState);
    healthy &&= ready;
    line('apiserver /readyz', `${ready ? 'ok' : 'not ready'} (${cpState.server})`);
    line('kubeconfig', cpState.kubeconfig);
    if (!healthy) process.exitCode = 1;
  });

program
  .command('restart')
  .argument('<component>', 'etcd | apiserver | controller-manager | scheduler')
  .option('--crash', 'kill with SIGKILL instead of a graceful stop')
  .description('restart one control-plane component (fault injection)')
  .action(async (component: string, opts: { crash?: boolean }) => {
    const name = (
      component.startsWith('kube-') || component === 'etcd' ? component : `kube-${component}`
    ) as Component;
    if (!COMPONENTS.includes(name))
      throw new Error(`unknown component "${component}"; use ${COMPONENTS.join(', ')}`);
    const cp = await startControlPlane({ dir: controlPlaneDir() });
    await cp.restart(name, opts.crash ? { crash: true } : {});
    console.log(`${name} restarted`);
  });

program
  .command('exec')
  .description("run a command in a pod's namespaces: lab exec [-n NS] POD -- CMD…")
  .option('-n, --namespace <ns>', 'namespace of the pod', 'default')
  .argument('<pod>')
  .action(async (pod: string, o: { namespace: string }) => {
    const cmd = needCommand('exec');
    const p = await findPod(o.namespace, pod);
    const lab = mustLab();
    const ns = p.spec?.hostNetwork
      ? findNode(lab.topology, p.spec.nodeName!).netns
      : podNetns(p.metadata!.uid!);
    runInherit('ip', ['netns', 'exec', ns, ...cmd]);
  });

program
  .command('external')
  .description('run a command on the external host (10.6.1.92): lab external -- CMD…')
  .action(() => {
    const cmd = needCommand('external');
    runInherit('ip', ['netns', 'exec', mustLab().topology.externalNetns, ...cmd]);
  });

program
  .command('logs')
  .description("print a pod's container log")
  .option('-n, --namespace <ns>', 'namespace of the pod', 'default')
  .option('-c, --container <name>', 'container (default: the first)')
  .argument('<pod>')
  .action(async (pod: string, o: { namespace: string; container?: string }) => {
    const p = await findPod(o.namespace, pod);
    const container = o.container ?? p.spec?.containers[0]?.name ?? '';
    const file = logFile(join(nodeDir(labDir(), p.spec!.nodeName!), 'pods', p.metadata!.uid!), container);
    if (!existsSync(file))
      throw new Error(`no log for container "${container}" of ${o.namespace}/${pod} (${file})`);
    process.stdout.write(readFileSync(file));
  });

const node = program.command('node').description('act on a lab node');
node
  .command('exec')
  .description("run a command in a node's namespaces: lab node exec NAME -- CMD…")
  .argument('<name>')
  .action((name: string) => {
    const cmd = needCommand('node exec');
    runInherit('ip', ['netns', 'exec', findNode(mustLab().topology, name).netns, ...cmd]);
  });
node
  .command('off')
  .description(
    'power a node off: links down and every process of the node killed at once (no SIGTERM); on boots it afresh',
  )
  .argument('<name>')
  .action(async (name: string) => {
    await nodeOff(name);
    console.log(`${name} is off`);
  });
node
  .command('on')
  .description('power a node back on and wait until it is Ready')
  .argument('<name>')
  .action(async (name: string) => {
    await nodeOn(name);
    console.log(`${name} is on and Ready`);
  });
node
  .command('partition')
  .description("cut a node's underlay link; its processes keep running")
  .argument('<name>')
  .action(async (name: string) => {
    await partition(name, false);
    console.log(`${name} is partitioned`);
  });
node
  .command('heal')
  .description("reconnect a partitioned node's underlay link")
  .argument('<name>')
  .action(async (name: string) => {
    await partition(name, true);
    console.log(`${name} is reconnected`);
  });

await program.parseAsync(['node', 'lab', ...own]).catch((err: unknown) => {
  console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
