// Shared steps of the egress e2e tests: install the chart as the seed does, wait for a
// policy's placement, and check what the external server sees from each pod.
import assert from 'node:assert/strict';
import { run } from '../../src/common/exec.ts';
import { curlFromPod, eventually, type Lab, type PodView } from './lab.ts';

export const EXTERNAL = { 4: 'http://10.6.1.92:8080', 6: 'http://[fd00:10:6::92]:8080' } as const;

/** The seed's `helm install … --wait`, with extra `--set` values. */
export async function helmInstall(lab: Lab, sets: string[] = ['feature.tunnelIpv4Subnet=192.200.0.1/16']) {
  await lab.lab(
    [
      'helm',
      'install',
      'egressgateway',
      'charts/egressgateway',
      '-n',
      'kube-system',
      ...sets.flatMap((s) => ['--set', s]),
      '--wait',
      '--timeout',
      '180s',
    ],
    { timeoutMs: 240_000 },
  );
}

/** The gateway node a policy was placed on, once it is. */
export async function carrier(lab: Lab, policy: string): Promise<string> {
  return eventually(`policy ${policy} placed`, async () => {
    const node = (await lab.kubectl(['get', 'egp', policy, '-o', 'jsonpath={.status.node}'])).trim();
    return node || undefined;
  });
}

/** Waits until every pod's request to `url` is answered with `Remote IP: want(pod)`. */
export async function allSee(
  lab: Lab,
  pods: PodView[],
  want: (p: PodView) => string,
  what: string,
  url: string = EXTERNAL[4],
  namespace = 'default',
): Promise<void> {
  for (const p of pods) {
    const seen = await eventually(`${what}: ${p.name} on ${p.node}`, async () => {
      const body = await curlFromPod(lab, p.name, url, namespace);
      return body === `Remote IP: ${want(p)}` ? body : undefined;
    });
    assert.equal(seen, `Remote IP: ${want(p)}`, `${p.name} on ${p.node}`);
  }
}

/** A command in a lab node's network namespace (kernel state checks). */
export const inNode = (node: string, cmd: string[]) => run('ip', ['netns', 'exec', `egwlab-${node}`, ...cmd]);

/** The seed's gateway nodes: both workers labelled `egressgateway=true`. */
export async function labelGatewayNodes(lab: Lab): Promise<void> {
  await lab.kubectl(['label', 'node', 'egressgateway-worker', 'egressgateway-worker2', 'egressgateway=true']);
}
