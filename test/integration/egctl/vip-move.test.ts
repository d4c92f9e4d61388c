// `egctl vip move` as an operator runs it (a process with a kubeconfig) against a real
// apiserver with the controller's reconcilers running: the EIP moves to the target node and
// stays there; wrong input is refused with upstream's messages and exit 1.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../../src/common/exec.ts';
import {
  type ControllerEnv,
  createEgressObject,
  type FakeNode,
  startControllerEnv,
} from '../../support/controller-env.ts';
import { eventually } from '../../support/lab.ts';

const EGCTL = fileURLToPath(new URL('../../../src/egctl/main.ts', import.meta.url));
const nodes: FakeNode[] = [1, 2, 3].map((i) => ({
  name: `w${i}`,
  ip: `172.22.0.${10 + i}`,
  labels: (i < 3 ? { egw: 'yes' } : {}) as Record<string, string>,
}));
let env: ControllerEnv;
type Pol = { status?: { node?: string; eip?: { ipv4?: string } } };
type Gw = {
  status?: {
    nodeList?: { name: string; eips?: { ipv4?: string }[] }[];
    eipCandidates?: { nodes: string[] }[];
  };
};

const egctl = (args: string[]) =>
  run(process.execPath, [EGCTL, '--kubeconfig', env.kubeconfigPath, 'vip', 'move', ...args], {
    okCodes: [0, 1],
  });

before(async () => {
  env = await startControllerEnv({ nodes });
  env.startControllers();
  // the controller creates the tunnels; then the "agents" report their underlay
  for (const n of nodes)
    await eventually(`tunnel ${n.name} reported`, async () => {
      await env.agentReports(n);
      return true;
    });
  await createEgressObject(
    env.custom,
    'egressgateways',
    'EgressGateway',
    { name: 'gw' },
    {
      ippools: { ipv4: ['10.80.0.1-10.80.0.9'], ipv4DefaultEIP: '10.80.0.9' },
      nodeSelector: { selector: { matchLabels: { egw: 'yes' } } },
    },
  );
  for (const name of ['a', 'b'])
    await createEgressObject(
      env.custom,
      'egresspolicies',
      'EgressPolicy',
      { name, namespace: 'default' },
      {
        egressGatewayName: 'gw',
        appliedTo: { podSelector: { matchLabels: { app: name } } },
      },
    );
});

after(() => env?.close());

const placed = async (name: string) =>
  (await env.getObj<Pol>('egresspolicies', name, 'default')).status?.node ?? '';

test('egctl vip move: the shared EIP and all its policies move to the target and stay', async () => {
  const from = await eventually('both policies placed together', async () => {
    const [a, b] = [await placed('a'), await placed('b')];
    return a && a === b ? a : undefined;
  });
  const to = from === 'w1' ? 'w2' : 'w1';
  const r = await egctl(['--egressGatewayName', 'gw', '--vip', '10.80.0.9', '--targetNode', to]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `Moving VIP 10.80.0.9 to node ${to}...\nSuccessfully moved VIP 10.80.0.9 to node ${to}\n`,
  );
  const gw = await env.getObj<Gw>('egressgateways', 'gw');
  assert.deepEqual(
    gw.status?.nodeList?.find((n) => n.name === to)?.eips?.map((e) => e.ipv4),
    ['10.80.0.9'],
  );
  assert.deepEqual(gw.status?.eipCandidates?.[0]?.nodes[0], to, 'agents now fail over from the target');
  // the controller keeps it there
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual([await placed('a'), await placed('b')], [to, to]);
  // moving it where it is changes nothing
  const again = await egctl(['--egressGatewayName', 'gw', '--vip', '10.80.0.9', '--targetNode', to]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, new RegExp(`Egress IP 10.80.0.9 is currently on node ${to}, with no change.`));
});

test('egctl vip move: wrong input is refused and nothing moves', async () => {
  const before = await placed('a');
  const cases: [string[], RegExp][] = [
    [
      ['--egressGatewayName', 'gw', '--vip', '10.80.0.5', '--targetNode', 'w1'],
      /Move failed: VIP 10.80.0.5 not found in any node of EgressGateway gw/,
    ],
    [
      ['--egressGatewayName', 'gw', '--vip', '10.80.0.9', '--targetNode', 'w3'],
      /Move failed: target node 'w3' not found in EgressGateway gw/,
    ],
    [
      ['--egressGatewayName', 'gw', '--vip', 'ten', '--targetNode', 'w1'],
      /Move failed: --vip "ten" is not an IP address/,
    ],
    [
      ['--egressGatewayName', 'nope', '--vip', '10.80.0.9', '--targetNode', 'w1'],
      /Move failed: .*404|Move failed: .*not found/i,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await egctl(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
  }
  assert.equal(await placed('a'), before);
});
