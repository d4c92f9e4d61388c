// Which of our programs an image stands for. The lab has no container runtime: an image of
// ours runs as the matching entry point of this checkout, on the lab's Node 24; any other
// image (nginx, busybox…) gets its sandbox but no process, like a pause container.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { V1Container } from '@kubernetes/client-node';
import { SERVICE_NODE_FLAGS, SERVICE_PROGRAMS } from '../../../src/common/node-flags.ts';

export type EntryPoint =
  | { kind: 'program'; script: string; args: string[]; nodeFlags: readonly string[] }
  | { kind: 'none' }
  | { kind: 'missing'; message: string };

const PROGRAMS: Record<string, string> = {
  controller: 'src/controller/main.ts',
  agent: 'src/agent/main.ts',
  egctl: 'src/egctl/main.ts',
  'nettools-server': 'src/nettools/server-main.ts',
  'nettools-client': 'src/nettools/client-main.ts',
};

/** `ghcr.io/spidernet-io/egressgateway-agent:v0.6.0` → `agent`; undefined for foreign images. */
export function ourImage(image: string): 'controller' | 'agent' | 'nettools' | undefined {
  const repo = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  const last = repo.slice(repo.lastIndexOf('/') + 1);
  if (last === 'egressgateway-controller') return 'controller';
  if (last === 'egressgateway-agent') return 'agent';
  if (last === 'egressgateway-nettools' || last === 'nettools') return 'nettools';
  return undefined;
}

export function entryPoint(repoRoot: string, c: V1Container): EntryPoint {
  const image = ourImage(c.image ?? '');
  if (!image) return { kind: 'none' };
  const command = [...(c.command ?? [])];
  // The images' binaries live in /usr/bin; a command naming one picks that program.
  let program: string = image === 'nettools' ? 'nettools-server' : image;
  if (command.length > 0) {
    const first = basename(command[0]!);
    if (!(first in PROGRAMS)) {
      return { kind: 'missing', message: `command ${command[0]} is not a program of image ${c.image}` };
    }
    program = first;
    command.shift();
  }
  const script = join(repoRoot, PROGRAMS[program]!);
  if (!existsSync(script))
    return { kind: 'missing', message: `${PROGRAMS[program]} does not exist in this checkout` };
  return {
    kind: 'program',
    script,
    args: [...command, ...(c.args ?? [])],
    nodeFlags: SERVICE_PROGRAMS.includes(program) ? SERVICE_NODE_FLAGS : [],
  };
}
