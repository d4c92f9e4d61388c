// `controller clean`: what the chart's pre-delete Job runs so `helm uninstall` leaves no
// custom resource, finalizer or webhook configuration behind. Webhooks go first: with the
// controller about to disappear, failurePolicy Fail would otherwise block every delete.
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1LabelSelector,
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

/** `matchLabels` + `matchExpressions` as a label-selector string for a list call. */
export function selectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/**
 * Scales the controller to zero and waits until none of its pods exists any more, so it
 * cannot re-create what we delete. The Deployment's replica count is not enough: it drops
 * to zero as soon as a pod is marked for deletion, while that pod's process may still be
 * reconciling through its grace period.
 */
async function stopController(kc: KubeConfig, ref: string, log: Logger): Promise<void> {
  const [namespace, name] = ref.split('/') as [string, string];
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  let selector: string;
  try {
    await apps.patchNamespacedDeploymentScale(
      { name, namespace, body: { spec: { replicas: 0 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    selector = selectorString((await apps.readNamespacedDeployment({ name, namespace })).spec?.selector);
  } catch (err) {
    if (notFound(err)) return;
    throw err;
  }
  // An empty selector would match every pod of the namespace: never wait on that.
  if (!selector) throw new Error(`controller ${ref} has an empty pod selector`);
  const deadline = Date.now() + 120_000;
  let left: string[] = [];
  while (Date.now() < deadline) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
    left = pods.items.map((p) => p.metadata?.name ?? '');
    if (left.length === 0) {
      log.info({ deployment: ref }, 'controller stopped');
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `controller ${ref} still has pods after 120 s (${left.join(', ')}); is their node reachable?`,
  );
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
  // Policies before gateways: a gateway's finalizer waits for its policies. A second pass
  // catches anything created while the first ran (an older controller that had not quite
  // exited, a user's apply); uninstall fails loudly rather than leave objects behind.
  const plurals = [
    'egresspolicies',
    'egressclusterpolicies',
    'egressendpointslices',
    'egressclusterendpointslices',
    'egresstunnels',
    'egressgateways',
  ];
  for (let pass = 1; pass <= 3; pass++) {
    let found = 0;
    for (const plural of plurals) {
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
      found += list.items?.length ?? 0;
      if (list.items?.length) log.info({ plural, count: list.items.length, pass }, 'deleted');
    }
    if (found === 0) return;
  }
  throw new Error(
    'egress custom resources keep reappearing after 3 clean passes; is another controller running?',
  );
}
