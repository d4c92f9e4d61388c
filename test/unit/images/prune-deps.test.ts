// prune-deps keeps what the roots need by npm's layout rules, and the nettools image's
// /app built that way (sources + pruned node_modules) really runs: the server answers and
// the client judges, with nothing else of the repository around.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closure, type Lockfile, prunable } from '../../../images/prune-deps.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PRUNE = join(ROOT, 'images/prune-deps.ts');

const lock: Lockfile = {
  lockfileVersion: 3,
  packages: {
    '': { dependencies: { a: '1', big: '1' } },
    'node_modules/a': { dependencies: { b: '1', '@s/c': '1' }, optionalDependencies: { gone: '1' } },
    'node_modules/a/node_modules/b': { dependencies: { d: '1' } },
    'node_modules/b': {},
    'node_modules/@s/c': { peerDependencies: { d: '1', absent: '1' } },
    'node_modules/d': {},
    'node_modules/big': { dependencies: { b: '1' } },
  },
};

test('closure: nested copies first, then enclosing node_modules; scoped names; optional and peers', () => {
  assert.deepEqual(
    [...closure(lock, ['a'])].sort(),
    ['node_modules/@s/c', 'node_modules/a', 'node_modules/a/node_modules/b', 'node_modules/d'].sort(),
  );
  assert.deepEqual(prunable(lock, closure(lock, ['a'])).sort(), ['node_modules/b', 'node_modules/big']);
  assert.deepEqual([...closure(lock, ['big'])].sort(), ['node_modules/b', 'node_modules/big']);
});

test('closure: a missing required package or an old lockfile is an error that names it', () => {
  const broken: Lockfile = {
    lockfileVersion: 3,
    packages: { 'node_modules/x': { dependencies: { y: '1' } } },
  };
  assert.throws(() => closure(broken, ['x']), /y \(needed by node_modules\/x\) is not in package-lock\.json/);
  assert.throws(
    () => closure(broken, ['nope']),
    /nope \(needed by the project\) is not in package-lock\.json/,
  );
  assert.throws(() => closure({ lockfileVersion: 1, packages: {} }, ['x']), /v2 or v3 needed/);
});

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((r) => p.once('exit', (code) => r(code)));
}

test("nettools image layout: pruned to pino's tree, the server and client still work", async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'egw-nettools-image-'));
  t.after(() => rmSync(app, { recursive: true, force: true }));
  // What the Dockerfile's stages put in /app: the lockfile's production packages (taken
  // from this checkout's install instead of the network), then the sources.
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  cpSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
  const full = closure(
    (await import(join(ROOT, 'package-lock.json'), { with: { type: 'json' } })).default as Lockfile,
    ['pino', 'yaml'],
  );
  for (const p of full) cpSync(join(ROOT, p), join(app, p), { recursive: true });
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [PRUNE, 'package-lock.json', 'node_modules', 'pino'],
      { cwd: app },
      (err, stdout) => {
        if (err) reject(err);
        else {
          assert.match(stdout, /^kept \d+ packages for pino, removed \d+\n$/);
          resolve();
        }
      },
    ),
  );
  assert.ok(existsSync(join(app, 'node_modules/pino/package.json')));
  assert.ok(!existsSync(join(app, 'node_modules/yaml')), 'yaml is not needed by pino');
  for (const dir of ['src/common', 'src/nettools'])
    cpSync(join(ROOT, dir), join(app, dir), { recursive: true });

  const server = spawn(
    process.execPath,
    [join(app, 'src/nettools/server-main.ts'), '-protocol', 'web', '-webPort', '0'],
    {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    const first = await new Promise<{ ports: { web: number } }>((resolve, reject) => {
      server.stdout!.once('data', (c: Buffer) => resolve(JSON.parse(c.toString().split('\n')[0]!)));
      server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const code = await new Promise<number>((resolve) =>
      execFile(
        process.execPath,
        [join(app, 'src/nettools/client-main.ts'), '-addr', '127.0.0.1', '-protocol', 'web'].concat([
          '-webPort',
          String(first.ports.web),
          '-eip',
          '127.0.0.1',
        ]),
        { cwd: app },
        (err) => resolve(err ? Number(err.code) : 0),
      ),
    );
    assert.equal(code, 0);
  } finally {
    server.kill('SIGTERM');
  }
  assert.equal(await exited(server), 0);
});
