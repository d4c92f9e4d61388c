// Defaulting for the mutating webhook, as JSON Patch operations: a gateway's default EIPs
// from its pools and its finalizer; a policy's gateway from the namespace label or the
// cluster-default gateway, and its egressIP defaults. Garbage in the object never throws:
// structural problems are left for validation to report.
import { defaultEip, parsePool } from '../pools.ts';
import type { EgressGateway } from '../types.generated.ts';
import { isRecord } from '../validation/common.ts';
import {
  type AdmissionContext,
  GATEWAY_FINALIZER,
  NAMESPACE_DEFAULT_LABEL,
  type Operation,
} from '../validation/context.ts';
import type { AnyPolicy } from '../validation/policy.ts';

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export function mutateGateway(
  op: Operation,
  gw: EgressGateway,
  ctx: Pick<AdmissionContext, 'enableIPv4' | 'enableIPv6'>,
): PatchOp[] {
  const patches: PatchOp[] = [];
  if (op !== 'CREATE' && op !== 'UPDATE') return patches;
  if (!isRecord(gw.spec)) return patches;
  const pools = gw.spec.ippools;
  if (isRecord(pools)) {
    for (const [fam, key, enabled] of [
      [4, 'ipv4', ctx.enableIPv4],
      [6, 'ipv6', ctx.enableIPv6],
    ] as const) {
      const dkey = `${key}DefaultEIP` as const;
      if (!enabled || pools[dkey]) continue;
      const parsed = parsePool(pools[key], fam, key);
      if (parsed.problems.length || parsed.ranges.length === 0) continue;
      patches.push({ op: 'add', path: `/spec/ippools/${dkey}`, value: defaultEip(parsed.ranges) });
    }
  }
  if (op === 'CREATE') {
    const finalizers = gw.metadata?.finalizers;
    // Keep the user's finalizers (upstream replaced them); add ours once.
    if (!Array.isArray(finalizers))
      patches.push({ op: 'add', path: '/metadata/finalizers', value: [GATEWAY_FINALIZER] });
    else if (!finalizers.includes(GATEWAY_FINALIZER))
      patches.push({ op: 'add', path: '/metadata/finalizers/-', value: GATEWAY_FINALIZER });
  }
  return patches;
}

export async function mutatePolicy(
  op: Operation,
  kind: 'EgressPolicy' | 'EgressClusterPolicy',
  p: AnyPolicy,
  ctx: AdmissionContext,
): Promise<PatchOp[]> {
  const patches: PatchOp[] = [];
  if ((op !== 'CREATE' && op !== 'UPDATE') || !isRecord(p.spec)) return patches;
  if (!p.spec.egressGatewayName && op === 'CREATE') {
    let gateway: string | undefined;
    if (kind === 'EgressPolicy' && p.metadata?.namespace) {
      const labels = await ctx.namespaceLabels(p.metadata.namespace);
      gateway = labels?.[NAMESPACE_DEFAULT_LABEL] || undefined;
    }
    if (!gateway) {
      const defaults = (await ctx.listGateways()).filter((g) => g.spec?.clusterDefault === true);
      // Validation allows one cluster default; if a race made two, pick deterministically.
      gateway = defaults.map((g) => g.metadata?.name ?? '').sort()[0];
    }
    if (gateway) patches.push({ op: 'add', path: '/spec/egressGatewayName', value: gateway });
  }
  const eip = p.spec.egressIP;
  if (eip === undefined || eip === null || (isRecord(eip) && Object.keys(eip).length === 0)) {
    patches.push({
      op: 'add',
      path: '/spec/egressIP',
      value: { useNodeIP: false, allocatorPolicy: 'default' },
    });
  } else if (isRecord(eip) && eip.allocatorPolicy === undefined) {
    patches.push({ op: 'add', path: '/spec/egressIP/allocatorPolicy', value: 'default' });
  }
  return patches;
}
