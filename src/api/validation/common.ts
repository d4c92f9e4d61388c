// Field checks shared by several kinds: label selectors and CIDR lists.
import { parseCidr } from '../../common/ip.ts';

const QUALIFIED_NAME =
  /^([A-Za-z0-9][-A-Za-z0-9_.]{0,251}[A-Za-z0-9]?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when the selector selects by something (matchLabels or matchExpressions). */
export function selectorHasTerms(sel: unknown): boolean {
  if (!isRecord(sel)) return false;
  const labels = sel['matchLabels'];
  const exprs = sel['matchExpressions'];
  return (isRecord(labels) && Object.keys(labels).length > 0) || (Array.isArray(exprs) && exprs.length > 0);
}

export function validateSelector(sel: unknown, field: string): string[] {
  if (sel === undefined || sel === null) return [];
  if (!isRecord(sel)) return [`${field}: must be a label selector object (matchLabels / matchExpressions)`];
  const problems: string[] = [];
  const labels = sel['matchLabels'];
  if (labels !== undefined && labels !== null) {
    if (!isRecord(labels)) problems.push(`${field}.matchLabels: must be a map of label keys to values`);
    else {
      for (const [k, v] of Object.entries(labels)) {
        if (!QUALIFIED_NAME.test(k) || k.length > 316)
          problems.push(
            `${field}.matchLabels: "${k}" is not a valid label key ([prefix/]name, name ≤ 63 chars)`,
          );
        if (typeof v !== 'string' || !LABEL_VALUE.test(v))
          problems.push(
            `${field}.matchLabels["${k}"]: ${JSON.stringify(v)} is not a valid label value (≤ 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends)`,
          );
      }
    }
  }
  const exprs = sel['matchExpressions'];
  if (exprs !== undefined && exprs !== null) {
    if (!Array.isArray(exprs)) problems.push(`${field}.matchExpressions: must be a list`);
    else {
      exprs.forEach((e, i) => {
        const at = `${field}.matchExpressions[${i}]`;
        if (!isRecord(e)) {
          problems.push(`${at}: must be an object with key, operator and values`);
          return;
        }
        const op = e['operator'];
        const values = e['values'];
        if (typeof e['key'] !== 'string' || !QUALIFIED_NAME.test(e['key']))
          problems.push(`${at}.key: ${JSON.stringify(e['key'])} is not a valid label key`);
        if (typeof op !== 'string' || !OPERATORS.includes(op)) {
          problems.push(`${at}.operator: ${JSON.stringify(op)} is not allowed; use ${OPERATORS.join(', ')}`);
          return;
        }
        const n = Array.isArray(values) ? values.length : 0;
        if ((op === 'In' || op === 'NotIn') && n === 0)
          problems.push(`${at}.values: operator ${op} needs at least one value`);
        if ((op === 'Exists' || op === 'DoesNotExist') && n > 0)
          problems.push(`${at}.values: operator ${op} takes no values; remove them`);
      });
    }
  }
  return problems;
}

/** CIDR lists where a plain IP means /32 or /128 (upstream silently ignored plain IPs). */
export function validateCidrList(list: unknown, field: string): { bad: string[]; problems: string[] } {
  const bad: string[] = [];
  const problems: string[] = [];
  if (list === undefined || list === null) return { bad, problems };
  if (!Array.isArray(list)) return { bad, problems: [`${field}: must be a list of CIDRs`] };
  list.forEach((c, i) => {
    if (typeof c !== 'string') {
      bad.push(String(c));
      problems.push(
        `${field}[${i}]: ${JSON.stringify(c)} is not a string; use a CIDR like 10.6.0.0/16 or an IP`,
      );
      return;
    }
    try {
      parseCidr(c.trim(), { allowPlainIp: true });
    } catch (err) {
      bad.push(c);
      problems.push(
        `${field}[${i}]: ${(err as Error).message}; use a CIDR like 10.6.0.0/16 or fd00::/64, or a single IP`,
      );
    }
  });
  return { bad, problems };
}
