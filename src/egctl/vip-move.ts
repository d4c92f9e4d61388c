// `egctl vip move`: which policies to re-place so that an EIP moves to another gateway node.
// Pure. The controller keeps a policy where its status says while that node is usable, so
// re-placing every policy that shares the EIP moves it; the controller then rewrites the
// gateway status and the candidate order, and the agents hand the EIP over (the old node
// lets go once the new one comes first). Unlike upstream, the target's position in the node
// list does not matter, and the gateway status is left to the controller.
import type { EgressGateway } from '../api/types.generated.ts';
import { canonicalIp } from '../common/ip.ts';

export type VipMove =
  | { kind: 'move'; from: string; policies: { name: string; namespace: string }[] }
  | { kind: 'noop'; message: string }
  | { kind: 'error'; message: string };

export function planVipMove(gateway: EgressGateway, vip: string, target: string): VipMove {
  const gw = gateway.metadata?.name ?? '';
  const want = canonicalIp(vip);
  if (!want) return { kind: 'error', message: `--vip "${vip}" is not an IP address` };
  const nodes = Array.isArray(gateway.status?.nodeList) ? gateway.status.nodeList : [];
  let from: string | undefined;
  let policies: { name: string; namespace: string }[] = [];
  for (const n of nodes) {
    for (const e of Array.isArray(n?.eips) ? n.eips : []) {
      const ips = [e?.ipv4, e?.ipv6].filter((x): x is string => !!x).map((x) => canonicalIp(x));
      if (!ips.includes(want)) continue;
      from = n.name ?? '';
      policies = (Array.isArray(e.policies) ? e.policies : [])
        .filter((p) => typeof p?.name === 'string' && p.name)
        .map((p) => ({ name: p.name!, namespace: p.namespace ?? '' }));
    }
  }
  if (from === undefined)
    return { kind: 'error', message: `VIP ${vip} not found in any node of EgressGateway ${gw}` };
  if (from === target)
    return { kind: 'noop', message: `Egress IP ${vip} is currently on node ${target}, with no change.` };
  const t = nodes.find((n) => n?.name === target);
  if (!t) return { kind: 'error', message: `target node '${target}' not found in EgressGateway ${gw}` };
  if (t.status !== 'Ready')
    return { kind: 'error', message: `target node '${target}' not ready, please select a ready node` };
  if (policies.length === 0)
    return { kind: 'error', message: `VIP ${vip} on node ${from} is used by no policy` };
  return { kind: 'move', from, policies };
}
