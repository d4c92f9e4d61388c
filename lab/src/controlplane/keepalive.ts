// Keeps one lab component running, as the kubelet does for a control plane's static pods:
// an unexpected exit is followed by a restart with back-off; SIGTERM stops the child and then
// itself. Components rely on this (kube-controller-manager exits when its first RBAC checks
// race the apiserver's bootstrap, and after long apiserver outages).
//
// usage: keepalive.ts --pidfile FILE -- BINARY ARGS...
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const sep = process.argv.indexOf('--');
const pidIdx = process.argv.indexOf('--pidfile');
const pidFile = pidIdx >= 0 ? process.argv[pidIdx + 1] : undefined;
const [binary, ...args] = sep >= 0 ? process.argv.slice(sep + 1) : [];
if (!binary || !pidFile) {
  console.error('usage: keepalive.ts --pidfile FILE -- BINARY ARGS...');
  process.exit(2);
}

const MAX_BACKOFF_MS = 10_000;
const HEALTHY_AFTER_MS = 30_000;
let backoffMs = 0;
let stopping = false;
let child: ReturnType<typeof spawn> | undefined;

function start(): void {
  const startedAt = Date.now();
  child = spawn(binary!, args, { stdio: 'inherit' });
  if (child.pid !== undefined) writeFileSync(pidFile!, String(child.pid));
  child.on('exit', (code, signal) => {
    child = undefined;
    if (stopping) process.exit(0);
    backoffMs =
      Date.now() - startedAt > HEALTHY_AFTER_MS ? 0 : Math.min(MAX_BACKOFF_MS, backoffMs * 2 || 500);
    const stamp = new Date().toISOString();
    console.error(
      `${stamp} keepalive: ${binary} exited (code ${code}, signal ${signal}); restarting in ${backoffMs} ms`,
    );
    setTimeout(start, backoffMs);
  });
}

function stop(): void {
  stopping = true;
  if (!child) process.exit(0);
  child.kill('SIGTERM');
  setTimeout(() => child?.kill('SIGKILL'), 10_000).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
start();
