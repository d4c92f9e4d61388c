// Status writes with optimistic concurrency: the body carries the cached resourceVersion, so
// a write based on a stale view fails with 409 and the key is reconciled again from fresh
// state; nothing is written when the status is already what we want.
import { isDeepStrictEqual } from 'node:util';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema/json-schema.ts';

export interface StatusTarget {
  plural: string;
  name: string;
  namespace?: string;
}

type Obj = { metadata?: { name?: string; namespace?: string; resourceVersion?: string }; status?: unknown };

/** Drops undefined fields so comparisons match what the apiserver stores. */
export function normalize<T>(v: T): T {
  return JSON.parse(JSON.stringify(v ?? {})) as T;
}

export async function writeStatus(
  api: CustomObjectsApi,
  t: StatusTarget,
  current: Obj,
  status: unknown,
): Promise<boolean> {
  if (isDeepStrictEqual(normalize(current.status ?? {}), normalize(status))) return false;
  const body = { ...current, status };
  const c = { group: GROUP, version: VERSION, plural: t.plural, name: t.name };
  if (t.namespace) await api.replaceNamespacedCustomObjectStatus({ ...c, namespace: t.namespace, body });
  else await api.replaceClusterCustomObjectStatus({ ...c, body });
  return true;
}
