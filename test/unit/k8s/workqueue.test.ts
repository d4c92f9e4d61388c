import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWorkers, WorkQueue } from '../../../src/k8s/workqueue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a key added many times while queued is processed once', async () => {
  const q = new WorkQueue();
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  const seen: string[] = [];
  const done = runWorkers(
    q,
    2,
    async (k) => void seen.push(k),
    () => undefined,
  );
  await sleep(20);
  q.shutdown();
  await done;
  assert.deepEqual(seen.sort(), ['a', 'b']);
});

test('a key is never processed by two workers at once; an add during processing runs it again after', async () => {
  const q = new WorkQueue();
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const done = runWorkers(
    q,
    4,
    async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      if (runs === 1) q.add('k'); // re-added while in flight
      await sleep(10);
      running--;
    },
    () => undefined,
  );
  q.add('k');
  await sleep(60);
  q.shutdown();
  await done;
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2);
});

test('failures back off exponentially; transient ones retry soon without growing the back-off', async () => {
  const q = new WorkQueue({ baseDelayMs: 40 });
  const times: number[] = [];
  let transientFailures = 0;
  const done = runWorkers(
    q,
    1,
    async (k) => {
      times.push(Date.now());
      if (k === 'conflict' && transientFailures < 3) {
        transientFailures++;
        throw Object.assign(new Error('409'), { conflict: true });
      }
      if (k === 'broken' && times.length < 10) throw new Error('boom');
    },
    () => undefined,
    (err) => (err as { conflict?: boolean }).conflict === true,
  );
  q.add('conflict');
  await sleep(400);
  assert.equal(transientFailures, 3);
  assert.equal(q.retries('conflict'), 0, 'transient failures do not count towards the back-off');
  q.add('broken');
  await sleep(400);
  q.shutdown();
  await done;
  assert.ok(q.retries('broken') >= 2, `retries ${q.retries('broken')}`);
  // 40, 80, 160 ms: far fewer attempts of "broken" than of a tight loop in 400 ms.
  assert.ok(times.length < 12, `${times.length} attempts`);
});
