// Entry point of one lab kubelet, started by `lab up` inside its node's network namespace.
// usage: main.ts --lab-dir DIR --node NAME
import { join } from 'node:path';
import { createLogger } from '../../../src/common/log.ts';
import { loadKubeConfig } from '../../../src/k8s/kubeconfig.ts';
import { readLabState } from '../lab-state.ts';
import { imageStoreDir, runtimeOptions } from '../paths.ts';
import { ImageStore } from './image-store.ts';
import { LabKubelet } from './kubelet.ts';

function flag(name: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`missing ${name}`);
  return v;
}

const labDir = flag('--lab-dir');
const nodeName = flag('--node');
const state = readLabState(labDir);
if (!state) throw new Error(`no lab state in ${labDir}; start the lab with "lab up"`);
const stateDir = join(labDir, 'nodes', nodeName);
const kubeConfig = loadKubeConfig(join(stateDir, 'kubelet.kubeconfig'));
const log = createLogger('lab-kubelet').child({ node: nodeName });
const abort = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => abort.abort());
const kubelet = new LabKubelet({
  topology: state.topology,
  nodeName,
  kubeConfig,
  stateDir,
  images: () => ImageStore.load(imageStoreDir(labDir)),
  runtime: runtimeOptions(labDir),
  createdPathsFile: join(labDir, 'created-paths.txt'),
  log,
});
log.info('lab kubelet starting');
await kubelet.run(abort.signal);
log.info('lab kubelet stopped');
process.exit(0);
