import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { controllerMetrics, newRegistry, startMetricsServer } from '../../../src/common/metrics.ts';

describe('metrics', () => {
  it('serves the registry on /metrics and 404 elsewhere', async () => {
    const registry = newRegistry('test');
    const m = controllerMetrics(registry);
    m.reconcileTotal.inc({ controller: 'gateway', result: 'success' }, 3);
    const server = await startMetricsServer(registry, { host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(
        text,
        /controller_runtime_reconcile_total\{controller="gateway",result="success",component="test"\} 3/,
      );
      assert.match(text, /process_resident_memory_bytes/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      server.close();
    }
  });
});
