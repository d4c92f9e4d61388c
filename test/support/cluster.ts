// Real control planes for tests. `testCluster()` gives the one the test command shares
// (EGW_TEST_KUBECONFIG), or starts a private one when a file is run on its own.
// `privateControlPlane()` always starts a fresh one, for tests that restart or break it.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, destroyControlPlane, startControlPlane } from '../../lab/src/index.ts';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.ts';

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
}

let shared: Promise<TestCluster> | undefined;
const privates: ControlPlane[] = [];
let cleanupHooked = false;

function hookCleanup(): void {
  if (cleanupHooked) return;
  cleanupHooked = true;
  // The test runner lets the process drain and exit; stop what this file started first.
  let done = false;
  process.on('beforeExit', () => {
    if (done) return;
    done = true;
    void Promise.all(privates.map((cp) => destroyControlPlane(cp.state.dir)));
  });
  // If the runner forces the exit (--test-force-exit), only synchronous work runs: signal the
  // keepalive wrappers (they stop their components) and remove the state directories.
  process.on('exit', () => {
    if (done) return;
    for (const cp of privates) {
      for (const p of cp.state.processes) {
        try {
          process.kill(p.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      rmSync(cp.state.dir, { recursive: true, force: true });
    }
  });
}

export async function privateControlPlane(
  opts: { nodeMonitorGracePeriod?: string; apiserverArgs?: string[] } = {},
): Promise<ControlPlane & { kubeConfig: KubeConfig }> {
  hookCleanup();
  const dir = await mkdtemp(join(tmpdir(), 'egw-cp-'));
  const cp = await startControlPlane({ dir, ...opts });
  privates.push(cp);
  const kubeConfig = loadKubeConfig(cp.kubeconfigPath);
  return Object.assign(cp, { kubeConfig });
}

export function testCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const fromEnv = process.env['EGW_TEST_KUBECONFIG'];
    const kubeconfigPath = fromEnv ?? (await privateControlPlane()).kubeconfigPath;
    const kubeConfig = loadKubeConfig(kubeconfigPath);
    return { kubeconfigPath, kubeConfig };
  })();
  return shared;
}

/**
 * For files that run informers or controllers: once their tests are done, a stray handle (a
 * watch reconnecting, a lease loop) must not keep the file alive. Exits 10 s later unless the
 * process ends first; the exit hook above still stops the file's control planes. Not
 * --test-force-exit: that exits before the results are flushed and silently drops tests.
 */
export function exitSoonAfterTests(): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), 10_000).unref();
}

/** A name no other test run uses, valid as a Kubernetes object name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
