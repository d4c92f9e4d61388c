// An informer for one of our custom resource kinds (group egressgateway.spidernet.io).
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';
import type { Logger } from '../common/log.ts';
import { Informer, type InformerOptions } from './informer.ts';

export function crdInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  plural: string,
  kind: string,
  log: Logger,
  indexers?: InformerOptions['indexers'],
): Informer<T> {
  return new Informer<T>(kc, {
    apiVersion: `${GROUP}/${VERSION}`,
    kind,
    path: `/apis/${GROUP}/${VERSION}/${plural}`,
    log,
    ...(indexers ? { indexers } : {}),
  });
}
