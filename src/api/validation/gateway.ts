// Admission rules for EgressGateway: every upstream rule (§3.7.2) with its observable
// message kept inside ours, plus what upstream forgot. Each problem names the field, the
// bad value and what would be accepted; all problems are reported at once.
import { familyOf } from '../../common/ip.ts';
import { defaultEip, firstOverlap, inPool, parsePool } from '../pools.ts';
import type { EgressGateway } from '../types.generated.ts';
import { isRecord, selectorHasTerms, validateSelector } from './common.ts';
import type { AdmissionContext, Operation } from './context.ts';

function pools(gw: EgressGateway | undefined) {
  const p = isRecord(gw?.spec?.ippools) ? gw.spec.ippools : {};
  return {
    v4: parsePool(p.ipv4, 4, 'spec.ippools.ipv4'),
    v6: parsePool(p.ipv6, 6, 'spec.ippools.ipv6'),
    raw: p,
  };
}

function allocatedIps(gw: EgressGateway | undefined): string[] {
  const out: string[] = [];
  for (const n of gw?.status?.nodeList ?? []) {
    for (const e of n?.eips ?? []) {
      if (e?.ipv4) out.push(e.ipv4);
      if (e?.ipv6) out.push(e.ipv6);
    }
  }
  return out;
}

export async function validateGateway(
  op: Operation,
  gw: EgressGateway,
  old: EgressGateway | undefined,
  ctx: AdmissionContext,
): Promise<string[]> {
  if (op === 'DELETE' || op === 'CONNECT') return [];
  const problems: string[] = [];
  const name = gw.metadata?.name ?? '';
  const spec = isRecord(gw.spec) ? gw.spec : {};

  const selector = isRecord(spec.nodeSelector) ? spec.nodeSelector.selector : undefined;
  if (!selectorHasTerms(selector)) {
    problems.push(
      'spec.nodeSelector.selector: The field spec.nodeSelector.selector is not set; give matchLabels or matchExpressions that select the gateway nodes, e.g. matchLabels: {egressgateway: "true"}',
    );
  }
  problems.push(...validateSelector(selector, 'spec.nodeSelector.selector'));

  const { v4, v6, raw } = pools(gw);
  problems.push(...v4.problems, ...v6.problems);
  if (!ctx.enableIPv6 && Array.isArray(raw.ipv6) && raw.ipv6.length > 0) {
    problems.push(
      'spec.ippools.ipv6: Please do not configure spec.ippools.ipv6, as the current installation settings have not enabled IPv6 (install with feature.enableIPv6=true to use IPv6 pools)',
    );
  }
  if (!ctx.enableIPv4 && Array.isArray(raw.ipv4) && raw.ipv4.length > 0) {
    problems.push(
      'spec.ippools.ipv4: Please do not configure spec.ippools.ipv4, as the current installation settings have not enabled IPv4 (install with feature.enableIPv4=true to use IPv4 pools)',
    );
  }
  if (ctx.enableIPv4 && ctx.enableIPv6 && v4.ranges.length > 0 && v6.ranges.length > 0) {
    const n4 = v4.ranges.reduce((n, r) => n + (r.end - r.start + 1n), 0n);
    const n6 = v6.ranges.reduce((n, r) => n + (r.end - r.start + 1n), 0n);
    if (n4 !== n6) {
      problems.push(
        `spec.ippools: The number of ipv4 and ipv6 is not equal (${n4} IPv4, ${n6} IPv6); in dual stack each IPv4 EIP pairs with one IPv6 EIP, so give both pools the same size`,
      );
    }
  }

  for (const [family, key, parsed] of [
    [4, 'ipv4DefaultEIP', v4],
    [6, 'ipv6DefaultEIP', v6],
  ] as const) {
    const eip = raw[key];
    if (eip === undefined || eip === '') continue;
    const field = `spec.ippools.${key}`;
    if (typeof eip !== 'string' || familyOf(eip) !== family) {
      problems.push(`${field}: ${JSON.stringify(eip)} is not an IPv${family} address`);
    } else if (parsed.problems.length === 0 && !inPool(parsed.ranges, eip)) {
      problems.push(
        `${field}: ${eip} is not covered by ${family === 4 ? 'IPPools' : 'Ippools'}; pick an address of spec.ippools.ipv${family}${parsed.ranges.length ? ` (e.g. ${defaultEip(parsed.ranges)})` : ', which is empty'}`,
      );
    }
  }

  const others = (await ctx.listGateways()).filter((g) => g.metadata?.name !== name);
  if (spec.clusterDefault === true) {
    const other = others.find((g) => g.spec?.clusterDefault === true);
    if (other) {
      problems.push(
        `spec.clusterDefault: A cluster can only have one default gateway, default gateway: ${other.metadata?.name}. Set clusterDefault: false on it first`,
      );
    }
  }
  for (const o of others) {
    const theirs = pools(o);
    for (const [fam, mine, their] of [
      ['IPv4', v4.ranges, theirs.v4.ranges],
      ['IPv6', v6.ranges, theirs.v6.ranges],
    ] as const) {
      const dup = firstOverlap(mine, their);
      if (dup) {
        problems.push(
          `spec.ippools.${fam.toLowerCase()}: find duplicate ${fam} ${dup} in EgressGateway ${o.metadata?.name}; an address can belong to one gateway only`,
        );
      }
    }
  }

  if (op === 'UPDATE' && old) {
    const before = pools(old);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const was = before.raw[fam];
      const now = raw[fam];
      if ((!Array.isArray(was) || was.length === 0) && Array.isArray(now) && now.length > 0) {
        problems.push(
          `spec.ippools.${fam}: the 'spec.Ippools.${fam === 'ipv4' ? 'IPv4' : 'IPv6'}' field cannot to be modified when it is empty; create a new EgressGateway for ${fam === 'ipv4' ? 'IPv4' : 'IPv6'} egress`,
        );
      }
    }
    const all = [...v4.ranges, ...v6.ranges];
    if (v4.problems.length === 0 && v6.problems.length === 0) {
      for (const ip of allocatedIps(old)) {
        if (!inPool(all, ip)) {
          problems.push(
            `spec.ippools: ${ip} has been allocated and cannot be deleted; delete or move the policies that use it first`,
          );
        }
      }
    }
  }
  return problems;
}
