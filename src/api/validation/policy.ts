// Admission rules for EgressPolicy and EgressClusterPolicy (§3.7.3), plus the checks
// upstream forgot: podSubnet and allocatorPolicy syntax, selector syntax, matchExpressions
// with podSubnet, priority range, EIP family vs the installation's families.
import { familyOf } from '../../common/ip.ts';
import { inPool, parsePool } from '../pools.ts';
import type { EgressClusterPolicy, EgressPolicy } from '../types.generated.ts';
import { isRecord, selectorHasTerms, validateCidrList, validateSelector } from './common.ts';
import type { AdmissionContext, Operation } from './context.ts';

export type AnyPolicy = EgressPolicy | EgressClusterPolicy;
export const ALLOCATOR_POLICIES = ['default', 'rr'];
export const PRIORITY_MIN = 1;
export const PRIORITY_MAX = 65536;

export async function validatePolicy(
  op: Operation,
  kind: 'EgressPolicy' | 'EgressClusterPolicy',
  p: AnyPolicy,
  old: AnyPolicy | undefined,
  ctx: AdmissionContext,
): Promise<string[]> {
  if (op === 'DELETE' || op === 'CONNECT') return [];
  const problems: string[] = [];
  const name = p.metadata?.name ?? '';
  const spec = isRecord(p.spec) ? p.spec : ({} as NonNullable<AnyPolicy['spec']>);
  const eip = isRecord(spec.egressIP) ? spec.egressIP : {};
  const gwName = spec.egressGatewayName;

  if (!gwName) {
    problems.push(
      'spec.egressGatewayName: egressGatewayName cannot be empty; name an EgressGateway, or label the namespace spidernet.io/egressgateway-default=<gateway>, or mark one gateway clusterDefault: true',
    );
  }
  if (eip.useNodeIP === true && (eip.ipv4 || eip.ipv6)) {
    problems.push(
      'spec.egressIP.useNodeIP: useNodeIP cannot be used with egressIP.ipv4 or egressIP.ipv6 at the same time; remove the addresses or set useNodeIP: false',
    );
  }
  for (const [fam, key, enabled] of [
    [4, 'ipv4', ctx.enableIPv4],
    [6, 'ipv6', ctx.enableIPv6],
  ] as const) {
    const v = eip[key];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string' || familyOf(v) !== fam) {
      problems.push(
        `spec.egressIP.${key}: invalid ${key} format: ${JSON.stringify(v)} is not an IPv${fam} address`,
      );
    } else if (!enabled) {
      problems.push(`spec.egressIP.${key}: ${v} is IPv${fam}, but this installation has IPv${fam} disabled`);
    }
  }
  if (eip.allocatorPolicy !== undefined && !ALLOCATOR_POLICIES.includes(String(eip.allocatorPolicy))) {
    problems.push(
      `spec.egressIP.allocatorPolicy: ${JSON.stringify(eip.allocatorPolicy)} is not allowed; use "default" (the gateway's default EIP) or "rr" (a free pool address)`,
    );
  }

  const applied = isRecord(spec.appliedTo) ? spec.appliedTo : {};
  const hasSelector = selectorHasTerms(applied.podSelector);
  const subnets = Array.isArray(applied.podSubnet) ? applied.podSubnet : [];
  if (hasSelector && subnets.length > 0) {
    problems.push(
      'spec.appliedTo: podSelector and podSubnet cannot be used together; select pods by labels or by source CIDR, not both',
    );
  }
  if (!hasSelector && subnets.length === 0) {
    problems.push(
      `spec.appliedTo: invalid ${kind}, spec.appliedTo field requires at least one of spec.appliedTo.podSubnet, .spec.appliedTo.podSelector.matchLabels or .spec.appliedTo.podSelector.matchExpressions to be specified.`,
    );
  }
  problems.push(...validateSelector(applied.podSelector, 'spec.appliedTo.podSelector'));
  if (kind === 'EgressClusterPolicy') {
    const nsSel = (applied as { namespaceSelector?: unknown }).namespaceSelector;
    problems.push(...validateSelector(nsSel, 'spec.appliedTo.namespaceSelector'));
  }
  problems.push(...validateCidrList(applied.podSubnet, 'spec.appliedTo.podSubnet').problems);
  const dest = validateCidrList(spec.destSubnet, 'spec.destSubnet');
  if (dest.bad.length)
    problems.push(`spec.destSubnet: invalid destSubnet list: [${dest.bad.join(' ')}]`, ...dest.problems);

  const prio = spec.priority;
  if (
    prio !== undefined &&
    prio !== 0 &&
    (!Number.isInteger(prio) || prio < PRIORITY_MIN || prio > PRIORITY_MAX)
  ) {
    problems.push(
      `spec.priority: ${JSON.stringify(prio)} is out of range; use ${PRIORITY_MIN}-${PRIORITY_MAX} (lower wins), or leave it unset`,
    );
  }

  if (op === 'UPDATE' && old) {
    const o = isRecord(old.spec) ? old.spec : ({} as NonNullable<AnyPolicy['spec']>);
    const oe = isRecord(o.egressIP) ? o.egressIP : {};
    const same = (a: unknown, b: unknown, dflt: unknown) => (a ?? dflt) === (b ?? dflt);
    if (!same(o.egressGatewayName, spec.egressGatewayName, ''))
      problems.push(
        `spec.egressGatewayName: 'spec.EgressGatewayName' field is immutable (was "${o.egressGatewayName ?? ''}"); create a new policy to use another gateway`,
      );
    if (!same(oe.useNodeIP, eip.useNodeIP, false))
      problems.push('spec.egressIP.useNodeIP: the UseNodeIP field cannot be modified; create a new policy');
    if (!same(oe.ipv4, eip.ipv4, ''))
      problems.push(
        `spec.egressIP.ipv4: the EgressIP.IPv4 field cannot be modified (was "${oe.ipv4 ?? ''}")`,
      );
    if (!same(oe.ipv6, eip.ipv6, ''))
      problems.push(
        `spec.egressIP.ipv6: the EgressIP.IPv6 field cannot be modified (was "${oe.ipv6 ?? ''}")`,
      );
    if (!same(oe.allocatorPolicy, eip.allocatorPolicy, 'default'))
      problems.push(
        `spec.egressIP.allocatorPolicy: the EgressIP.AllocatorPolicy field cannot be modified (was "${oe.allocatorPolicy ?? 'default'}")`,
      );
  }

  if (op === 'CREATE' && gwName && (ctx.enableIPv4 || ctx.enableIPv6)) {
    const gw = await ctx.getGateway(gwName);
    const who = kind === 'EgressPolicy' ? `egp(${name})` : `policy(${name})`;
    if (!gw) {
      problems.push(
        `spec.egressGatewayName: EgressGateway "${gwName}" does not exist; create it first or name an existing one`,
      );
      return problems;
    }
    const gp = isRecord(gw.spec?.ippools) ? gw.spec.ippools : {};
    const v4 = parsePool(gp.ipv4, 4, 'ipv4');
    const v6 = parsePool(gp.ipv6, 6, 'ipv6');
    if (eip.useNodeIP !== true && v4.ranges.length === 0 && v6.ranges.length === 0) {
      problems.push(
        `spec.egressIP: when ${who} UseNodeIP is false, referenced egw(${gwName}) spec.Ippools cannot be empty; add a pool to the gateway or set useNodeIP: true`,
      );
    }
    const outside: string[] = [];
    if (typeof eip.ipv4 === 'string' && familyOf(eip.ipv4) === 4 && !inPool(v4.ranges, eip.ipv4))
      outside.push(eip.ipv4);
    if (typeof eip.ipv6 === 'string' && familyOf(eip.ipv6) === 6 && !inPool(v6.ranges, eip.ipv6))
      outside.push(eip.ipv6);
    if (outside.length) {
      problems.push(
        `spec.egressIP: the Spec.EgressIP.IPv4 or Spec.EgressIP.IPv6 is not within the ip ranges defined in the ippools of the egressgateway (${outside.join(', ')} not in egw ${gwName})`,
      );
    }
    const d4 = gp.ipv4DefaultEIP;
    const d6 = gp.ipv6DefaultEIP;
    if (ctx.enableIPv4 && ctx.enableIPv6 && d4 && d6) {
      const usesOne = eip.ipv4 === d4 || eip.ipv6 === d6;
      const usesBoth = eip.ipv4 === d4 && eip.ipv6 === d6;
      if (usesOne && !usesBoth) {
        problems.push(
          `spec.egressIP: ${gwName} egw Ipv4DefaultEIP=${d4} Ipv6DefaultEIP=${d6}, they can only be used together`,
        );
      }
    }
  }
  return problems;
}
