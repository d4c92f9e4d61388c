// feature.mark on a real apiserver: the controller allocates every tunnel's mark from the
// configured base (upstream's chart never sets it; a wrong base used to give 0x26… marks
// that the agents, routing by their configured base, purged and re-added every pass).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ControllerEnv, type FakeNode, startControllerEnv } from '../../support/controller-env.ts';
import { eventually } from '../../support/lab.ts';

const NODES: FakeNode[] = [
  { name: 'm1', ip: '172.22.0.21' },
  { name: 'm2', ip: '172.22.0.22' },
];
let env: ControllerEnv;

before(async () => {
  env = await startControllerEnv({
    nodes: NODES,
    confYaml: 'enableIPv4: true\ntunnelIpv4Subnet: 192.200.0.1/16\nmark: "0x27000000"\n',
  });
  env.startControllers();
});

after(() => env?.close());

test('mark=0x27000000: every EgressTunnel gets a distinct 0x27… mark', async () => {
  const marks = await eventually('tunnel marks allocated', async () => {
    const ts = await Promise.all(
      NODES.map((n) =>
        env.getObj<{ status?: { mark?: string } }>('egresstunnels', n.name).catch(() => undefined),
      ),
    );
    const ms = ts.map((t) => t?.status?.mark);
    return ms.every((m) => m) ? (ms as string[]) : undefined;
  });
  for (const m of marks) assert.match(m, /^0x27[0-9a-f]{6}$/);
  assert.equal(new Set(marks).size, marks.length);
  assert.ok(!marks.includes('0x27000000'), 'the base itself is never a node mark');
});
