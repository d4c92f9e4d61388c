// Calico's API as the seed drives it, served by the lab's apiserver in --cni calico mode:
// the FelixConfiguration and IPPool kinds of crd.projectcalico.org/v1 (cluster-scoped, the
// group, version, kinds, plurals and the fields we read as Calico defines them; the rest of
// their specs is kept as written), and the objects a Calico install starts with: the
// FelixConfiguration "default" and the default IP pools, with natOutgoing.
import { CALICO_GROUP } from '../../../src/controller/calico-pools.ts';
import type { Topology } from '../net/topology.ts';

export { CALICO_GROUP };
export const CALICO_VERSION = 'v1';
export const CALICO_API = `${CALICO_GROUP}/${CALICO_VERSION}`;

function crd(kind: string, plural: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${CALICO_GROUP}` },
    spec: {
      group: CALICO_GROUP,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope: 'Cluster',
      versions: [
        {
          name: CALICO_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: spec },
              },
            },
          },
        },
      ],
    },
  };
}

export function calicoCrds(): Record<string, unknown>[] {
  return [
    crd('FelixConfiguration', 'felixconfigurations', {
      // Felix's values: Insert (its default) puts its jumps first, Append last.
      chainInsertMode: { type: 'string', enum: ['Insert', 'Append'] },
    }),
    crd('IPPool', 'ippools', {
      cidr: { type: 'string' },
      natOutgoing: { type: 'boolean' },
      disabled: { type: 'boolean' },
    }),
  ];
}

export type ChainInsertModeValue = 'Insert' | 'Append';

/** The objects a fresh Calico install has: FelixConfiguration default and one pool per family. */
export function calicoDefaults(t: Topology): Record<string, unknown>[] {
  const mode: ChainInsertModeValue = t.options.chainInsertMode === 'append' ? 'Append' : 'Insert';
  const pools = t.clusterPodCidrs.map((cidr) => ({
    apiVersion: CALICO_API,
    kind: 'IPPool',
    metadata: { name: cidr.includes(':') ? 'default-ipv6-ippool' : 'default-ipv4-ippool' },
    spec: { cidr, natOutgoing: true },
  }));
  return [
    {
      apiVersion: CALICO_API,
      kind: 'FelixConfiguration',
      metadata: { name: 'default' },
      spec: { chainInsertMode: mode },
    },
    ...pools,
  ];
}
