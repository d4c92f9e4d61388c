// Label selectors with metav1.LabelSelectorAsSelector semantics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isValidLabelKey,
  isValidLabelValue,
  isValidSelector,
  type LabelSelector,
  matchesSelector,
} from '../../../src/controller/planners/selector.ts';

const L = { app: 'web', tier: 'front', empty: '' };

const cases: [string, LabelSelector | undefined | null, Record<string, string> | undefined, boolean][] = [
  ['undefined selector matches nothing', undefined, L, false],
  ['null selector matches nothing', null, L, false],
  ['undefined selector, no labels', undefined, undefined, false],
  ['empty selector matches everything', {}, L, true],
  ['empty selector matches unlabelled', {}, undefined, true],
  [
    'empty matchLabels and matchExpressions match everything',
    { matchLabels: {}, matchExpressions: [] },
    {},
    true,
  ],
  ['matchLabels equal', { matchLabels: { app: 'web' } }, L, true],
  ['matchLabels all must hold', { matchLabels: { app: 'web', tier: 'back' } }, L, false],
  ['matchLabels missing key', { matchLabels: { x: 'y' } }, L, false],
  ['matchLabels empty value present', { matchLabels: { empty: '' } }, L, true],
  ['matchLabels empty value absent', { matchLabels: { other: '' } }, L, false],
  ['matchLabels on no labels', { matchLabels: { app: 'web' } }, undefined, false],
  ['In hit', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] }, L, true],
  ['In miss', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, L, false],
  ['In absent key', { matchExpressions: [{ key: 'zz', operator: 'In', values: ['db'] }] }, L, false],
  ['NotIn hit', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, L, false],
  ['NotIn miss', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, L, true],
  [
    'NotIn absent key matches',
    { matchExpressions: [{ key: 'zz', operator: 'NotIn', values: ['db'] }] },
    L,
    true,
  ],
  ['Exists present', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, L, true],
  ['Exists empty value', { matchExpressions: [{ key: 'empty', operator: 'Exists' }] }, L, true],
  ['Exists absent', { matchExpressions: [{ key: 'zz', operator: 'Exists' }] }, L, false],
  ['DoesNotExist absent', { matchExpressions: [{ key: 'zz', operator: 'DoesNotExist' }] }, L, true],
  ['DoesNotExist present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, L, false],
  [
    'matchLabels AND expressions (both hold)',
    { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] },
    L,
    true,
  ],
  [
    'matchLabels AND expressions (expression fails)',
    {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }],
    },
    L,
    false,
  ],
  [
    'several expressions all must hold',
    {
      matchExpressions: [
        { key: 'app', operator: 'Exists' },
        { key: 'zz', operator: 'DoesNotExist' },
        { key: 'tier', operator: 'In', values: ['front'] },
      ],
    },
    L,
    true,
  ],
  [
    'invalid: unknown operator',
    { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] },
    L,
    false,
  ],
  [
    'invalid: lower-case operator',
    { matchExpressions: [{ key: 'app', operator: 'in', values: ['web'] }] },
    L,
    false,
  ],
  [
    'invalid: In without values',
    { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] },
    L,
    false,
  ],
  [
    'invalid: NotIn without values (would match)',
    { matchExpressions: [{ key: 'zz', operator: 'NotIn' }] },
    L,
    false,
  ],
  [
    'invalid: Exists with values',
    { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['web'] }] },
    L,
    false,
  ],
  [
    'invalid: DoesNotExist with values (would match)',
    { matchExpressions: [{ key: 'zz', operator: 'DoesNotExist', values: ['a'] }] },
    L,
    false,
  ],
  ['invalid: bad key', { matchExpressions: [{ key: 'bad key', operator: 'DoesNotExist' }] }, L, false],
  ['invalid: bad matchLabels value', { matchLabels: { app: 'web!' } }, { app: 'web!' }, false],
  ['prefixed key', { matchLabels: { 'spidernet.io/x': 'a' } }, { 'spidernet.io/x': 'a' }, true],
  [
    'prototype keys are not labels',
    { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
    {},
    false,
  ],
];

for (const [name, selector, labels, want] of cases) {
  test(`matchesSelector: ${name}`, () => {
    assert.equal(matchesSelector(selector, labels), want);
  });
}

test('label key validation', () => {
  for (const k of ['a', 'app', 'a.b-c_d', 'example.com/app', 'k8s.io/x', `${'a'.repeat(63)}`]) {
    assert.ok(isValidLabelKey(k), k);
  }
  for (const k of ['', '-a', 'a-', 'a b', '/a', 'Example.com/a', 'a/', `${'a'.repeat(64)}`, 'a/b/c']) {
    assert.ok(!isValidLabelKey(k), k);
  }
});

test('label value validation', () => {
  for (const v of ['', 'a', 'A.b_c-D', 'a'.repeat(63)]) assert.ok(isValidLabelValue(v), v);
  for (const v of ['-a', 'a-', 'a b', 'a/b', 'a'.repeat(64)]) assert.ok(!isValidLabelValue(v), v);
});

test('isValidSelector accepts the empty selector and refuses bad expressions', () => {
  assert.ok(isValidSelector({}));
  assert.ok(isValidSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: ['b'] }] }));
  assert.ok(!isValidSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: ['b c'] }] }));
});

test('seeded: NotIn is the complement of In for present keys, and Exists/DoesNotExist are complements', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const vals = ['a', 'b', 'c', 'd'];
  for (let i = 0; i < 500; i++) {
    const labels: Record<string, string> = {};
    for (const k of ['x', 'y']) if (rnd(3) > 0) labels[k] = vals[rnd(4)]!;
    const values = vals.filter(() => rnd(2) === 0);
    if (values.length === 0) values.push('a');
    const inSel = { matchExpressions: [{ key: 'x', operator: 'In', values }] };
    const notInSel = { matchExpressions: [{ key: 'x', operator: 'NotIn', values }] };
    assert.equal(matchesSelector(inSel, labels), !matchesSelector(notInSel, labels));
    const ex = matchesSelector({ matchExpressions: [{ key: 'y', operator: 'Exists' }] }, labels);
    const dne = matchesSelector({ matchExpressions: [{ key: 'y', operator: 'DoesNotExist' }] }, labels);
    assert.equal(ex, !dne);
    assert.equal(ex, 'y' in labels);
  }
});
