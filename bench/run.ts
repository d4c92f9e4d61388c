// Runs benchmarks and prints one JSON document on stdout.
// usage: node bench/run.ts [name-filter...]   (a filter matches a bench file name substring)
import { readdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './lib.ts';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')}; have: ${readdirSync(dir).join(', ')}`);
  process.exit(2);
}

const results: (BenchResult & { file: string })[] = [];
for (const file of files) {
  console.error(`running ${file}`);
  const mod = (await import(join(dir, file))) as { default: () => Promise<BenchResult[]> };
  for (const r of await mod.default()) results.push({ file, ...r });
}
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      results,
    },
    null,
    2,
  ),
);
