// `controller clean`: what the chart's pre-delete Job runs so `helm uninstall` leaves no
// custom resource, finalizer or webhook configuration behind. Webhooks go first: with the
// controller about to disappear, failurePolicy Fail would otherwise block every delete.
import {
  AdmissionregistrationV1Api,
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';
import type { Logger } from '../common/log.ts';

const notFound = (err: unknown) => err instanceof ApiException && err.code === 404;

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!notFound(err)) throw err;
  }
}

type Item = { metadata?: { name?: string; namespace?: string; finalizers?: string[] } };

export async function clean(
  kc: KubeConfig,
  names: { validate: string; mutating: string },
  log: Logger,
): Promise<void> {
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  await ignoreNotFound(adm.deleteValidatingWebhookConfiguration({ name: names.validate }));
  await ignoreNotFound(adm.deleteMutatingWebhookConfiguration({ name: names.mutating }));
  log.info(names, 'webhook configurations deleted');
  const custom = kc.makeApiClient(CustomObjectsApi);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  // Policies before gateways: a gateway's finalizer waits for its policies.
  for (const plural of [
    'egresspolicies',
    'egressclusterpolicies',
    'egressendpointslices',
    'egressclusterendpointslices',
    'egresstunnels',
    'egressgateways',
  ]) {
    const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as {
      items?: Item[];
    };
    for (const item of list.items ?? []) {
      const name = item.metadata?.name ?? '';
      const namespace = item.metadata?.namespace;
      const target = { group: GROUP, version: VERSION, plural, name };
      if (item.metadata?.finalizers?.length) {
        const body = { metadata: { finalizers: null } };
        await ignoreNotFound(
          namespace
            ? custom.patchNamespacedCustomObject({ ...target, namespace, body }, mergePatch)
            : custom.patchClusterCustomObject({ ...target, body }, mergePatch),
        );
      }
      await ignoreNotFound(
        namespace
          ? custom.deleteNamespacedCustomObject({ ...target, namespace })
          : custom.deleteClusterCustomObject(target),
      );
    }
    log.info({ plural, count: list.items?.length ?? 0 }, 'deleted');
  }
}
