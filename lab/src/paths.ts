// Where scripts/setup.sh put the lab's binaries. Env vars win so CI or a developer can point
// at other builds; otherwise the paths.env file that setup writes is read.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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

export function toolBinary(name: 'kubectl' | 'helm'): string {
  return join(labPaths().toolsBin, name);
}
