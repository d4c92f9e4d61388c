// The nettools echo server: tells every client which source address it saw. The web answer
// is what the seed's users read (`curl 10.6.1.92:8080` → `Remote IP: <EIP>`); TCP and UDP
// answer in upstream's line format. Listens on both families by default.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { streamAnswer, webAnswer } from './format.ts';

export type Protocol = 'tcp' | 'udp' | 'web' | 'all';

export interface ServerOptions {
  protocol: Protocol;
  /** listen address; '' = every address of both families */
  addr: string;
  tcpPort: number;
  udpPort: number;
  webPort: number;
  /** upstream answers each TCP line after 2 s; tests set 0 */
  tcpReplyDelayMs?: number;
  log?: (msg: string) => void;
}

export interface RunningServer {
  ports: { tcp?: number; udp?: number; web?: number };
  close(): Promise<void>;
}

const MAX_TCP_REPLIES = 101;

function listenAddr(addr: string): string {
  return addr === '' ? '::' : addr;
}

function startWeb(o: ServerOptions): Promise<http.Server> {
  const srv = http.createServer((req, res) => {
    o.log?.(`web ${req.method} ${req.url} from ${req.socket.remoteAddress}`);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(webAnswer(req.socket.remoteAddress));
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(o.webPort, listenAddr(o.addr), () => resolve(srv));
  });
}

function startTcp(o: ServerOptions): Promise<net.Server> {
  const srv = net.createServer((sock) => {
    let replies = 0;
    let buffered = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        setTimeout(() => {
          if (sock.destroyed) return;
          sock.write(streamAnswer('TCP', sock.remoteAddress, sock.remotePort, new Date()));
          if (++replies >= MAX_TCP_REPLIES) sock.end();
        }, o.tcpReplyDelayMs ?? 2000);
      }
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(o.tcpPort, listenAddr(o.addr), () => resolve(srv));
  });
}

function startUdp(o: ServerOptions): Promise<dgram.Socket> {
  const addr = listenAddr(o.addr);
  const sock = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4' });
  sock.on('message', (_msg, rinfo) => {
    sock.send(streamAnswer('UDP', rinfo.address, rinfo.port, new Date()), rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.udpPort, addr, () => resolve(sock));
  });
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const want = (p: Exclude<Protocol, 'all'>) => o.protocol === p || o.protocol === 'all';
  const closers: (() => Promise<void>)[] = [];
  const ports: RunningServer['ports'] = {};
  try {
    if (want('web')) {
      const s = await startWeb(o);
      ports.web = (s.address() as net.AddressInfo).port;
      closers.push(() => new Promise((r) => s.close(() => r())));
      closers.push(async () => s.closeAllConnections());
    }
    if (want('tcp')) {
      const s = await startTcp(o);
      ports.tcp = (s.address() as net.AddressInfo).port;
      closers.push(() => new Promise((r) => s.close(() => r())));
    }
    if (want('udp')) {
      const s = await startUdp(o);
      ports.udp = s.address().port;
      closers.push(() => new Promise((r) => s.close(() => r())));
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
  return {
    ports,
    close: async () => {
      await Promise.all(closers.reverse().map((c) => c()));
    },
  };
}
