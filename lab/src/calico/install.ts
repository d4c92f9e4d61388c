// Serves Calico's API in the lab (--cni calico): its CRDs, once Established, and the objects a
// fresh Calico install has. Objects that exist are left as they are: `lab up` again must not
// undo an operator's `kubectl patch felixconfigurations default …`.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import type { Topology } from '../net/topology.ts';
import { CALICO_GROUP, CALICO_VERSION, calicoCrds, calicoDefaults } from './crds.ts';

const exists = (err: unknown) => err instanceof ApiException && err.code === 409;

async function established(ext: ApiextensionsV1Api, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crd = await ext.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs / 1000}s`);
    await sleep(100);
  }
}

export async function ensureCalicoApi(kc: KubeConfig, t: Topology): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const body of calicoCrds()) {
    await ext
      .createCustomResourceDefinition({ body: body as unknown as V1CustomResourceDefinition })
      .catch((err: unknown) => {
        if (!exists(err)) throw err;
      });
    await established(ext, (body['metadata'] as { name: string }).name);
  }
  for (const body of calicoDefaults(t)) {
    const plural = body['kind'] === 'IPPool' ? 'ippools' : 'felixconfigurations';
    await custom
      .createClusterCustomObject({ group: CALICO_GROUP, version: CALICO_VERSION, plural, body })
      .catch((err: unknown) => {
        if (!exists(err)) throw err;
      });
  }
}
