// The CRD manifests in the chart and the TypeScript types are generated from one schema
// source; this fails when someone edits the schema and forgets `node scripts/gen-api.ts`,
// or edits a generated file by hand.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CRD_DIR, generatedFiles } from '../../../src/api/generate.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('generated CRDs and types match the schema source (run: node scripts/gen-api.ts)', () => {
  const files = generatedFiles();
  for (const [path, content] of files) {
    assert.equal(readFileSync(join(root, path), 'utf8'), content, `${path} is stale`);
  }
  const onDisk = readdirSync(join(root, CRD_DIR)).map((f) => `${CRD_DIR}/${f}`);
  assert.deepEqual(onDisk.sort(), [...files.keys()].filter((p) => p.startsWith(CRD_DIR)).sort());
});

test('seven CRDs in group egressgateway.spidernet.io with upstream names, scopes and short names', () => {
  const crds = [...generatedFiles()].filter(([p]) => p.startsWith(CRD_DIR)).map(([, c]) => parse(c));
  const summary = crds.map((c) => [
    c.spec.names.kind,
    c.spec.scope,
    c.spec.names.shortNames.join(','),
    c.spec.names.plural,
  ]);
  assert.deepEqual(summary.sort(), [
    ['EgressClusterEndpointSlice', 'Cluster', 'egcep', 'egressclusterendpointslices'],
    ['EgressClusterInfo', 'Cluster', 'egci', 'egressclusterinfos'],
    ['EgressClusterPolicy', 'Cluster', 'egcp', 'egressclusterpolicies'],
    ['EgressEndpointSlice', 'Namespaced', 'egep', 'egressendpointslices'],
    ['EgressGateway', 'Cluster', 'egw', 'egressgateways'],
    ['EgressPolicy', 'Namespaced', 'egp', 'egresspolicies'],
    ['EgressTunnel', 'Cluster', 'egt', 'egresstunnels'],
  ]);
  for (const c of crds) {
    assert.equal(c.spec.group, 'egressgateway.spidernet.io');
    assert.deepEqual(
      c.spec.versions.map((v: { name: string }) => v.name),
      ['v1beta1'],
    );
    assert.deepEqual(c.spec.versions[0].subresources, { status: {} });
    assert.deepEqual(c.spec.names.categories, [c.spec.names.singular]);
  }
});
