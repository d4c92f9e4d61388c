// Authenticated failover probes: the envelope (HMAC over stamp and body, any of the given
// keys), freshness (replays, stale boots, clock skew) and the key files (rotation, refusal of
// missing or short keys).
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Freshness } from '../../../src/agent/failover/freshness.ts';
import { ProbeKeyError, ProbeKeys } from '../../../src/agent/failover/probe-key.ts';
import { encodeProbe, openProbe, parseProbe, sealProbe } from '../../../src/api/contracts.ts';

const K1 = Buffer.from('k'.repeat(40));
const K2 = Buffer.from('q'.repeat(40));
const stamp = { boot: 7n, seq: 1n, timeMs: 1_700_000_000_000 };

test('probe envelope: opens under its key, carries stamp and body; anything altered is refused', () => {
  const body = encodeProbe('egressgateway-worker', ['egressgateway-worker2'], []);
  const sealed = sealProbe(body, stamp, K1);
  const opened = openProbe(sealed, [K1])!;
  assert.deepEqual({ boot: opened.boot, seq: opened.seq, timeMs: opened.timeMs }, stamp);
  assert.equal(parseProbe(opened.body)?.node, 'egressgateway-worker');
  assert.equal(openProbe(sealed, [K2]), undefined, 'another key');
  assert.ok(openProbe(sealed, [K2, K1]), 'any accepted key (rotation)');
  for (const at of [0, 5, 13, 21, 30, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at] = (bad[at] ?? 0) ^ 1;
    assert.equal(openProbe(bad, [K1]), undefined, `byte ${at} flipped`);
  }
  assert.equal(openProbe(body, [K1]), undefined, 'an unsigned (old-format) probe');
  assert.equal(openProbe(Buffer.alloc(10), [K1]), undefined, 'too short');
  assert.equal(openProbe(sealed, []), undefined, 'no key');
});

test('freshness: replays, older boots and clock skew are dropped', () => {
  const f = new Freshness(5000);
  const now = stamp.timeMs;
  assert.equal(f.check('x', stamp, now), 'ok');
  assert.equal(f.check('x', stamp, now), 'replayed');
  assert.equal(f.check('x', { ...stamp, seq: 0n }, now), 'replayed');
  assert.equal(f.check('x', { ...stamp, seq: 2n, timeMs: now + 100 }, now + 100), 'ok');
  // a restarted agent (new boot) is accepted when newer, not a recording of an older boot
  assert.equal(f.check('x', { boot: 9n, seq: 1n, timeMs: now + 200 }, now + 200), 'ok');
  assert.equal(f.check('x', { boot: 7n, seq: 99n, timeMs: now + 150 }, now + 250), 'stale');
  assert.equal(f.check('x', { boot: 9n, seq: 2n, timeMs: now + 6000 }, now + 300), 'clock-skew');
  assert.equal(f.check('x', { boot: 9n, seq: 3n, timeMs: now - 4600 }, now + 300), 'ok', 'within 5 s');
  // each node has its own sequence
  assert.equal(f.check('y', stamp, now), 'ok');
  f.forget('y');
  assert.equal(f.check('y', stamp, now), 'ok', 'forgotten when it left');
});

test('probe keys: key and previous, re-read on change; missing or short keys refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-probe-key-'));
  assert.throws(
    () => new ProbeKeys(dir),
    (e: unknown) => e instanceof ProbeKeyError && /PROBE_KEY_DIR: cannot read/.test(e.message),
  );
  writeFileSync(join(dir, 'key'), 'short\n');
  assert.throws(() => new ProbeKeys(dir), /has 5 bytes; use at least 32/);
  writeFileSync(join(dir, 'key'), `${K1.toString()}\n`);
  const keys = new ProbeKeys(dir);
  assert.deepEqual(keys.keys(), [K1]);
  // rotation as the kubelet does it (new files swapped in): new key signs, old still accepted
  writeFileSync(join(dir, 'key.new'), K2.toString());
  writeFileSync(join(dir, 'previous'), K1.toString());
  renameSync(join(dir, 'key.new'), join(dir, 'key'));
  assert.deepEqual(keys.keys(), [K2, K1]);
  // a broken update keeps the keys in use
  writeFileSync(join(dir, 'key.new'), 'x');
  renameSync(join(dir, 'key.new'), join(dir, 'key'));
  assert.deepEqual(keys.keys(), [K2, K1]);
});
