// Where scripts/setup.sh put the lab's binaries. Env vars win so CI or a developer can point
// at other builds; otherwise the paths.env file that setup writes is read.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LabPaths {
  cache: string;
  /** etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy */
  kubeBin: string;
  /** kubectl, helm */
  toolsBin: string;
}

export function labCacheDir(): string {
  return process.env['EGW_LAB_CACHE'] ?? join(homedir(), '.cache', 'egressgateway-lab');
}

function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export function labPaths(): LabPaths {
  const cache = labCacheDir();
  const file = readEnvFile(join(cache, 'paths.env'));
  const kubeBin = process.env['EGW_KUBE_BIN'] ?? file['EGW_KUBE_BIN'];
  const toolsBin = process.env['EGW_TOOLS_BIN'] ?? file['EGW_TOOLS_BIN'];
  if (!kubeBin || !toolsBin) {
    throw new Error(
      `lab binaries not found (no ${join(cache, 'paths.env')}): run "bash scripts/setup.sh" first, or set EGW_KUBE_BIN and EGW_TOOLS_BIN`,
    );
  }
  return { cache, kubeBin, toolsBin };
}

export function kubeBinary(name: string): string {
  return join(labPaths().kubeBin, name);
}

/** The real flanneld (scripts/setup.sh builds it at the pin in lab/flannel-build/go.mod). */
export function flanneldBinary(): string {
  const path = process.env['EGW_FLANNELD'] ?? readEnvFile(join(labCacheDir(), 'paths.env'))['EGW_FLANNELD'];
  if (!path) throw new Error('flanneld not found: run "bash scripts/setup.sh" first, or set EGW_FLANNELD');
  return path;
}

export function toolBinary(name: 'kubectl' | 'helm'): string {
  return join(labPaths().toolsBin, name);
}

/** Where scripts/images.sh puts the archives it built (and their list, images.json). */
export function builtImagesDir(): string {
  return process.env['EGW_IMAGES_DIR'] ?? fileURLToPath(new URL('../../.cache/images', import.meta.url));
}

/** Unpacked images, one directory per archive's input hash, shared by every lab on the machine. */
export function unpackedImagesDir(): string {
  return join(labCacheDir(), 'images', 'unpacked');
}

/** The images a lab's kubelets can run (imported at `lab up`). */
export const imageStoreDir = (labDir: string) => join(labDir, 'images');
/** runc's state for every container of a lab. */
export const runtimeOptions = (labDir: string) => ({ runcRoot: join(labDir, 'runc') });

/** The reference of one of our images as scripts/images.sh built it (agent, controller, nettools). */
export function builtImageRef(name: 'agent' | 'controller' | 'nettools'): string {
  const file = join(builtImagesDir(), 'images.json');
  let list: { name: string; ref: string }[];
  try {
    list = JSON.parse(readFileSync(file, 'utf8')) as { name: string; ref: string }[];
  } catch {
    throw new Error(`no ${file}: build the images first (bash scripts/images.sh build)`);
  }
  const ref = list.find((i) => i.name === name)?.ref;
  if (!ref) throw new Error(`${file} lists no ${name} image`);
  return ref;
}
