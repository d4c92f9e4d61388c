// LOG_ENCODER=console: zap-style tab-separated lines instead of JSON.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consoleLine } from '../../../src/common/log.ts';

test('console lines: time, level, component, message, then the other fields as JSON', () => {
  const line = consoleLine(
    '{"level":40,"time":"2026-12-07T18:00:00.000Z","pid":1,"hostname":"h","component":"agent","node":"n1","msg":"EIP announced here"}\n',
  );
  assert.equal(line, '2026-12-07T18:00:00.000Z\tWARN\tagent\tEIP announced here\t{"node":"n1"}\n');
  assert.equal(
    consoleLine('{"level":30,"time":"t","component":"c","msg":"m"}'),
    't\tINFO\tc\tm\n',
    'no fields: no trailing JSON',
  );
  assert.equal(consoleLine('not json'), 'not json\n');
});
