// Build-stage helper: after `npm ci --omit=dev`, keep only the packages some given roots need
// at run time, read from package-lock.json, so an image that uses one dependency (nettools:
// pino) does not carry all of them. Deterministic: the lockfile decides every version and
// every path, npm's own layout rules decide where a dependency is found.
// Usage: node prune-deps.ts <package-lock.json> <node_modules dir> <root package>...
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** Where `name` required from the package at `from` is found: its own node_modules, then
 *  each enclosing one up to the top (Node's resolution, which npm's layout follows). */
function resolve(lock: Lockfile, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

/** Lockfile paths (`node_modules/x`, `node_modules/x/node_modules/y`) the roots need. */
export function closure(lock: Lockfile, roots: readonly string[]): Set<string> {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json v2 or v3 needed (npm 7 or later)');
  const keep = new Set<string>();
  const visit = (from: string, name: string, optional: boolean) => {
    const at = resolve(lock, from, name);
    if (!at) {
      if (optional) return;
      throw new Error(`${name} (needed by ${from || 'the project'}) is not in package-lock.json`);
    }
    if (keep.has(at)) return;
    keep.add(at);
    const e = lock.packages[at]!;
    for (const dep of Object.keys(e.dependencies ?? {})) visit(at, dep, false);
    for (const dep of Object.keys(e.optionalDependencies ?? {})) visit(at, dep, true);
    // A peer is kept where npm installed it; one that is missing was not needed to install.
    for (const dep of Object.keys(e.peerDependencies ?? {})) visit(at, dep, true);
  };
  for (const root of roots) visit('', root, false);
  return keep;
}

/** Paths to delete: packages of the lockfile outside the closure (some not installed). */
export function prunable(lock: Lockfile, keep: ReadonlySet<string>): string[] {
  return Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/') && !keep.has(p));
}

if (import.meta.main) {
  const [lockPath, modules, ...roots] = process.argv.slice(2);
  if (!lockPath || !modules || roots.length === 0) {
    console.error('usage: prune-deps.ts <package-lock.json> <node_modules dir> <root package>...');
    process.exit(2);
  }
  const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as Lockfile;
  const keep = closure(lock, roots);
  const base = dirname(modules);
  let removed = 0;
  for (const p of prunable(lock, keep)) {
    const path = join(base, p);
    if (!existsSync(path)) continue;
    rmSync(path, { recursive: true, force: true });
    removed++;
  }
  // npm's record of the tree and the command links would now be wrong; nothing at run time
  // reads them.
  rmSync(join(modules, '.package-lock.json'), { force: true });
  rmSync(join(modules, '.bin'), { recursive: true, force: true });
  for (const scope of readdirSync(modules).filter((d) => d.startsWith('@')))
    if (readdirSync(join(modules, scope)).length === 0) rmdirSync(join(modules, scope));
  console.log(`kept ${keep.size} packages for ${roots.join(', ')}, removed ${removed}`);
}
