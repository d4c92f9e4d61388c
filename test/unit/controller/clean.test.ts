// The label selector the uninstall clean lists the controller's pods with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectorString } from '../../../src/controller/clean.ts';

test('clean: a Deployment selector becomes the list selector, every operator kept', () => {
  assert.equal(selectorString({ matchLabels: { app: 'x', tier: 'ctl' } }), 'app=x,tier=ctl');
  assert.equal(
    selectorString({
      matchLabels: { app: 'x' },
      matchExpressions: [
        { key: 'a', operator: 'In', values: ['1', '2'] },
        { key: 'b', operator: 'NotIn', values: ['3'] },
        { key: 'c', operator: 'Exists' },
        { key: 'd', operator: 'DoesNotExist' },
      ],
    }),
    'app=x,a in (1,2),b notin (3),c,!d',
  );
  // empty: the caller refuses it rather than wait on every pod of the namespace
  assert.equal(selectorString(undefined), '');
  assert.equal(selectorString({}), '');
});
