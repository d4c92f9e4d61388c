// The lab's --cni flannel mode: the real flanneld (VXLAN backend, Kubernetes subnet manager),
// one per node in the node's namespace, as flannel's DaemonSet runs it. flanneld reads the
// node's podCIDR, publishes its VTEP in the Node's annotations, and programs flannel.1
// (UDP 8472), the routes, neighbours and FDB entries to every other node, and flannel's own
// masquerade rules (--ip-masq). Pods sit on cni0 with the overlay's MTU (pod-network.ts).
import { ip } from './netns.ts';
import type { NodePlan, Topology } from './topology.ts';

export const FLANNEL_DEVICE = 'flannel.1';

/** flannel's net-conf.json, as its ConfigMap carries it. */
export function flannelNetConf(t: Topology): string {
  const v4 = t.clusterPodCidrs.find((c) => !c.includes(':'));
  const v6 = t.clusterPodCidrs.find((c) => c.includes(':'));
  const conf: Record<string, unknown> = { Backend: { Type: 'vxlan' } };
  if (v4) conf['Network'] = v4;
  else conf['EnableIPv4'] = false;
  if (v6) {
    conf['EnableIPv6'] = true;
    conf['IPv6Network'] = v6;
  }
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export function flanneldArgs(o: { kubeconfig: string; netConf: string; subnetFile: string }): string[] {
  return [
    '--kube-subnet-mgr',
    `--kubeconfig-file=${o.kubeconfig}`,
    `--net-config-path=${o.netConf}`,
    `--subnet-file=${o.subnetFile}`,
    '--iface=eth0',
    '--ip-masq',
    '--v=0',
  ];
}

/** Other nodes' pod CIDRs that this node does not yet route through flannel.1. */
export async function missingFlannelRoutes(t: Topology, n: NodePlan): Promise<string[]> {
  const routes = (family: 4 | 6) =>
    ip(n.netns, [`-${family}`, '-j', 'route', 'show', 'dev', FLANNEL_DEVICE], [0, 1, 255]).then((out) => {
      try {
        return (JSON.parse(out || '[]') as { dst: string }[]).map((r) => r.dst);
      } catch {
        return [];
      }
    });
  const have = [...(await routes(4)), ...(await routes(6))];
  const want = t.nodes
    .filter((o) => o.index !== n.index)
    .flatMap((o) => [o.podCidrV4, o.podCidrV6].filter((c): c is string => c !== undefined));
  return want.filter((c) => !have.includes(c));
}
