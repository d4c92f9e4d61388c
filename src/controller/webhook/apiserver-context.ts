// The admission rules' lookups, served from the apiserver. Reads are live (no cache) so a
// decision never rests on a stale view of other gateways: admission is rare and small.
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/schema/json-schema.ts';
import type { EgressGateway } from '../../api/types.generated.ts';
import type { AdmissionContext } from '../../api/validation/context.ts';

export function apiserverContext(
  kc: KubeConfig,
  families: { enableIPv4: boolean; enableIPv6: boolean },
): AdmissionContext {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    ...families,
    async listGateways() {
      const list = (await custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'egressgateways',
      })) as { items?: EgressGateway[] };
      return list.items ?? [];
    },
    async getGateway(name) {
      try {
        return (await custom.getClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: 'egressgateways',
          name,
        })) as EgressGateway;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    async namespaceLabels(namespace) {
      try {
        return (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
  };
}
