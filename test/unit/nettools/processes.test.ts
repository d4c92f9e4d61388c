// The two entry points as processes, as an image or the lab runs them: the server logs where
// it listens, answers, stops cleanly on SIGTERM and explains a busy port; the client's exit
// code is the verdict.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('../../../src/nettools/server-main.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../../src/nettools/client-main.ts', import.meta.url));

interface LogLine {
  msg: string;
  level: number;
  ports?: { web?: number; tcp?: number; udp?: number };
  addr?: string;
  [k: string]: unknown;
}

function startServer(args: string[]): Promise<{ proc: ChildProcess; first: LogLine; lines: LogLine[] }> {
  const proc = spawn(process.execPath, [SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as LogLine;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length === 1) resolve({ proc, first: line, lines });
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited ${code} before logging`)));
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

function client(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLIENT, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test('server process: listens dual-stack, answers, logs each answer, exits 0 on SIGTERM', async () => {
  const { proc, first, lines } = await startServer([
    '-protocol',
    'all',
    '-webPort',
    '0',
    '-tcpPort',
    '0',
    '-udpPort',
    '0',
  ]);
  try {
    assert.equal(first.msg, 'nettools-server listening');
    assert.equal(first.addr, '::');
    const { web, tcp, udp } = first.ports ?? {};
    assert.ok(web && tcp && udp, JSON.stringify(first));
    const ports = ['-webPort', String(web), '-tcpPort', String(tcp), '-udpPort', String(udp)];

    const v4 = await client(['-addr', '127.0.0.1', '-protocol', 'all', ...ports, '-eip', '127.0.0.1']);
    assert.equal(v4.code, 0, v4.stdout + v4.stderr);
    assert.deepEqual(v4.stdout.trim().split('\n'), [
      'web: OK server saw 127.0.0.1 (expected 127.0.0.1)',
      'ws: OK server saw 127.0.0.1 (expected 127.0.0.1)',
      'tcp: OK server saw 127.0.0.1 (expected 127.0.0.1)',
      'udp: OK server saw 127.0.0.1 (expected 127.0.0.1)',
    ]);
    const v6 = await client(['-addr', '::1', '-protocol', 'web', ...ports, '-eip', '::1']);
    assert.equal(v6.code, 0, v6.stdout + v6.stderr);

    // The README's check run against loopback with another expected address must fail.
    const wrong = await client(['-addr', '127.0.0.1', '-protocol', 'web', ...ports, '-eip', '127.0.0.2']);
    assert.equal(wrong.code, 1, wrong.stdout);
    assert.equal(wrong.stdout, 'web: FAIL server saw 127.0.0.1 (expected 127.0.0.2)\n');

    const answers = lines
      .filter((l) => /answer to/.test(l.msg))
      .map((l) => `${l['protocol']} ${l['remoteIp']}`);
    for (const want of ['web 127.0.0.1', 'ws 127.0.0.1', 'tcp 127.0.0.1', 'udp 127.0.0.1', 'web ::1'])
      assert.ok(answers.includes(want), `${want} not in ${answers.join(', ')}`);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited(proc), 0);
  assert.deepEqual(
    lines.slice(-2).map((l) => l.msg),
    ['nettools-server stopping', 'nettools-server stopped'],
  );
});

test('server process: SIGTERM does not wait for a client holding a TCP connection', async () => {
  const { proc, first } = await startServer(['-protocol', 'tcp', '-tcpPort', '0', '-addr', '127.0.0.1']);
  const held = net.connect({ host: '127.0.0.1', port: first.ports!.tcp! });
  await new Promise((r) => held.once('connect', r));
  held.on('error', () => {});
  const t0 = Date.now();
  proc.kill('SIGTERM');
  assert.equal(await exited(proc), 0);
  assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  held.destroy();
});

test('server process: a busy port is a clear error and exit 1', async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const proc = spawn(process.execPath, [
      SERVER,
      '-protocol',
      'web',
      '-addr',
      '127.0.0.1',
      '-webPort',
      `${port}`,
    ]);
    let out = '';
    proc.stdout.on('data', (c) => {
      out += c;
    });
    assert.equal(await exited(proc), 1);
    const line = JSON.parse(out.trim()) as LogLine;
    assert.equal(line['code'], 'EADDRINUSE');
    assert.match(line.msg, /cannot listen: .*another process holds the port; pick another with .*-webPort/);
  } finally {
    busy.close();
  }
});

test('server process: bad flags exit 2 with the reason and the usage', async () => {
  const proc = spawn(process.execPath, [SERVER, '-protocol', 'http']);
  let err = '';
  proc.stderr.on('data', (c) => {
    err += c;
  });
  assert.equal(await exited(proc), 2);
  assert.match(
    err,
    /^nettools-server: -protocol: "http" is not one of tcp, udp, web, all\nusage: nettools-server/,
  );
  assert.match(err, /-webPort int\tHTTP port, WebSocket on \/ws \(0: any free port\) \(default 8082\)/);
});

test('client process: nobody listening is exit 2 with the reason, within the timeout', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const t0 = Date.now();
  const r = await client(['-addr', '127.0.0.1', '-protocol', 'all', '-timeout', '1', ...portsAll(port)]);
  assert.equal(r.code, 2, r.stdout);
  const out = r.stdout.trim().split('\n');
  assert.match(out[0]!, /^web: ERROR connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  assert.match(out[1]!, /^ws: ERROR connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  assert.match(out[2]!, /^tcp: ERROR connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  assert.equal(out[3], 'udp: ERROR no UDP answer from 127.0.0.1 within 1 s');
  assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
});

function portsAll(port: number): string[] {
  return ['-webPort', `${port}`, '-tcpPort', `${port}`, '-udpPort', `${port}`];
}

test('client process: bad flags exit 2 and name the flag', async () => {
  const r = await client(['-addr', '127.0.0.1', '-eip', 'not-an-ip']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^nettools-client: -eip: "not-an-ip" is not an IPv4 or IPv6 address/);
  assert.equal(r.stdout, '');
});
