// The nettools echo server: tells every client which source address it saw. The web answer
// is what the seed's users read (`curl 10.6.1.92:8080` → `Remote IP: <EIP>`); TCP and UDP
// answer in upstream's line format. Listens on both families by default.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { plainIp, streamAnswer, webAnswer } from './format.ts';
import { acceptKey, decodeFrame, encodeFrame, OPCODE } from './websocket.ts';

export type Protocol = 'tcp' | 'udp' | 'web' | 'all';

export interface ServerOptions {
  protocol: Protocol;
  /** listen address; '' = every address of both families */
  addr: string;
  /** 0 = any free port (the chosen one is in RunningServer.ports) */
  tcpPort: number;
  udpPort: number;
  webPort: number;
  /** upstream answers each TCP line after 2 s; tests set 0 */
  tcpReplyDelayMs?: number;
  /** called for every answer sent, with the address the answer reported */
  onAnswer?: (event: {
    protocol: 'tcp' | 'udp' | 'web' | 'ws';
    remoteIp: string;
    remotePort: number;
  }) => void;
}

export interface RunningServer {
  ports: { tcp?: number; udp?: number; web?: number };
  /** the address actually listened on ('::' is dual-stack) */
  addr: string;
  close(): Promise<void>;
}

const MAX_TCP_REPLIES = 101;
const MAX_TCP_LINE = 64 * 1024;
const TCP_REPLY_DELAY_MS = 2000;

/** Errors that mean "this machine has no IPv6", after which '' falls back to IPv4 only. */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

function listening<T extends { once(ev: 'error', l: (e: Error) => void): unknown }>(
  target: T,
  start: (done: () => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    target.once('error', reject);
    start(() => resolve(target));
  });
}

function webServer(o: ServerOptions): http.Server {
  return http.createServer((req, res) => {
    const remote = req.socket.remoteAddress;
    o.onAnswer?.({ protocol: 'web', remoteIp: plainIp(remote), remotePort: req.socket.remotePort ?? 0 });
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(webAnswer(remote));
  });
}

/** Upstream's `/ws` on the web port: each text message gets the stream answer back. */
function upgradeToWebSocket(
  o: ServerOptions,
  req: http.IncomingMessage,
  sock: Duplex,
  conns: Set<Duplex>,
): void {
  const key = req.headers['sec-websocket-key'];
  if (req.url !== '/ws' || typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
    sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nWebSocket is served on /ws only\n');
    return;
  }
  conns.add(sock);
  sock.on('close', () => conns.delete(sock));
  sock.on('error', () => sock.destroy());
  sock.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
  );
  const remote = req.socket.remoteAddress;
  const remotePort = req.socket.remotePort;
  let buf = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      let frame: ReturnType<typeof decodeFrame>;
      try {
        frame = decodeFrame(buf);
      } catch {
        sock.destroy();
        return;
      }
      if (!frame) return;
      buf = buf.subarray(frame.size);
      if (frame.opcode === OPCODE.close) {
        sock.end(encodeFrame(OPCODE.close, Buffer.alloc(0)));
        return;
      }
      if (frame.opcode === OPCODE.ping) sock.write(encodeFrame(OPCODE.pong, frame.payload));
      if (frame.opcode === OPCODE.text) {
        o.onAnswer?.({ protocol: 'ws', remoteIp: plainIp(remote), remotePort: remotePort ?? 0 });
        const answer = streamAnswer('WebSocket', remote, remotePort, new Date());
        sock.write(encodeFrame(OPCODE.text, Buffer.from(answer)));
      }
    }
  });
}

function tcpServer(o: ServerOptions, sockets: Set<net.Socket>): net.Server {
  return net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let replies = 0;
    let scheduled = 0;
    let buffered = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buffered += chunk;
      // Neither an endless line nor a flood of lines may pile up memory or timers.
      if (buffered.length > MAX_TCP_LINE) {
        sock.destroy();
        return;
      }
      let nl = buffered.indexOf('\n');
      while (nl >= 0 && scheduled < MAX_TCP_REPLIES) {
        scheduled++;
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        setTimeout(() => {
          if (sock.destroyed || !sock.writable) return;
          const remoteIp = plainIp(sock.remoteAddress);
          o.onAnswer?.({ protocol: 'tcp', remoteIp, remotePort: sock.remotePort ?? 0 });
          sock.write(streamAnswer('TCP', sock.remoteAddress, sock.remotePort, new Date()));
          if (++replies >= MAX_TCP_REPLIES) sock.end();
        }, o.tcpReplyDelayMs ?? TCP_REPLY_DELAY_MS);
      }
    });
    sock.on('error', () => sock.destroy());
  });
}

function udpSocket(o: ServerOptions, host: string): dgram.Socket {
  const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
  sock.on('message', (_msg, rinfo) => {
    o.onAnswer?.({ protocol: 'udp', remoteIp: plainIp(rinfo.address), remotePort: rinfo.port });
    // With a callback a failed send (no route back) loses that answer only; without one it
    // would be an 'error' event and end the server.
    sock.send(
      streamAnswer('UDP', rinfo.address, rinfo.port, new Date()),
      rinfo.port,
      rinfo.address,
      () => {},
    );
  });
  return sock;
}

async function startOn(o: ServerOptions, host: string): Promise<RunningServer> {
  const want = (p: Exclude<Protocol, 'all'>) => o.protocol === p || o.protocol === 'all';
  const closers: (() => Promise<void>)[] = [];
  const ports: RunningServer['ports'] = {};
  const closeAll = () => Promise.all(closers.map((c) => c())).then(() => undefined);
  try {
    if (want('web')) {
      const srv = webServer(o);
      const upgraded = new Set<Duplex>();
      srv.on('upgrade', (req, sock) => upgradeToWebSocket(o, req, sock, upgraded));
      const s = await listening(srv, (done) => srv.listen(o.webPort, host, done));
      ports.web = (s.address() as net.AddressInfo).port;
      closers.push(
        () =>
          new Promise((r) => {
            s.close(() => r());
            s.closeAllConnections();
            for (const c of upgraded) c.destroy();
          }),
      );
    }
    if (want('tcp')) {
      const sockets = new Set<net.Socket>();
      const srv = tcpServer(o, sockets);
      const s = await listening(srv, (done) => srv.listen(o.tcpPort, host, done));
      ports.tcp = (s.address() as net.AddressInfo).port;
      // Clients may hold a connection for 101 slow replies: shutdown must not wait for them.
      closers.push(
        () =>
          new Promise((r) => {
            s.close(() => r());
            for (const c of sockets) c.destroy();
          }),
      );
    }
    if (want('udp')) {
      const sock = udpSocket(o, host);
      const s = await listening(sock, (done) => sock.bind(o.udpPort, host, done));
      ports.udp = s.address().port;
      closers.push(() => new Promise((r) => s.close(() => r())));
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { ports, addr: host, close: closeAll };
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  if (o.addr !== '') return startOn(o, o.addr);
  try {
    return await startOn(o, '::');
  } catch (err) {
    if (!NO_IPV6.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    return startOn(o, '0.0.0.0');
  }
}
