// Egress objects as the agent's planner sees them, for the planner and kernel tests.
import type { PlannerConfig } from '../../src/agent/planner.ts';
import type { EgressPolicy, EgressTunnel } from '../../src/api/types.generated.ts';

/** Node `a` of a dual-stack cluster with the default tunnel settings. */
export const PLANNER_CONFIG: PlannerConfig = {
  node: 'a',
  families: { ipv4: true, ipv6: true },
  vxlan: { name: 'egress.vxlan', id: 100, port: 7789 },
  markBase: 0x26000000,
  tunnelSubnets: { ipv4: '192.200.0.0/16', ipv6: 'fd11::/112' },
};

/** Node `n`'s tunnel: mark 0x2600000n, tunnel .n / ::n, underlay `<underlay>.n`. */
export function tunnelFixture(
  node: string,
  n: number,
  underlay = '172.22.0',
  extra: Partial<NonNullable<EgressTunnel['status']>> = {},
): EgressTunnel {
  return {
    metadata: { name: node },
    status: {
      mark: `0x2600000${n}`,
      tunnel: {
        ipv4: `192.200.0.${n}`,
        ipv6: `fd11::${n}`,
        mac: `66:00:00:00:00:0${n}`,
        parent: { name: 'eth0', ipv4: `${underlay}.${n}` },
      },
      ...extra,
    },
  };
}

/** A placed EgressPolicy in `default` selecting `app: <name>`, with an EIP per family. */
export function policyFixture(
  name: string,
  node: string,
  spec: Partial<EgressPolicy['spec']> = {},
  eip4 = '172.22.0.110',
): EgressPolicy {
  return {
    metadata: { name, namespace: 'default' },
    spec: { appliedTo: { podSelector: { matchLabels: { app: name } } }, ...spec },
    status: { node, eip: { ipv4: eip4, ipv6: 'fd00::110' } },
  };
}
