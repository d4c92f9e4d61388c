// Egress scenarios that every packet backend must pass the same way: the e2e files for the
// nftables and the iptables backends run them on their own lab, and say only how to read
// their backend's kernel state (a node's rules as text).
import assert from 'node:assert/strict';
import { allSee, carrier, inNode, NODE_IPS } from './egress.ts';
import { eventually, type Lab, runningPods, visitorYaml } from './lab.ts';

/** A node's packet-filter rules as text: `nft list table …` or `iptables-save` + `ipset save`. */
export type RulesOf = (node: string) => Promise<string>;

/** The agent pods on a node, with their readiness. */
export async function agentPodsOn(lab: Lab, node: string): Promise<Record<string, boolean>> {
  const out = await lab.kubectl([
    'get',
    'pods',
    '-n',
    'kube-system',
    '-l',
    'app.kubernetes.io/component=agent',
    '--field-selector',
    `spec.nodeName=${node}`,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
  ]);
  return Object.fromEntries(
    out
      .trim()
      .split(' ')
      .filter(Boolean)
      .map((x) => {
        const [name, ready] = x.split('=');
        return [name!, ready === 'True'];
      }),
  );
}

const destPolicy = (
  name: string,
  app: string,
  dest: string,
) => `apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressPolicy
metadata: {name: ${name}, namespace: default}
spec:
  egressGatewayName: default
  appliedTo: {podSelector: {matchLabels: {app: ${app}}}}
  destSubnet: ["${dest}"]
`;

/** destSubnet: a policy for the external host's subnet gives the EIP; one for another subnet leaves the node address. */
export async function destSubnetCase(lab: Lab, eip: string, rulesOf: RulesOf): Promise<void> {
  await lab.apply(visitorYaml('listed', 3));
  await lab.apply(visitorYaml('unlisted', 3));
  await lab.apply(destPolicy('listed', 'listed', '10.6.1.0/24'));
  await lab.apply(destPolicy('unlisted', 'unlisted', '10.99.0.0/16'));
  const listed = await runningPods(lab, 'app=listed', 3);
  const unlisted = await runningPods(lab, 'app=unlisted', 3);
  await carrier(lab, 'listed');
  await carrier(lab, 'unlisted');
  await allSee(lab, listed, () => eip, 'destination listed');
  // Settle first (the policy's rules are in place), then the server must see node IPs.
  await eventually('unlisted policy programmed on every node', async () => {
    for (const node of Object.keys(NODE_IPS))
      if (!(await rulesOf(node)).includes('10.99.0.0/16')) return undefined;
    return true;
  });
  await allSee(lab, unlisted, (p) => NODE_IPS[p.node]!, 'destination not listed');
  await lab.kubectl(['delete', 'egp', 'listed', 'unlisted']);
}

/**
 * useNodeIP leaves with the carrier's own address (through the tunnel from the others); an
 * EgressClusterPolicy selecting by namespace gets an rr EIP of its own; once both are
 * deleted no node's rules mention them.
 */
export async function nodeIpAndClusterPolicyCase(lab: Lab, eip: string, rulesOf: RulesOf): Promise<void> {
  await lab.kubectl(['create', 'namespace', 'team-a']);
  await lab.kubectl(['label', 'namespace', 'team-a', 'team=a']);
  await lab.apply(visitorYaml('nodeip', 3));
  await lab.apply(`apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressPolicy
metadata: {name: nodeip, namespace: default}
spec:
  egressGatewayName: default
  egressIP: {useNodeIP: true}
  appliedTo: {podSelector: {matchLabels: {app: nodeip}}}
`);
  await lab.apply(visitorYaml('team', 3).replace(/namespace: default/g, 'namespace: team-a'));
  await lab.apply(`apiVersion: egressgateway.spidernet.io/v1beta1
kind: EgressClusterPolicy
metadata: {name: team-a}
spec:
  egressGatewayName: default
  egressIP: {allocatorPolicy: rr}
  appliedTo:
    namespaceSelector: {matchLabels: {team: a}}
    podSelector: {matchLabels: {app: team}}
`);
  const nodeip = await runningPods(lab, 'app=nodeip', 3);
  const via = await carrier(lab, 'nodeip');
  await allSee(lab, nodeip, () => NODE_IPS[via]!, `useNodeIP through ${via}`);
  const team = await runningPods(lab, 'app=team', 3, 'team-a');
  const own = await eventually('cluster policy placed with its own EIP', async () => {
    const [node, ip] = (
      await lab.kubectl(['get', 'egcp', 'team-a', '-o', 'jsonpath={.status.node} {.status.eip.ipv4}'])
    )
      .trim()
      .split(' ');
    return node && ip ? ip : undefined;
  });
  assert.notEqual(own, eip, 'rr gives the cluster policy an address of its own');
  await allSee(lab, team, () => own, 'EgressClusterPolicy by namespace', undefined, 'team-a');
  await lab.kubectl(['delete', 'egcp', 'team-a']);
  await lab.kubectl(['delete', 'egp', 'nodeip']);
  await eventually('both policies gone from every node', async () => {
    for (const node of Object.keys(NODE_IPS))
      if (/default\/nodeip|EgressClusterPolicy team-a/.test(await rulesOf(node))) return undefined;
    return true;
  });
}

/** The nftables backend's rules on a node. */
export const nftRules: RulesOf = async (node) =>
  (await inNode(node, ['nft', 'list', 'table', 'inet', 'egressgateway'])).stdout;
