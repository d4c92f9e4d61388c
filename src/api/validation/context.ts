// What admission rules may look up besides the object itself: kept behind a small read-only
// interface so the rules stay pure and unit-testable, and the webhook plugs in the apiserver.
import type { EgressGateway } from '../types.generated.ts';

export interface AdmissionContext {
  enableIPv4: boolean;
  enableIPv6: boolean;
  listGateways(): Promise<EgressGateway[]>;
  getGateway(name: string): Promise<EgressGateway | undefined>;
  /** undefined when the namespace does not exist */
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export const NAMESPACE_DEFAULT_LABEL = 'spidernet.io/egressgateway-default';
export const GATEWAY_FINALIZER = 'egressgateway.spidernet.io/egressgateway';
