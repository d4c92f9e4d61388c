// `lab` — bring the lab cluster up and down, inspect it, and run kubectl/helm against it.
// kubectl and helm are the pinned official binaries, pointed at the lab's admin kubeconfig.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  apiserverReady,
  COMPONENTS,
  type Component,
  destroyControlPlane,
  loadState,
  startControlPlane,
} from './controlplane/controlplane.ts';
import { childPid } from './controlplane/processes.ts';
import { toolBinary } from './paths.ts';

export function labDir(): string {
  return process.env['EGW_LAB_DIR'] ?? '/run/egressgateway-lab';
}

const controlPlaneDir = () => join(labDir(), 'control-plane');

/** Runs kubectl or helm with the lab kubeconfig, passing every argument through untouched. */
function passthrough(tool: 'kubectl' | 'helm', args: string[]): never {
  const kubeconfig = join(controlPlaneDir(), 'admin.kubeconfig');
  const res = spawnSync(toolBinary(tool), args, {
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  if (res.error) throw res.error;
  process.exit(res.status ?? 1);
}

const [verb, ...rest] = process.argv.slice(2);
if (verb === 'kubectl' || verb === 'helm') passthrough(verb, rest);

const program = new Command('lab').description(
  'a real Kubernetes cluster on this machine, for tests and demos',
);

program
  .command('up')
  .description('start the lab (idempotent: a running lab is left as it is)')
  .action(async () => {
    const t0 = Date.now();
    const cp = await startControlPlane({ dir: controlPlaneDir() });
    console.log(`control plane ready in ${((Date.now() - t0) / 1000).toFixed(1)}s at ${cp.state.server}`);
    console.log(`  kubeconfig: ${cp.kubeconfigPath}`);
    console.log('  try: lab/bin/lab kubectl get namespaces');
  });

program
  .command('down')
  .description('stop everything the lab started and remove its state')
  .action(async () => {
    await destroyControlPlane(controlPlaneDir());
    console.log('lab is down');
  });

program
  .command('status')
  .description('show what runs; exit code 1 when the lab is not fully up')
  .action(async () => {
    const state = await loadState(controlPlaneDir());
    if (!state) {
      console.log('lab is down');
      process.exitCode = 1;
      return;
    }
    let healthy = true;
    for (const name of COMPONENTS) {
      const p = state.processes.find((q) => q.name === name);
      const pid = p && childPid(p);
      healthy &&= pid !== undefined;
      console.log(`${name.padEnd(24)} ${pid !== undefined ? `running (pid ${pid})` : 'stopped'}`);
    }
    const ready = await apiserverReady(state);
    healthy &&= ready;
    console.log(`${'apiserver /readyz'.padEnd(24)} ${ready ? 'ok' : 'not ready'} (${state.server})`);
    console.log(`${'kubeconfig'.padEnd(24)} ${state.kubeconfig}`);
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

await program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
