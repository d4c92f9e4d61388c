// podCidrMode auto/calico against a real apiserver: Calico's IP pools are watched, not read
// once. Calico installed after the controller (its CRDs appear), a pool added, disabled and
// deleted, and Calico removed: each reaches EgressClusterInfo's status on its own, with no
// other event to trigger it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiextensionsV1Api, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { CALICO_GROUP, CALICO_VERSION, calicoCrds } from '../../../lab/src/calico/crds.ts';
import { GROUP, VERSION } from '../../../src/api/schema/json-schema.ts';
import { type ControllerEnv, mergePatch, startControllerEnv } from '../../support/controller-env.ts';
import { eventually } from '../../support/lab.ts';

let env: ControllerEnv;

type Info = { status?: { podCidrMode?: string; podCIDR?: Record<string, { ipv4: string[] }> } };
const status = async () =>
  (
    (await env.custom.getClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'egressclusterinfos',
      name: 'default',
    })) as Info
  ).status;
const pool = (name: string, cidr: string) => ({
  apiVersion: `${CALICO_GROUP}/${CALICO_VERSION}`,
  kind: 'IPPool',
  metadata: { name },
  spec: { cidr, natOutgoing: true },
});
const pools = { group: CALICO_GROUP, version: CALICO_VERSION, plural: 'ippools' };

before(async () => {
  env = await startControllerEnv({ nodes: [{ name: 'n1', ip: '172.22.0.3' }] });
  await env.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'egressclusterinfos',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EgressClusterInfo',
      metadata: { name: 'default' },
      spec: { autoDetect: { podCidrMode: 'auto', clusterIP: false, nodeIP: true } },
    },
  });
  env.startControllers();
});

after(() => env?.close());

test('Calico installed later, pools added, disabled, deleted, Calico removed: status follows each', async () => {
  await eventually('k8s mode while Calico is absent', async () =>
    (await status())?.podCidrMode === 'k8s' ? true : undefined,
  );
  const ext = env.kc.makeApiClient(ApiextensionsV1Api);
  for (const body of calicoCrds())
    await ext.createCustomResourceDefinition({ body: body as unknown as V1CustomResourceDefinition });
  await eventually('IPPool CRD Established', async () => {
    const crd = await ext.readCustomResourceDefinition({ name: `ippools.${CALICO_GROUP}` });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
      ? true
      : undefined;
  });
  await env.custom.createClusterCustomObject({
    ...pools,
    body: pool('default-ipv4-ippool', '10.244.0.0/16'),
  });
  await eventually('calico mode with the first pool', async () => {
    const s = await status();
    return s?.podCidrMode === 'calico' && s.podCIDR?.['default-ipv4-ippool']?.ipv4[0] === '10.244.0.0/16'
      ? true
      : undefined;
  });

  await env.custom.createClusterCustomObject({ ...pools, body: pool('extra', '10.250.0.0/16') });
  await eventually('a second pool appears', async () =>
    (await status())?.podCIDR?.['extra']?.ipv4[0] === '10.250.0.0/16' ? true : undefined,
  );
  assert.deepEqual((await status())?.podCIDR, {
    'default-ipv4-ippool': { ipv4: ['10.244.0.0/16'], ipv6: [] },
    extra: { ipv4: ['10.250.0.0/16'], ipv6: [] },
  });

  await env.custom.patchClusterCustomObject(
    { ...pools, name: 'extra', body: { spec: { disabled: true } } },
    mergePatch,
  );
  await eventually('a disabled pool is dropped', async () => {
    const s = await status();
    return s?.podCIDR && !('extra' in s.podCIDR) && 'default-ipv4-ippool' in s.podCIDR ? true : undefined;
  });

  await env.custom.deleteClusterCustomObject({ ...pools, name: 'default-ipv4-ippool' });
  await eventually('a deleted pool is dropped', async () => {
    const s = await status();
    return s?.podCidrMode === 'calico' && Object.keys(s.podCIDR ?? {}).length === 0 ? true : undefined;
  });

  await ext.deleteCustomResourceDefinition({ name: `ippools.${CALICO_GROUP}` });
  await eventually('back to k8s mode once Calico is gone', async () =>
    (await status())?.podCidrMode === 'k8s' ? true : undefined,
  );
});
