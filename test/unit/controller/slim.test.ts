import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { selectorTerm, slimNode, slimPod } from '../../../src/controller/controller.ts';

test('slimPod keeps what endpoint slices read and drops the rest', () => {
  const pod = {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: '42',
      labels: { app: 'web' },
      annotations: { big: 'x'.repeat(10_000) },
      managedFields: [{ manager: 'kubelet' }],
      deletionTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { nodeName: 'worker', hostNetwork: true, containers: [{ name: 'c', image: 'nginx', env: [] }] },
    status: {
      phase: 'Running',
      podIPs: [{ ip: '10.0.0.5' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  } as unknown as V1Pod;
  assert.deepEqual(slimPod(pod), {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: '42',
      labels: { app: 'web' },
      deletionTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { containers: [], nodeName: 'worker', hostNetwork: true },
    status: { phase: 'Running', podIPs: [{ ip: '10.0.0.5' }] },
  });
});

test('slimNode keeps labels, readiness, addresses and pod CIDRs only', () => {
  const node = {
    metadata: {
      name: 'gw-1',
      uid: 'n1',
      resourceVersion: '7',
      labels: { gw: 'yes' },
      annotations: { a: 'b' },
    },
    spec: { podCIDR: '10.1.0.0/24', podCIDRs: ['10.1.0.0/24', 'fd00::/64'], taints: [] },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      addresses: [{ type: 'InternalIP', address: '172.22.0.3' }],
      images: [{ names: ['nginx'], sizeBytes: 1 }],
      capacity: { cpu: '2' },
    },
  } as unknown as V1Node;
  assert.deepEqual(slimNode(node), {
    metadata: { name: 'gw-1', uid: 'n1', resourceVersion: '7', labels: { gw: 'yes' } },
    spec: { podCIDR: '10.1.0.0/24', podCIDRs: ['10.1.0.0/24', 'fd00::/64'] },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '172.22.0.3' }],
    },
  });
});

test('selectorTerm names one label every selected pod carries, or a wildcard', () => {
  const policy = (namespace: string | undefined, matchLabels?: Record<string, string>) =>
    ({
      metadata: { name: 'p', ...(namespace ? { namespace } : {}) },
      spec: { appliedTo: { podSelector: matchLabels ? { matchLabels } : { matchExpressions: [] } } },
    }) as never;
  assert.equal(selectorTerm(policy('shop', { tier: 'front', app: 'web' })), 'shop/app=web');
  assert.equal(selectorTerm(policy('shop')), 'shop/*');
  assert.equal(selectorTerm(policy(undefined, { app: 'web' })), '*/app=web');
});
