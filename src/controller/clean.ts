// `controller clean`: what the chart's pre-delete Job runs so `helm uninstall` leaves no
// custom resource, finalizer or webhook configuration behind. Webhooks go first: with the
// controller about to disappear, failurePolicy Fail would otherwise block every delete.
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
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

/** Scales the controller to zero and waits, so it cannot re-create what we delete. */
async function stopController(kc: KubeConfig, ref: string, log: Logger): Promise<void> {
  const [namespace, name] = ref.split('/') as [string, string];
  const apps = kc.makeApiClient(AppsV1Api);
  try {
    await apps.patchNamespacedDeploymentScale(
      { name, namespace, body: { spec: { replicas: 0 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    if (notFound(err)) return;
    throw err;
  }
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const d = await apps.readNamespacedDeployment({ name, namespace });
    if (!d.status?.replicas) {
      log.info({ deployment: ref }, 'controller stopped');
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`controller ${ref} still has pods after 120 s; is its node reachable?`);
}

export async function clean(
  kc: KubeConfig,
  names: { validate: string; mutating: string; controller?: string },
  log: Logger,
): Promise<void> {
  if (names.controller) await stopController(kc, names.controller, log);
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
