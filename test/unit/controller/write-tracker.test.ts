import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteTracker } from '../../../src/controller/write-tracker.ts';

const cache = (objs: Record<string, number>) => (name: string) =>
  name in objs ? { metadata: { generation: objs[name]! } } : undefined;

test('a key waits until the cache shows its creations, updates and deletions', () => {
  const t = new WriteTracker();
  assert.equal(t.caughtUp('p', cache({})), true, 'nothing written: nothing to wait for');
  t.wrote('p', 'p-abc', 1);
  assert.equal(t.caughtUp('p', cache({})), false, 'created slice not in the cache yet');
  assert.equal(t.caughtUp('p', cache({ 'p-abc': 1 })), true);
  t.wrote('p', 'p-abc', 2);
  assert.equal(t.caughtUp('p', cache({ 'p-abc': 1 })), false, 'cache still holds the old generation');
  assert.equal(t.caughtUp('p', cache({ 'p-abc': 3 })), true, 'a newer generation also satisfies');
  t.deleted('p', 'p-abc');
  assert.equal(t.caughtUp('p', cache({ 'p-abc': 3 })), false, 'deleted but still cached');
  assert.equal(t.caughtUp('p', cache({})), true);
});

test('owners are independent and forget drops what an owner waited for', () => {
  const t = new WriteTracker();
  t.wrote('a', 'a-1', 1);
  t.wrote('b', 'b-1', 1);
  assert.equal(t.caughtUp('b', cache({ 'b-1': 1 })), true);
  assert.equal(t.caughtUp('a', cache({ 'b-1': 1 })), false);
  t.forget('a');
  assert.equal(t.caughtUp('a', cache({})), true);
});

test('an expectation that never comes true expires instead of blocking the key', () => {
  let now = 0;
  const t = new WriteTracker({ ttlMs: 1000, now: () => now });
  t.wrote('p', 'p-gone', 1); // deleted by someone else before our cache saw it
  assert.equal(t.caughtUp('p', cache({})), false);
  now = 1500;
  assert.equal(t.caughtUp('p', cache({})), true);
});
