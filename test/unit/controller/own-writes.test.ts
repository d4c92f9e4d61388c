import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnWrites } from '../../../src/controller/own-writes.ts';

type Slice = {
  metadata: { name: string; generation: number; managedFields?: { manager?: string }[] };
  endpoints: string[];
};
const slice = (name: string, generation: number, ...endpoints: string[]): Slice => ({
  metadata: { name, generation },
  endpoints,
});
const show = (xs: Slice[] | undefined) =>
  (xs ?? ['(wait)' as unknown as Slice])
    .map((x) => `${x.metadata.name}@${x.metadata.generation}:${x.endpoints.join(',')}`)
    .sort();

test('our creations, updates and deletions show before the cache has them', () => {
  const w = new OwnWrites<Slice>();
  assert.deepEqual(show(w.view('p', [slice('p-a', 1, 'x')])), ['p-a@1:x'], 'nothing written: the cache');
  w.wrote('p', slice('p-b', 1, 'y'));
  assert.deepEqual(show(w.view('p', [slice('p-a', 1, 'x')])), ['p-a@1:x', 'p-b@1:y'], 'created, not cached');
  w.wrote('p', slice('p-a', 2, 'x', 'z'));
  assert.deepEqual(
    show(w.view('p', [slice('p-a', 1, 'x'), slice('p-b', 1, 'y')])),
    ['p-a@2:x,z', 'p-b@1:y'],
    'our newer copy replaces the older cached one',
  );
  w.deleted('p', 'p-b');
  assert.deepEqual(show(w.view('p', [slice('p-a', 2, 'x', 'z'), slice('p-b', 1, 'y')])), ['p-a@2:x,z']);
});

test('the cache wins once it shows our write or anything newer', () => {
  const w = new OwnWrites<Slice>();
  w.wrote('p', slice('p-a', 2, 'ours'));
  assert.deepEqual(show(w.view('p', [slice('p-a', 3, 'theirs')])), ['p-a@3:theirs']);
  // The entry is gone: an older cache view is not overlaid any more.
  assert.deepEqual(show(w.view('p', [slice('p-a', 1, 'old')])), ['p-a@1:old']);
});

test('managedFields are not kept (a write based on our copy would send them back)', () => {
  const w = new OwnWrites<Slice>();
  w.wrote('p', {
    metadata: { name: 'p-a', generation: 1, managedFields: [{ manager: 'x' }] },
    endpoints: [],
  });
  assert.equal(w.view('p', [])?.[0]?.metadata.managedFields, undefined);
});

test('owners are independent; forget falls back to the cache', () => {
  const w = new OwnWrites<Slice>();
  w.wrote('a', slice('a-1', 2, 'new'));
  w.wrote('b', slice('b-1', 2, 'new'));
  assert.deepEqual(show(w.view('b', [slice('b-1', 1, 'old')])), ['b-1@2:new']);
  w.forget('a');
  assert.deepEqual(show(w.view('a', [])), []);
  assert.deepEqual(show(w.view('b', [slice('b-1', 1, 'old')])), ['b-1@2:new'], 'b keeps its copy');
});

test('after a conflict the owner waits until the cache shows the other write', () => {
  const w = new OwnWrites<Slice>();
  const at = (generation: number, rv: string, ...endpoints: string[]) => ({
    metadata: { name: 'p-a', generation, resourceVersion: rv },
    endpoints,
  });
  w.wrote('p', at(2, '10', 'ours'));
  w.superseded('p', 'p-a');
  assert.equal(w.view('p', [at(1, '5', 'old')]), undefined, 'cache older than our write');
  assert.equal(w.view('p', [at(2, '10', 'ours')]), undefined, 'cache shows our write, not theirs');
  // A metadata-only change keeps the generation: the resourceVersion tells it apart.
  assert.deepEqual(show(w.view('p', [at(2, '11', 'ours')])), ['p-a@2:ours']);
  w.superseded('p', 'p-a');
  assert.deepEqual(
    show(w.view('p', [at(2, '11', 'ours')])),
    ['p-a@2:ours'],
    'no copy of ours: nothing to wait for',
  );
  w.wrote('p', at(3, '12', 'x'));
  w.superseded('p', 'p-a');
  assert.deepEqual(show(w.view('p', [])), [], 'deleted by the other writer');
  w.deleted('p', 'p-b'); // a 404 on update: gone
  assert.deepEqual(show(w.view('p', [slice('p-b', 1, 'stale')])), []);
});

test('an entry the cache never confirms expires instead of shadowing it', () => {
  let now = 0;
  const w = new OwnWrites<Slice>({ ttlMs: 1000, now: () => now });
  w.wrote('p', slice('p-gone', 1, 'x')); // deleted by someone else before our cache saw it
  assert.deepEqual(show(w.view('p', [])), ['p-gone@1:x']);
  now = 1500;
  assert.deepEqual(show(w.view('p', [])), []);
});

test('an event that only shows our own write or deletion is recognised as its echo, once', () => {
  const w = new OwnWrites<Slice>();
  const at = (rv: string) => ({
    metadata: { name: 'p-a', generation: 2, resourceVersion: rv },
    endpoints: [],
  });
  assert.equal(w.echoed('p', 'update', at('10')), false, 'nothing written');
  w.wrote('p', at('10'));
  assert.equal(w.echoed('p', 'update', at('11')), false, 'someone wrote after us');
  assert.equal(w.echoed('q', 'update', at('10')), false, 'another owner');
  assert.equal(w.echoed('p', 'update', at('10')), true);
  // The cache holds it now: the entry is gone, and a later view reads the cache alone.
  assert.equal(w.echoed('p', 'update', at('10')), false);
  assert.deepEqual(show(w.view('p', [slice('p-a', 1, 'cached')])), ['p-a@1:cached']);
  w.deleted('p', 'p-a');
  assert.equal(w.echoed('p', 'update', at('11')), false);
  assert.equal(w.echoed('p', 'delete', at('11')), true);
});
