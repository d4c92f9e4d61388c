// The foundation's promise: tests talk to a real kube-apiserver, and the real
// kube-controller-manager does its job (here: garbage collection and namespace deletion).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { testCluster, uniqueName } from '../../support/cluster.ts';

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

describe('real control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('it-cp');

  before(async () => {
    kc = (await testCluster()).kubeConfig;
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('creates a CRD, establishes it and stores a custom object', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const group = `${uniqueName('t')}.lab.example.com`;
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    try {
      await eventually('CRD Established', async () => {
        const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
          ? true
          : undefined;
      });
      const custom = kc.makeApiClient(CustomObjectsApi);
      const body = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
      await eventually('custom object accepted', () =>
        custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body }),
      );
      const got = (await custom.getNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural: 'widgets',
        name: 'w1',
      })) as { spec: { size: number } };
      assert.equal(got.spec.size, 3);
      // The schema is enforced by the real apiserver.
      await assert.rejects(
        custom.createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace: ns,
          plural: 'widgets',
          body: { ...body, metadata: { name: 'w2' }, spec: { size: 0 } },
        }),
        /should be greater than or equal to 1/,
      );
    } finally {
      await ext.deleteCustomResourceDefinition({ name: `widgets.${group}` });
    }
  });

  it('stores and updates a Lease with optimistic concurrency', async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const lease = await coord.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'l1' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    });
    const updated = await coord.replaceNamespacedLease({
      name: 'l1',
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
    });
    assert.equal(updated.spec?.holderIdentity, 'b');
    // Writing again with the stale resourceVersion must conflict.
    await assert.rejects(
      coord.replaceNamespacedLease({ name: 'l1', namespace: ns, body: lease }),
      (err: { code?: number }) => err.code === 409,
    );
  });

  it('delivers watch events as objects change', async () => {
    const seen: string[] = [];
    const watch = new Watch(kc);
    const name = 'watched';
    const ctl = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { fieldSelector: `metadata.name=${name}` },
      (type, obj: { data?: Record<string, string> }) => seen.push(`${type}:${obj.data?.['v'] ?? ''}`),
      () => undefined,
    );
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: '1' } } });
      await core.patchNamespacedConfigMap(
        { name, namespace: ns, body: { data: { v: '2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name, namespace: ns });
      await eventually('three watch events', async () => (seen.length >= 3 ? true : undefined), 10_000);
      assert.deepEqual(seen, ['ADDED:1', 'MODIFIED:2', 'DELETED:2']);
    } finally {
      ctl.abort();
    }
  });

  it('applies server-side with field ownership and conflict detection', async () => {
    const apply = (manager: string, data: Record<string, string>, force = false) =>
      core.patchNamespacedConfigMap(
        {
          name: 'ssa',
          namespace: ns,
          fieldManager: manager,
          force,
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: ns }, data },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    const first = await apply('alice', { a: '1' });
    assert.equal(first.data?.['a'], '1');
    assert.ok(first.metadata?.managedFields?.some((f) => f.manager === 'alice'));
    await assert.rejects(apply('bob', { a: '2' }), (err: { code?: number }) => err.code === 409);
    const forced = await apply('bob', { a: '2' }, true);
    assert.equal(forced.data?.['a'], '2');
  });

  it('garbage-collects a dependent once its owner is deleted (kube-controller-manager)', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await eventually('dependent garbage-collected', async () => {
      try {
        await core.readNamespacedConfigMap({ name: 'dependent', namespace: ns });
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    });
  });

  it('finishes namespace deletion (namespace controller)', async () => {
    const victim = uniqueName('it-del');
    await core.createNamespace({ body: { metadata: { name: victim } } });
    await core.createNamespacedConfigMap({ namespace: victim, body: { metadata: { name: 'x' } } });
    await core.deleteNamespace({ name: victim });
    await eventually('namespace gone', async () => {
      try {
        await core.readNamespace({ name: victim });
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    });
  });
});
