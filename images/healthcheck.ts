// Docker HEALTHCHECK of the controller and agent images: GET /healthz on the health port the
// process was configured with (HEALTH_PROBE_BIND_ADDRESS, upstream's default :8788). The
// images have no curl; Node is there anyway. Kubernetes ignores HEALTHCHECK and uses the
// chart's probes on the same endpoint.
import http from 'node:http';

/** `:5820`, `0.0.0.0:5820`, `[::]:5820`, `10.0.0.1:5820` → the URL to probe from inside. */
export function healthUrl(bind: string): string {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(bind);
  if (!m || Number(m[3]) > 65535)
    throw new Error(`HEALTH_PROBE_BIND_ADDRESS="${bind}" is not host:port (e.g. :5820 or [::]:5820)`);
  const host = m[1] ?? m[2] ?? '';
  // A wildcard listens on loopback too; a specific address is probed where it listens.
  const target = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${m[3]}/healthz`;
}

export function probe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

if (import.meta.main) {
  const url = healthUrl(process.env['HEALTH_PROBE_BIND_ADDRESS'] || ':8788');
  process.exitCode = (await probe(url, 3000)) ? 0 : 1;
}
