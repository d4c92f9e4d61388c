// The nettools client: asks the server which source address it saw and checks it against
// the expected egress IP. Unlike upstream's, a mismatch is a failure (exit code 1), every
// protocol really runs, and the comparison is on whole addresses (172.22.0.1 is not
// "contained" in 172.22.0.110).
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { canonicalIp } from '../common/ip.ts';
import { seenIp } from './format.ts';

export interface ClientOptions {
  addr: string;
  protocol: 'tcp' | 'udp' | 'web' | 'all';
  tcpPort: number;
  udpPort: number;
  webPort: number;
  timeoutMs: number;
  /** expected source address; empty = only report */
  eip: string;
  /** true: the server must see `eip`; false: it must see anything else */
  contain: boolean;
}

export interface ProbeResult {
  protocol: 'tcp' | 'udp' | 'web';
  ok: boolean;
  seen?: string;
  error?: string;
}

function web(o: ClientOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: o.addr, port: o.webPort, path: '/', timeout: o.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function tcp(o: ClientOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: o.addr, port: o.tcpPort });
    const timer = setTimeout(
      () => sock.destroy(new Error(`no answer within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
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
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function udp(o: ClientOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(o.addr) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no answer within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg.toString('utf8'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send('hello\n', o.udpPort, o.addr);
  });
}

export function judge(seen: string | undefined, eip: string, contain: boolean): boolean {
  if (seen === undefined) return false;
  if (eip === '') return true;
  const same = (canonicalIp(seen) ?? seen) === (canonicalIp(eip) ?? eip);
  return contain ? same : !same;
}

export async function probe(o: ClientOptions): Promise<ProbeResult[]> {
  const protocols = o.protocol === 'all' ? (['web', 'tcp', 'udp'] as const) : ([o.protocol] as const);
  const results: ProbeResult[] = [];
  for (const protocol of protocols) {
    try {
      const answer = await (protocol === 'web' ? web(o) : protocol === 'tcp' ? tcp(o) : udp(o));
      const seen = seenIp(answer);
      const r: ProbeResult = { protocol, ok: judge(seen, o.eip, o.contain) };
      if (seen !== undefined) r.seen = seen;
      else r.error = `answer carried no address: ${JSON.stringify(answer.slice(0, 200))}`;
      results.push(r);
    } catch (err) {
      results.push({ protocol, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return results;
}

export function describe(r: ProbeResult, o: ClientOptions): string {
  const expect = o.eip === '' ? '' : o.contain ? ` (expected ${o.eip})` : ` (expected anything but ${o.eip})`;
  if (r.error) return `${r.protocol}: FAIL ${r.error}`;
  return `${r.protocol}: ${r.ok ? 'OK' : 'FAIL'} server saw ${r.seen}${expect}`;
}
