// Fast failover's decision (who carries and who announces each EIP) from probe state, and
// the probe parser. Timing: fence after 300 ms of silence, dead after 600 ms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type FailoverState, type PeerView } from '../../../src/agent/failover/decide.ts';
import { eipKey, parseProbe } from '../../../src/api/contracts.ts';

const T = { fenceAfterMs: 300, deadAfterMs: 600 };
const E = eipKey('172.22.0.110');
const eips = [{ key: E, nodes: ['x', 'y'] }];
const NOW = 10_000;

function peer(ageMs: number, hears: string[] = [], holds: string[] = []): PeerView {
  return { lastSeen: NOW - ageMs, hears: new Set(hears), holds: new Set(holds) };
}

function state(
  self: string,
  peers: Record<string, PeerView>,
  over: Partial<FailoverState> = {},
): FailoverState {
  return {
    self,
    startedAt: 0,
    now: NOW,
    expected: new Set(['x', 'y', 'w'].filter((n) => n !== self)),
    peers: new Map(Object.entries(peers)),
    ...over,
  };
}

test('failover: the first candidate holds while it hears its peers', () => {
  const d = decide(state('x', { y: peer(50, ['x', 'w']), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...d.hold], [E]);
  assert.equal(d.carrier.get(E), 'x');
  assert.deepEqual(d.hears, ['w', 'y']);
  // the second candidate does not
  const y = decide(state('y', { x: peer(50, ['y', 'w'], [E]), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...y.hold], []);
  assert.equal(y.carrier.get(E), 'x');
});

test('failover: a freshly started agent holds nothing and follows the controller', () => {
  const d = decide(state('x', { y: peer(50) }, { startedAt: NOW - 100 }), eips, T);
  assert.deepEqual([...d.hold], []);
  assert.equal(d.carrier.get(E), 'x');
});

test('failover: the holder goes silent for everyone → the next candidate takes over', () => {
  // w stopped hearing x too (its report no longer lists x)
  const y = decide(state('y', { x: peer(700, [], [E]), w: peer(50, ['y']) }), eips, T);
  assert.deepEqual([...y.hold], [E]);
  assert.equal(y.carrier.get(E), 'y');
  // a node that is no candidate sends traffic to whoever claims the EIP, else the next alive
  const w = decide(state('w', { x: peer(700, [], [E]), y: peer(50, ['w'], [E]) }), eips, T);
  assert.equal(w.carrier.get(E), 'y');
  const w2 = decide(state('w', { x: peer(700, [], [E]), y: peer(50, ['w'], []) }), eips, T);
  assert.equal(w2.carrier.get(E), 'y');
  // not yet: 500 ms of silence is below deadAfterMs
  const early = decide(state('y', { x: peer(500, [], [E]), w: peer(50, ['y']) }), eips, T);
  assert.deepEqual([...early.hold], []);
});

test('failover: an asymmetric link does not make a second holder', () => {
  // y cannot hear x, but w still does: x is alive, y must not take the EIP
  const y = decide(state('y', { x: peer(5000), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...y.hold], []);
  assert.equal(y.carrier.get(E), 'x');
});

test('failover: a holder cut off from every peer withdraws before anyone may take over', () => {
  const cut = decide(state('x', { y: peer(350, ['x']), w: peer(350, ['x']) }), eips, T);
  assert.deepEqual([...cut.hold], [], 'fenced at 350 ms of silence');
  // while the others still wait (350 ms < deadAfterMs)
  const y = decide(state('y', { x: peer(350, [], [E]), w: peer(50, ['y']) }), eips, T);
  assert.deepEqual([...y.hold], []);
});

test('failover: hand-back waits until the stand-in lets go', () => {
  // x is back: it does not announce while y still claims the EIP
  const x = decide(state('x', { y: peer(50, ['x', 'w'], [E]), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...x.hold], []);
  assert.equal(x.carrier.get(E), 'y');
  // y hears x again: x comes first, so y lets go
  const y = decide(state('y', { x: peer(50, ['y', 'w']), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...y.hold], []);
  assert.equal(y.carrier.get(E), 'x');
  // once y's probes no longer claim it, x takes it
  const x2 = decide(state('x', { y: peer(50, ['x', 'w'], []), w: peer(50, ['x', 'y']) }), eips, T);
  assert.deepEqual([...x2.hold], [E]);
});

test('failover: a node with no peer at all is not fenced; an unknown sender counts for nothing', () => {
  const alone = decide(state('x', {}, { expected: new Set() }), eips, T);
  assert.deepEqual([...alone.hold], [E]);
  // probes from a node we do not expect are ignored (x cannot be kept alive by a stranger)
  const y = decide(state('y', { x: peer(5000), stranger: peer(50, ['x']), w: peer(50, ['y']) }), eips, T);
  assert.deepEqual([...y.hold], [E]);
});

test('probe parser: only well-formed, bounded probes', () => {
  const ok = Buffer.from(JSON.stringify({ v: 1, node: 'x', hears: ['y'], holds: [E] }));
  assert.deepEqual(parseProbe(ok), { v: 1, node: 'x', hears: ['y'], holds: [E] });
  for (const bad of [
    'not json',
    '{"v":2,"node":"x","hears":[],"holds":[]}',
    '{"v":1,"hears":[],"holds":[]}',
    '{"v":1,"node":"x","hears":"y","holds":[]}',
    '{"v":1,"node":"x","hears":[1],"holds":[]}',
    `{"v":1,"node":"x","hears":${JSON.stringify(Array(5000).fill('a'))},"holds":[]}`,
    'null',
  ])
    assert.equal(parseProbe(Buffer.from(bad)), undefined, bad);
  assert.equal(parseProbe(Buffer.alloc(70_000, 32)), undefined, 'oversized');
});

test('failover: a claim from a node that is not a candidate is ignored', () => {
  // w (no candidate) claims the EIP: x still holds it, and traffic still goes to x
  const x = decide(state('x', { y: peer(50, ['x', 'w']), w: peer(50, ['x', 'y'], [E]) }), eips, T);
  assert.deepEqual([...x.hold], [E]);
  assert.equal(x.carrier.get(E), 'x');
  const y = decide(state('y', { x: peer(50, ['y', 'w'], [E]), w: peer(50, ['x', 'y'], [E]) }), eips, T);
  assert.equal(y.carrier.get(E), 'x');
  // and with x dead, w's claim does not stop y from taking over
  const y2 = decide(state('y', { x: peer(5000), w: peer(50, ['y'], [E]) }), eips, T);
  assert.deepEqual([...y2.hold], [E]);
  assert.equal(y2.carrier.get(E), 'y');
});
