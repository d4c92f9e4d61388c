// feature.mark changed on a running cluster: the agent's routing rules move to the new base,
// and the rules and tables of the old base are removed (they carry our signature: priority
// 99, table = mark), while someone else's fwmark rules stay. Real kernel, in a network
// namespace this test creates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kernel } from '../../../src/agent/kernel.ts';
import { run } from '../../../src/common/exec.ts';
import { createLogger } from '../../../src/common/log.ts';

const NS = `egwm-${process.pid}`;
const kernel = new Kernel({ log: createLogger('mark-base-test', 'error'), netns: NS });
const ip = async (...args: string[]) => (await run('ip', ['-n', NS, ...args])).stdout;
const route = (mark: number) => ({ family: 4 as const, mark, table: mark, via: '192.200.0.2' });

before(async () => {
  await run('ip', ['netns', 'add', NS]);
  await ip('link', 'add', 'egress.vxlan', 'type', 'vxlan', 'id', '100', 'dstport', '7789', 'nolearning');
  await ip('addr', 'add', '192.200.0.1/16', 'dev', 'egress.vxlan');
  await ip('link', 'set', 'egress.vxlan', 'up');
  // someone else's rule at our priority (its table is not its mark): never ours
  await ip('rule', 'add', 'fwmark', '0x10', 'lookup', '100', 'priority', '99');
});

after(async () => {
  await run('ip', ['netns', 'del', NS]).catch(() => undefined);
});

test('a new mark base replaces the old one; foreign rules stay', async () => {
  await kernel.applyRoutes('egress.vxlan', [route(0x26000002), route(0x26000003)], 0x26000000, [4]);
  let rules = await ip('rule', 'show');
  assert.match(rules, /fwmark 0x26000002 lookup 637534210/);
  assert.match(rules, /fwmark 0x26000003 lookup 637534211/);

  await kernel.applyRoutes('egress.vxlan', [route(0x27000002)], 0x27000000, [4]);
  rules = await ip('rule', 'show');
  assert.match(rules, /fwmark 0x27000002 lookup 654311426/);
  assert.doesNotMatch(rules, /0x26/, `old base removed:\n${rules}`);
  assert.match(rules, /fwmark 0x10 lookup 100/, 'a foreign rule stays');
  assert.equal((await ip('route', 'show', 'table', String(0x26000002))).trim(), '', 'old table flushed');
  assert.match(await ip('route', 'show', 'table', String(0x27000002)), /default via 192\.200\.0\.2/);

  await kernel.applyRoutes('egress.vxlan', [], 0x27000000, [4]);
  rules = await ip('rule', 'show');
  assert.doesNotMatch(rules, /0x27/);
  assert.match(rules, /fwmark 0x10 lookup 100/);
});
