// A byte relay between a TCP port and a unix socket. The lab's apiserver lives inside the
// control-plane node's network namespace; a pair of relays (one inside that namespace, one in
// the caller's) joined by a unix socket on the shared filesystem lets kubectl and tests reach
// it without adding any link or address to the machine's own network namespace.
// TLS passes through untouched: the apiserver certificate carries 127.0.0.1.
//
// usage: relay.ts --listen tcp:HOST:PORT|unix:PATH --connect tcp:HOST:PORT|unix:PATH
import { rmSync } from 'node:fs';
import net from 'node:net';

type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice(5) };
  const m = /^tcp:(.+):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`bad endpoint "${text}": use tcp:HOST:PORT or unix:PATH`);
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export function startRelay(listen: Endpoint, connect: Endpoint): net.Server {
  const server = net.createServer((inbound) => {
    const outbound =
      connect.kind === 'tcp' ? net.connect(connect.port, connect.host) : net.connect(connect.path);
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
  });
  if (listen.kind === 'tcp') server.listen(listen.port, listen.host);
  else {
    rmSync(listen.path, { force: true });
    server.listen(listen.path);
  }
  return server;
}

if (import.meta.main) {
  const arg = (flag: string): string => {
    const i = process.argv.indexOf(flag);
    const v = i >= 0 ? process.argv[i + 1] : undefined;
    if (!v) throw new Error(`missing ${flag}`);
    return v;
  };
  const server = startRelay(parseEndpoint(arg('--listen')), parseEndpoint(arg('--connect')));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
