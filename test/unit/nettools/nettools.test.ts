// nettools on loopback: the server reports the source address it saw, and the client's exit
// code really depends on whether that address matches -eip.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { judge, probe } from '../../../src/nettools/client.ts';
import { FlagError, parseFlags } from '../../../src/nettools/flags.ts';
import { plainIp, seenIp, webAnswer } from '../../../src/nettools/format.ts';
import { type RunningServer, startServer } from '../../../src/nettools/server.ts';

const CLIENT = fileURLToPath(new URL('../../../src/nettools/client-main.ts', import.meta.url));
let srv: RunningServer;

before(async () => {
  srv = await startServer({
    protocol: 'all',
    addr: '',
    tcpPort: 0,
    udpPort: 0,
    webPort: 0,
    tcpReplyDelayMs: 0,
  });
});
after(() => srv.close());

function client(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLIENT, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

const base = (addr: string) => ({
  addr,
  protocol: 'all' as const,
  tcpPort: srv.ports.tcp!,
  udpPort: srv.ports.udp!,
  webPort: srv.ports.web!,
  timeoutMs: 2000,
  eip: '',
  contain: true,
});

test('the server reports the source address over web, WebSocket, TCP and UDP, IPv4 and IPv6', async () => {
  for (const [addr, want] of [
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
  ] as const) {
    const results = await probe({ ...base(addr), eip: want });
    assert.deepEqual(
      results.map((r) => [r.protocol, r.seen, r.ok]),
      [
        ['web', want, true],
        ['ws', want, true],
        ['tcp', want, true],
        ['udp', want, true],
      ],
    );
  }
});

test('the client exits 0 on a match and 1 on a mismatch (upstream always exited 0)', async () => {
  const ports = [
    '-webPort',
    String(srv.ports.web),
    '-tcpPort',
    String(srv.ports.tcp),
    '-udpPort',
    String(srv.ports.udp),
  ];
  const ok = await client(['-addr', '127.0.0.1', '-protocol', 'all', ...ports, '-eip', '127.0.0.1']);
  assert.equal(ok.code, 0, ok.out);
  const bad = await client(['-addr', '127.0.0.1', '-protocol', 'web', ...ports, '-eip', '127.0.0.2']);
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /FAIL server saw 127\.0\.0\.1 \(expected 127\.0\.0\.2\)/);
  // upstream's own invocation: `-batch true -contain false` now parses both flags
  const notIt = await client([
    '-addr',
    '127.0.0.1',
    '-protocol',
    'tcp',
    ...ports,
    '-eip',
    '127.0.0.1',
    '-batch',
    'true',
    '-contain',
    'false',
  ]);
  assert.equal(notIt.code, 1, notIt.out);
});

test('the client exits 2 when nobody answers or flags are wrong', async () => {
  const dead = await client(['-addr', '127.0.0.1', '-protocol', 'web', '-webPort', '1', '-timeout', '1']);
  assert.equal(dead.code, 2, dead.out);
  const noAddr = await client(['-protocol', 'web']);
  assert.equal(noAddr.code, 2);
  assert.match(noAddr.out, /-addr is required/);
});

test('whole-address comparison: 172.22.0.1 does not match 172.22.0.110', () => {
  assert.equal(judge('172.22.0.110', '172.22.0.1', true), false);
  assert.equal(judge('172.22.0.110', '172.22.0.110', true), true);
  assert.equal(judge('fd00::0:1', 'fd00::1', true), true);
  assert.equal(judge('172.22.0.110', '172.22.0.110', false), false);
  assert.equal(judge(undefined, '', true), false);
});

test('answers parse back to the address, in every format', () => {
  assert.equal(webAnswer('::ffff:10.6.1.92'), 'Remote IP: 10.6.1.92\n');
  assert.equal(plainIp('fe80::1%eth0'), 'fe80::1');
  assert.equal(seenIp('Remote IP: 172.22.0.110\n'), '172.22.0.110');
  assert.equal(seenIp('Remote IP: 172.22.0.110:43122\n'), '172.22.0.110');
  assert.equal(seenIp('Remote IP: [fd00::1]:80'), 'fd00::1');
  assert.equal(seenIp('2026 clientIP=[fd00::5]:1234 TCP Server Say hello!'), 'fd00::5');
  assert.equal(seenIp('2026 clientIP=10.0.0.1:9 UDP Server Say hello!'), '10.0.0.1');
  assert.equal(seenIp('nothing here'), undefined);
});

test('Go-style flags: single or double dash, =value, bool words, clear errors', () => {
  const spec = {
    webPort: { kind: 'int', default: 8082, help: '' },
    protocol: { kind: 'string', default: 'tcp', help: '' },
    batch: { kind: 'bool', default: false, help: '' },
  } as const;
  assert.deepEqual(parseFlags(spec, ['-protocol', 'web', '--webPort=8080', '-batch']), {
    webPort: 8080,
    protocol: 'web',
    batch: true,
  });
  assert.deepEqual(parseFlags(spec, ['-batch', 'false']).batch, false);
  assert.throws(
    () => parseFlags(spec, ['-nope']),
    /unknown flag -nope; known flags: -webPort -protocol -batch/,
  );
  assert.throws(() => parseFlags(spec, ['-webPort', 'x']), FlagError);
  assert.throws(() => parseFlags(spec, ['-protocol']), /-protocol needs a value/);
  assert.throws(() => parseFlags(spec, ['stray']), /unexpected argument "stray"/);
});

type Closed = 'end' | 'error' | 'close' | 'still open after 2 s';

function tcpSession(payload: string): Promise<{ lines: string[]; closedBy: Closed }> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: srv.ports.tcp! });
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      got += c;
    });
    const timer = setTimeout(() => done('still open after 2 s'), 2000);
    const done = (closedBy: Closed) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ lines: got.split('\n').filter((l) => l !== ''), closedBy });
    };
    sock.once('end', () => done('end'));
    sock.once('error', () => done('error'));
    sock.once('close', () => done('close'));
    sock.on('connect', () => sock.write(payload));
  });
}

test('TCP: at most 101 answers per connection, then the server closes it (upstream)', async () => {
  const r = await tcpSession('hi\n'.repeat(150));
  assert.equal(r.lines.length, 101);
  assert.match(r.lines[0]!, /^\S+ clientIP=127\.0\.0\.1:\d+ TCP Server Say hello! $/);
  assert.equal(r.closedBy, 'end');
});

test('TCP: a line that never ends is cut off instead of buffered', async () => {
  const r = await tcpSession('x'.repeat(70 * 1024));
  assert.deepEqual(r.lines, []);
  assert.notEqual(r.closedBy, 'still open after 2 s');
});
