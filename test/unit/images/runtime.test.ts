// The two scripts the images run besides our programs: the entry point (dispatch between a
// command and flags for the main program) and the Docker health check.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { healthUrl, probe } from '../../../images/healthcheck.ts';

const ENTRYPOINT = fileURLToPath(new URL('../../../images/bin/egw-entrypoint', import.meta.url));
const HEALTHCHECK = fileURLToPath(new URL('../../../images/healthcheck.ts', import.meta.url));

function exec(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

test("entry point: runs a given command as is (the seed's `docker run IMAGE /usr/bin/nettools-server …`)", async () => {
  const r = await exec(ENTRYPOINT, ['/bin/echo', '-protocol', 'web', '-webPort', '8080'], {
    EGW_PROGRAM: '/bin/false',
  });
  assert.deepEqual([r.code, r.stdout], [0, '-protocol web -webPort 8080\n']);
});

test('entry point: flags alone go to the main program', async () => {
  const r = await exec(ENTRYPOINT, ['-protocol', 'web'], { EGW_PROGRAM: '/bin/echo' });
  assert.deepEqual([r.code, r.stdout], [0, '-protocol web\n']);
});

test('entry point: the exit code of the program is the container’s', async () => {
  const r = await exec(ENTRYPOINT, ['/bin/sh', '-c', 'exit 7']);
  assert.equal(r.code, 7);
});

test('health URL from HEALTH_PROBE_BIND_ADDRESS, as the processes read it', () => {
  assert.equal(healthUrl(':8788'), 'http://127.0.0.1:8788/healthz');
  assert.equal(healthUrl('0.0.0.0:5820'), 'http://127.0.0.1:5820/healthz');
  assert.equal(healthUrl('[::]:5810'), 'http://[::1]:5810/healthz');
  assert.equal(healthUrl('10.0.0.7:5820'), 'http://10.0.0.7:5820/healthz');
  assert.equal(healthUrl('[fd00::7]:5820'), 'http://[fd00::7]:5820/healthz');
  assert.throws(() => healthUrl('5820'), /HEALTH_PROBE_BIND_ADDRESS="5820" is not host:port \(e\.g\. :5820/);
  assert.throws(() => healthUrl(':99999'), /is not host:port/);
});

test('health check process: exit 0 on 200, 1 on 503 and when nothing listens', async () => {
  let status = 200;
  const paths: string[] = [];
  const srv = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  try {
    const node = process.execPath;
    const ok = await exec(node, [HEALTHCHECK], { HEALTH_PROBE_BIND_ADDRESS: `:${port}` });
    assert.equal(ok.code, 0, ok.stderr);
    status = 503;
    const sick = await exec(node, [HEALTHCHECK], { HEALTH_PROBE_BIND_ADDRESS: `0.0.0.0:${port}` });
    assert.equal(sick.code, 1);
    assert.deepEqual(paths, ['/healthz', '/healthz']);
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(await probe(`http://127.0.0.1:${port}/healthz`, 1000), false);
});
