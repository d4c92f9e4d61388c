// What the lab kubelet tells the apiserver about its node: pure builders, so the exact
// shape (labels, addresses, conditions, capacity) is unit-tested without an apiserver.
import { type V1Lease, V1MicroTime, type V1Node, type V1NodeCondition } from '@kubernetes/client-node';
import type { NodePlan } from '../net/topology.ts';

export const KUBELET_VERSION = 'v1.35.4';

export function nodeLabels(plan: NodePlan): Record<string, string> {
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': plan.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': 'amd64',
  };
  if (plan.index === 0) labels['node-role.kubernetes.io/control-plane'] = '';
  return labels;
}

export function podCidrs(plan: NodePlan): string[] {
  return [plan.podCidrV4, plan.podCidrV6].filter((c): c is string => c !== undefined);
}

/** The Node as first registered: spec is set once (podCIDRs are immutable afterwards). */
export function newNode(plan: NodePlan): V1Node {
  const cidrs = podCidrs(plan);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: plan.name, labels: nodeLabels(plan) },
    spec: { podCIDR: cidrs[0]!, podCIDRs: cidrs },
  };
}

export function readyCondition(now: Date, since: Date): V1NodeCondition[] {
  const base = { lastHeartbeatTime: now, lastTransitionTime: since };
  return [
    { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: '', ...base },
    { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: '', ...base },
    { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: '', ...base },
    {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      message: 'lab kubelet is posting ready status',
      ...base,
    },
  ];
}

export function nodeStatus(plan: NodePlan, now: Date, since: Date): NonNullable<V1Node['status']> {
  const addresses = [
    ...(plan.ipv4 ? [{ type: 'InternalIP', address: plan.ipv4 }] : []),
    ...(plan.ipv6 ? [{ type: 'InternalIP', address: plan.ipv6 }] : []),
    { type: 'Hostname', address: plan.name },
  ];
  const capacity = { cpu: '2', memory: '4Gi', pods: '110', 'ephemeral-storage': '20Gi' };
  return {
    addresses,
    capacity,
    allocatable: capacity,
    conditions: readyCondition(now, since),
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      architecture: 'amd64',
      bootID: '',
      containerRuntimeVersion: 'egressgateway-lab://1',
      kernelVersion: '',
      kubeProxyVersion: '',
      kubeletVersion: KUBELET_VERSION,
      machineID: '',
      operatingSystem: 'linux',
      osImage: 'egressgateway lab node',
      systemUUID: '',
    },
  };
}

export const LEASE_SECONDS = 40;

export function nodeLease(nodeName: string, nodeUid: string | undefined, now: Date): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: 'kube-node-lease',
      ...(nodeUid
        ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }] }
        : {}),
    },
    spec: {
      holderIdentity: nodeName,
      leaseDurationSeconds: LEASE_SECONDS,
      renewTime: new V1MicroTime(now.getTime()),
    },
  };
}
