// vxlan.disableChecksumOffload on the real kernel, in a network namespace this test creates:
// TX checksum offload of a VXLAN device goes off (as `ethtool -k` shows), and a second pass
// changes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { disableTxChecksumOffload, txChecksumOn } from '../../../src/agent/offload.ts';
import { run } from '../../../src/common/exec.ts';

const NS = `egwo-${process.pid}`;
const ethtoolK = async () => (await run('ip', ['netns', 'exec', NS, 'ethtool', '-k', 'egress.vxlan'])).stdout;

before(async () => {
  await run('ip', ['netns', 'add', NS]);
  await run('ip', [
    '-n',
    NS,
    'link',
    'add',
    'egress.vxlan',
    'type',
    'vxlan',
    'id',
    '100',
    'dstport',
    '7789',
    'nolearning',
  ]);
  await run('ip', ['-n', NS, 'link', 'set', 'egress.vxlan', 'up']);
});

after(async () => {
  await run('ip', ['netns', 'del', NS]).catch(() => undefined);
});

test('TX checksum offload goes off on the tunnel device, once', async () => {
  assert.ok(txChecksumOn(await ethtoolK()), 'on by default');
  assert.equal(await disableTxChecksumOffload('egress.vxlan', { netns: NS }), true);
  const after = await ethtoolK();
  assert.match(after, /^tx-checksumming: off/m);
  assert.match(after, /^\s+tx-checksum-ip-generic: off/m);
  assert.equal(await disableTxChecksumOffload('egress.vxlan', { netns: NS }), false, 'idempotent');
});

test('names that could reach a command line are validated', async () => {
  await assert.rejects(disableTxChecksumOffload('eth0;reboot', { netns: NS }), /invalid interface/);
  await assert.rejects(
    disableTxChecksumOffload('egress.vxlan', { netns: '../x' }),
    /invalid network namespace/,
  );
});

test('the parser reads the flag line only', () => {
  assert.equal(txChecksumOn('Features for x:\ntx-checksumming: on\n\ttx-checksum-ipv4: off [fixed]\n'), true);
  assert.equal(txChecksumOn('tx-checksumming: off\n'), false);
  assert.equal(txChecksumOn('\ttx-checksumming: on\n'), false, 'indented lines are sub-features');
});
