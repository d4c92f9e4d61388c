// The launcher keeps its promises: components restart without losing data, and stopping
// leaves no process and no state behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { destroyControlPlane, startControlPlane } from '../../../lab/src/index.ts';
import { privateControlPlane } from '../../support/cluster.ts';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('control-plane launcher', () => {
  it('survives an apiserver crash and an etcd restart without losing objects, then stops cleanly', async () => {
    const cp = await privateControlPlane();
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'kept' } } });

    await cp.restart('kube-apiserver', { crash: true });
    await cp.restart('etcd');
    const ns = await core.readNamespace({ name: 'kept' });
    assert.equal(ns.metadata?.name, 'kept');
    // Clients of the apiserver (controller-manager, scheduler) may exit while it is down; their
    // keepalive wrappers bring them back, as a kubelet would.
    const all = {
      etcd: 'running',
      'kube-apiserver': 'running',
      'kube-controller-manager': 'running',
      'kube-scheduler': 'running',
    };
    const deadline = Date.now() + 20_000;
    while (JSON.stringify(await cp.status()) !== JSON.stringify(all) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(await cp.status(), all);

    // Starting again on a running control plane is a no-op: same processes.
    const before = cp.state.processes.map((p) => p.pid).sort();
    const again = await startControlPlane({ dir: cp.state.dir });
    assert.deepEqual(again.state.processes.map((p) => p.pid).sort(), before);

    const pids = cp.state.processes.map((p) => p.pid);
    await destroyControlPlane(cp.state.dir);
    assert.deepEqual(
      pids.filter((pid) => alive(pid)),
      [],
      'every process the launcher started is gone',
    );
    assert.equal(existsSync(cp.state.dir), false, 'state directory removed');
  });
});
