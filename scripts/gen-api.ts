// Writes the CRD manifests and TypeScript types generated from src/api/schema/kinds.ts, and
// the chart's values.schema.json from src/api/values-schema.ts.
// usage: node scripts/gen-api.ts   (run after editing the schema; a unit test checks freshness)
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_DIR, generatedFiles } from '../src/api/generate.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const files = generatedFiles();
mkdirSync(join(root, CRD_DIR), { recursive: true });
// A CRD whose kind was removed from the schema must not linger in the chart.
for (const f of readdirSync(join(root, CRD_DIR))) {
  if (!files.has(`${CRD_DIR}/${f}`)) rmSync(join(root, CRD_DIR, f));
}
for (const [path, content] of files) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
  console.log(`wrote ${path}`);
}
