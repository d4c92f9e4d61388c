// The nettools client: asks the server which source address it saw and checks it against
// the expected egress IP. Unlike upstream's, a mismatch is a failure (exit code 1), every
// protocol really runs, and the comparison is on whole addresses (172.22.0.1 is not
// "contained" in 172.22.0.110).
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';
import { canonicalIp } from '../common/ip.ts';
import { seenIp } from './format.ts';
import { acceptKey, decodeFrame, encodeFrame, OPCODE } from './websocket.ts';

/** `ws` is upstream's `/ws` WebSocket echo on the web port (upstream's client calls it `wss`). */
export type ProbeProtocol = 'tcp' | 'udp' | 'web' | 'ws';

export interface ClientOptions {
  /** server IP address or DNS name */
  addr: string;
  protocol: ProbeProtocol | 'all';
  tcpPort: number;
  udpPort: number;
  webPort: number;
  /** per protocol: connect + answer must fit in it */
  timeoutMs: number;
  /** expected source address; empty = only report */
  eip: string;
  /** true: the server must see `eip`; false: it must see anything else */
  contain: boolean;
}

export interface ProbeResult {
  protocol: ProbeProtocol;
  ok: boolean;
  seen?: string;
  error?: string;
}

/** How often an unanswered UDP question is asked again: a first datagram can be lost while
 *  the path is still resolving neighbours, and UDP itself never retries. */
const UDP_RESEND_MS = 500;

function noAnswer(o: ClientOptions, what: string): Error {
  return new Error(`no ${what} answer from ${o.addr} within ${o.timeoutMs / 1000} s`);
}

function web(o: ClientOptions, ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port: o.webPort, path: '/' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (res.statusCode === 200) resolve(body);
        else
          reject(new Error(`HTTP ${res.statusCode} from ${o.addr}: ${JSON.stringify(body.slice(0, 200))}`));
      });
      res.on('error', reject);
    });
    // A whole-request deadline, not an idle timeout: a trickling server must not hang us.
    const timer = setTimeout(() => req.destroy(noAnswer(o, 'web')), o.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function ws(o: ClientOptions, ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const req = http.get({
      host: ip,
      port: o.webPort,
      path: '/ws',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': key,
        'sec-websocket-version': '13',
      },
    });
    const timer = setTimeout(() => req.destroy(noAnswer(o, 'WebSocket')), o.timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      res.resume();
      fail(new Error(`HTTP ${res.statusCode} from ${o.addr} instead of a WebSocket upgrade on /ws`));
    });
    req.on('upgrade', (res, sock, head) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        sock.destroy();
        fail(new Error(`${o.addr} answered the WebSocket handshake with a wrong accept key`));
        return;
      }
      let buf = Buffer.from(head);
      sock.on('error', fail);
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (let frame = decodeFrame(buf); frame; frame = decodeFrame(buf)) {
          buf = buf.subarray(frame.size);
          if (frame.opcode !== OPCODE.text) continue;
          clearTimeout(timer);
          sock.end(encodeFrame(OPCODE.close, Buffer.alloc(0), randomBytes(4)));
          resolve(frame.payload.toString('utf8'));
          return;
        }
      });
      sock.write(encodeFrame(OPCODE.text, Buffer.from('hello'), randomBytes(4)));
    });
  });
}

function tcp(o: ClientOptions, ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ip, port: o.tcpPort });
    const timer = setTimeout(() => sock.destroy(noAnswer(o, 'TCP')), o.timeoutMs);
    let got = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write('hello\n'));
    sock.on('data', (c: string) => {
      got += c;
      if (got.includes('\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(got);
      }
    });
    sock.on('end', () => {
      clearTimeout(timer);
      reject(new Error(`${o.addr} closed the TCP connection without an answer`));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function udp(o: ClientOptions, ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(ip) ? 'udp6' : 'udp4');
    const ask = () => sock.send('hello\n', o.udpPort, ip);
    const resend = setInterval(ask, UDP_RESEND_MS);
    const finish = (err: Error | undefined, answer?: string) => {
      clearInterval(resend);
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(answer ?? '');
    };
    const timer = setTimeout(() => finish(noAnswer(o, 'UDP')), o.timeoutMs);
    sock.on('message', (msg) => finish(undefined, msg.toString('utf8')));
    // ICMP port unreachable shows up as ECONNREFUSED on a later send: keep trying until the
    // deadline, as the server may be starting; report it only then.
    sock.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') finish(err);
    });
    ask();
  });
}

export function judge(seen: string | undefined, eip: string, contain: boolean): boolean {
  if (seen === undefined) return false;
  if (eip === '') return true;
  const same = (canonicalIp(seen) ?? seen) === (canonicalIp(eip) ?? eip);
  return contain ? same : !same;
}

async function resolveAddr(addr: string): Promise<string> {
  if (net.isIP(addr)) return addr;
  return (await lookup(addr)).address;
}

export async function probe(o: ClientOptions): Promise<ProbeResult[]> {
  const protocols: readonly ProbeProtocol[] =
    o.protocol === 'all' ? ['web', 'ws', 'tcp', 'udp'] : [o.protocol];
  let ip: string;
  try {
    ip = await resolveAddr(o.addr);
  } catch (err) {
    const error = `cannot resolve ${o.addr}: ${err instanceof Error ? err.message : String(err)}`;
    return protocols.map((protocol) => ({ protocol, ok: false, error }));
  }
  const ask = { web, ws, tcp, udp };
  const results: ProbeResult[] = [];
  for (const protocol of protocols) {
    try {
      const answer = await ask[protocol](o, ip);
      const seen = seenIp(answer);
      const r: ProbeResult = { protocol, ok: judge(seen, o.eip, o.contain) };
      if (seen !== undefined) r.seen = seen;
      else r.error = `the answer carried no address: ${JSON.stringify(answer.slice(0, 200))}`;
      results.push(r);
    } catch (err) {
      results.push({ protocol, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return results;
}

/** One line per protocol, e.g. `web: OK server saw 172.22.0.110 (expected 172.22.0.110)`. */
export function describe(r: ProbeResult, o: ClientOptions): string {
  const expect = o.eip === '' ? '' : o.contain ? ` (expected ${o.eip})` : ` (expected anything but ${o.eip})`;
  if (r.error) return `${r.protocol}: ERROR ${r.error}`;
  return `${r.protocol}: ${r.ok ? 'OK' : 'FAIL'} server saw ${r.seen}${expect}`;
}

/** 0: every probe as expected; 1: a server saw the wrong address (the finding that matters
 *  most, so it wins over errors of other protocols); 2: no usable answer. */
export function exitCode(results: readonly ProbeResult[]): number {
  if (results.some((r) => !r.ok && !r.error)) return 1;
  if (results.some((r) => r.error)) return 2;
  return 0;
}
