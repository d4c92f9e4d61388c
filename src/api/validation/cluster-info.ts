// Admission rules for EgressClusterInfo: the singleton `default` cannot be deleted (the
// controller and agents depend on it), and its spec is checked (upstream checked nothing).
import type { EgressClusterInfo } from '../types.generated.ts';
import { isRecord, validateCidrList } from './common.ts';
import type { Operation } from './context.ts';

export const POD_CIDR_MODES = ['auto', 'k8s', 'calico', ''];

export function validateClusterInfo(
  op: Operation,
  ci: EgressClusterInfo | undefined,
  name: string,
): string[] {
  if (op === 'DELETE') {
    return name === 'default'
      ? [
          "EgressClusterInfo 'default' is not allowed to be deleted; the controller keeps it up to date and agents read it. Uninstall the chart to remove it",
        ]
      : [];
  }
  if (!ci) return [];
  const problems: string[] = [];
  const spec = isRecord(ci.spec) ? ci.spec : {};
  const auto = isRecord(spec.autoDetect) ? spec.autoDetect : {};
  if (auto.podCidrMode !== undefined && !POD_CIDR_MODES.includes(String(auto.podCidrMode))) {
    problems.push(
      `spec.autoDetect.podCidrMode: ${JSON.stringify(auto.podCidrMode)} is not allowed; use auto, k8s, calico, or "" to turn pod CIDR detection off`,
    );
  }
  problems.push(...validateCidrList(spec.extraCidr, 'spec.extraCidr').problems);
  return problems;
}
