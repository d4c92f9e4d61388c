// Shared steps of the egress e2e tests: install the chart as the seed does, wait for a
// policy's placement, and check what the external server sees from each pod.
import assert from 'node:assert/strict';
import { podNetns } from '../../lab/src/net/topology.ts';
import { run } from '../../src/common/exec.ts';
import { curlFromPod, eventually, type Lab, type PodView } from './lab.ts';

export const EXTERNAL = { 4: 'http://10.6.1.92:8080', 6: 'http://[fd00:10:6::92]:8080' } as const;

/** The underlay addresses of a 3-node IPv4 lab: what the external server sees from a node. */
export const NODE_IPS: Record<string, string> = {
  'egressgateway-control-plane': '172.22.0.2',
  'egressgateway-worker': '172.22.0.3',
  'egressgateway-worker2': '172.22.0.4',
};

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

export interface ProbeStream {
  /** stops probing; the answers seen, in order */
  stop(): Promise<{ t: number; ok: boolean; why?: string }[]>;
}

/**
 * Requests `url` from inside a pod's network namespace back to back (each with a short
 * timeout) and records when the answer was `want`: the gaps in this stream are what a
 * failover costs the pod.
 */
export function probeStream(lab: Lab, pod: PodView, url: string, want: string): ProbeStream {
  let running = true;
  const seen: { t: number; ok: boolean; why?: string }[] = [];
  const loop = (async () => {
    const uid = (await lab.kubectl(['get', 'pod', pod.name, '-o', 'jsonpath={.metadata.uid}'])).trim();
    const ns = podNetns(uid);
    while (running) {
      const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '-m', '0.3', url], {
        okCodes: [0, 7, 28, 52, 56],
      });
      const ok = r.code === 0 && r.stdout.trim() === want;
      seen.push({
        t: Date.now(),
        ok,
        ...(ok ? {} : { why: r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}` }),
      });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

/**
 * The longest run without a good answer after `from` (ms): from the last good answer to the
 * next one, or to the end of the stream when none came back (a gap that never closed).
 */
export function longestGap(seen: { t: number; ok: boolean }[], from: number): number {
  let lastOk = [...seen].reverse().find((s) => s.ok && s.t <= from)?.t ?? from;
  let gap = 0;
  for (const s of seen) {
    if (s.t <= from || !s.ok) continue;
    gap = Math.max(gap, s.t - lastOk);
    lastOk = s.t;
  }
  const end = seen.at(-1);
  if (end && !end.ok) gap = Math.max(gap, end.t - lastOk);
  return gap;
}

/** A failed request must be lost, never answered with another source address (a leak). */
export function assertNoLeak(seen: { why?: string }[]): void {
  const leaks = seen.filter((x) => x.why?.startsWith('Remote IP')).map((x) => x.why);
  assert.deepEqual(leaks, [], `requests left with another source: ${[...new Set(leaks)].join(', ')}`);
}
