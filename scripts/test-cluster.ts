// Starts or stops the control plane that the test command shares between test files.
// usage: test-cluster.ts up|down DIR   (up prints the admin kubeconfig path)
import { destroyControlPlane, startControlPlane } from '../lab/src/index.ts';

const [verb, dir] = process.argv.slice(2);
if (!dir || (verb !== 'up' && verb !== 'down')) {
  console.error('usage: test-cluster.ts up|down DIR');
  process.exit(2);
}
if (verb === 'up') {
  const t0 = Date.now();
  const cp = await startControlPlane({ dir, nodeMonitorGracePeriod: '20s' });
  console.error(`shared test control plane ready in ${Date.now() - t0} ms at ${cp.state.server}`);
  console.log(cp.kubeconfigPath);
} else {
  await destroyControlPlane(dir);
}
