// First process of a lab container. `ip netns exec` has already put it in the pod's (or the
// node's) network namespace and in a private mount namespace; here the pod's volumes are bound
// at their paths, then the program runs with the pod's environment. Signals are passed on so
// a graceful pod deletion reaches the program.
//
// usage: container-init.ts SPEC.json
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ContainerSpec {
  argv: string[];
  env: Record<string, string>;
  mounts: { source: string; target: string; readOnly: boolean }[];
  /** mount points created on the host's filesystem are listed here, for `lab down` */
  createdPathsFile: string;
}

function ensureMountPoint(target: string, isFile: boolean, record: string): void {
  if (existsSync(target)) return;
  // Record the first missing ancestor: removing it later removes everything we made.
  let top = target;
  while (!existsSync(dirname(top))) top = dirname(top);
  appendFileSync(record, `${top}\n`);
  if (isFile) {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, '');
  } else mkdirSync(target, { recursive: true });
}

function main(): void {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ContainerSpec;
  for (const m of spec.mounts) {
    if (m.source === m.target) continue;
    ensureMountPoint(m.target, statSync(m.source).isFile(), spec.createdPathsFile);
    const res = spawnSync('mount', ['--bind', m.source, m.target], { stdio: 'inherit' });
    if (res.status !== 0) throw new Error(`mount --bind ${m.source} ${m.target} failed`);
    if (m.readOnly) spawnSync('mount', ['-o', 'remount,bind,ro', m.target], { stdio: 'inherit' });
  }
  const [file, ...args] = spec.argv;
  const child = spawn(file!, args, { stdio: 'inherit', env: spec.env });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
  child.on('error', (err) => {
    console.error(`container-init: ${err.message}`);
    process.exit(127);
  });
}

if (import.meta.main) main();
