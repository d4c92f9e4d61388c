// The lab's record of itself (topology and the processes it started), in its state directory,
// so every CLI call and every kubelet sees the same lab.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagedProcess } from './controlplane/processes.ts';
import type { Topology } from './net/topology.ts';

export interface LabState {
  topology: Topology;
  startedAt: string;
  processes: ManagedProcess[];
  /** nodes powered off with `lab node off` */
  off: string[];
  partitioned: string[];
}

export const STATE_FILE = 'lab.json';

export function readLabState(labDir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(labDir, STATE_FILE), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeLabState(labDir: string, s: LabState): void {
  const file = join(labDir, STATE_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}
