// Command lines as upstream's users and e2e suite type them, and the messages a wrong one gets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClientArgs, parseServerArgs } from '../../../src/nettools/cli.ts';
import { exitCode } from '../../../src/nettools/client.ts';
import { FlagError } from '../../../src/nettools/flags.ts';

test("server: the seed's command line and upstream's defaults", () => {
  assert.deepEqual(parseServerArgs(['-protocol', 'web', '-webPort', '8080']), {
    protocol: 'web',
    addr: '',
    tcpPort: 8080,
    udpPort: 8081,
    webPort: 8080,
  });
  assert.deepEqual(parseServerArgs([]), {
    protocol: 'tcp',
    addr: '',
    tcpPort: 8080,
    udpPort: 8081,
    webPort: 8082,
  });
  assert.equal(parseServerArgs(['--protocol=all', '--addr', '[fd00::1]']).addr, 'fd00::1');
});

test('server: wrong flags say what is wrong and what would be right', () => {
  const cases: [string[], RegExp][] = [
    [['-protocol', 'http'], /-protocol: "http" is not one of tcp, udp, web, all/],
    [['-webPort', '70000'], /-webPort: 70000 is not a port \(0-65535\)/],
    [['-webPort', '80x'], /-webPort: "80x" is not a whole number/],
    [['-webPort'], /-webPort needs a value/],
    [['-addr', 'eth0'], /-addr: "eth0" is not an IPv4 or IPv6 address \(e\.g\. -addr 0\.0\.0\.0\)/],
    [['-port', '1'], /unknown flag -port; known flags: -addr -protocol -tcpPort -udpPort -webPort/],
    [['web'], /unexpected argument "web"; flags look like -name value/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseServerArgs(argv), message, argv.join(' '));
  assert.throws(() => parseServerArgs(['-protocol', 'x']), FlagError);
});

test("client: upstream e2e's `-batch true -contain false` parses both flags", () => {
  const o = parseClientArgs([
    '-addr',
    '172.18.0.5',
    '-protocol',
    'tcp',
    '-tcpPort',
    '63380',
    '-eip',
    '172.18.0.100',
    '-batch',
    'true',
    '-contain',
    'false',
  ]);
  assert.deepEqual(o, {
    addr: '172.18.0.5',
    protocol: 'tcp',
    tcpPort: 63380,
    udpPort: 8081,
    webPort: 8082,
    timeoutMs: 10_000,
    eip: '172.18.0.100',
    contain: false,
  });
  assert.equal(
    parseClientArgs(['-addr', 'nettools.example', '-contain=false', '-eip', 'fd00::1']).contain,
    false,
  );
  assert.equal(parseClientArgs(['--addr', '[fd00::2]', '--eip=fd00::1']).addr, 'fd00::2');
  // upstream's name for the WebSocket case
  assert.equal(parseClientArgs(['-addr', '10.6.1.92', '-protocol', 'wss']).protocol, 'ws');
  assert.throws(
    () => parseServerArgs(['-protocol', 'ws']),
    /-protocol: "ws" is not one of tcp, udp, web, all/,
  );
});

test('client: wrong flags say what is wrong and what would be right', () => {
  const cases: [string[], RegExp][] = [
    [['-protocol', 'web'], /-addr is required \(the nettools-server IP, e\.g\. -addr 10\.6\.1\.92\)/],
    [['-addr', '10.6.1.92:8080'], /carries a port; .*\(e\.g\. -addr 10\.6\.1\.92 -webPort 8080\)/],
    [['-addr', '10.6.1.300'], /-addr: "10\.6\.1\.300" is not an IPv4 or IPv6 address/],
    [['-addr', '10.6.1.92', '-eip', '172.22.0'], /-eip: "172\.22\.0" is not an IPv4 or IPv6 address/],
    [['-addr', '10.6.1.92', '-contain', 'false'], /-contain false needs -eip/],
    [['-addr', '10.6.1.92', '-contain', 'maybe'], /unexpected argument "maybe"/],
    [['-addr', '10.6.1.92', '-contain=maybe'], /-contain: "maybe" is not a boolean; use true or false/],
    [['-addr', '10.6.1.92', '-timeout', '0'], /-timeout: 0 must be at least 1 second/],
    [['-addr', '10.6.1.92', '-webPort', '0'], /-webPort: 0 is not a port \(1-65535\)/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseClientArgs(argv), message, argv.join(' '));
});

test('exit code: a wrong address beats an error, an error beats success', () => {
  const ok = { protocol: 'web', ok: true, seen: '1.1.1.1' } as const;
  const wrong = { protocol: 'tcp', ok: false, seen: '1.1.1.2' } as const;
  const broken = { protocol: 'udp', ok: false, error: 'no UDP answer' } as const;
  assert.equal(exitCode([ok, ok]), 0);
  assert.equal(exitCode([ok, wrong]), 1);
  assert.equal(exitCode([ok, broken]), 2);
  assert.equal(exitCode([broken, wrong]), 1);
});
