// docs/values.md lists every value of the chart: a key added to values.yaml without a line
// saying what it does here (and how it differs from upstream) fails this test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Leaf paths; an empty map, a list or a free-form map (labels, resources…) is a leaf. */
function leaves(v: unknown, path: string, out: string[]): string[] {
  const freeForm =
    /(nodeSelector|resources|tolerations|affinity|securityContext|Annotations|Labels|annotations|labels|updateStrategy)$/;
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !freeForm.test(path)) {
    for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  } else out.push(path);
  return out;
}

test('every value in values.yaml has a row in docs/values.md', () => {
  const values = parse(readFileSync(join(ROOT, 'charts/egressgateway/values.yaml'), 'utf8'));
  const doc = readFileSync(join(ROOT, 'docs/values.md'), 'utf8');
  // `*.x` rows cover agent.x and controller.x; `a.b.*` rows cover everything under a.b.
  const documented = [...doc.matchAll(/`([A-Za-z0-9_.*]+)`/g)].map((m) => m[1]!);
  const covers = (key: string) =>
    documented.some((d) => {
      const forms = d.startsWith('*.') ? [`agent.${d.slice(2)}`, `controller.${d.slice(2)}`] : [d];
      return forms.some((f) => f === key || (f.endsWith('.*') && key.startsWith(f.slice(0, -1))));
    });
  const missing = leaves(values, '', []).filter((k) => !covers(k));
  assert.deepEqual(missing, [], 'values without a row in docs/values.md');
});
