// The binaries refuse what they cannot honour at start: the controller and the agent exit 1
// with one line naming the key and the fix (no apiserver needed: config comes first).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../../src/common/exec.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

for (const binary of ['controller', 'agent']) {
  test(`${binary}: a refused value stops the start with one line`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'egw-conf-'));
    try {
      const conf = join(dir, 'conf.yml');
      await writeFile(conf, 'enableGatewayReplyRoute: true\n');
      const r = await run(process.execPath, [join(ROOT, `src/${binary}/main.ts`)], {
        env: { PATH: process.env['PATH'], CONFIGMAP_PATH: conf, NODE_NAME: 'n1' },
        okCodes: [1],
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^invalid configuration: conf.yml enableGatewayReplyRoute: true is refused: .*; set it to false \(docs\/values.md\)\n$/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
