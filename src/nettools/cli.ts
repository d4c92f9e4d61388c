// Command lines of nettools-server and nettools-client → validated options. Pure, so every
// error message is unit-tested; the mains only add sockets, logs and exit codes.
// Flags, ports and defaults are upstream's: -protocol tcp, -tcpPort 8080, -udpPort 8081,
// -webPort 8082, client -timeout 10 (s), -contain true.
import { canonicalIp } from '../common/ip.ts';
import type { ClientOptions } from './client.ts';
import { FlagError, type FlagSpec, parseFlags } from './flags.ts';
import type { Protocol, ServerOptions } from './server.ts';

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'web', 'all'];
/** The client also asks upstream's `/ws` WebSocket echo alone; `wss` is upstream's name for it. */
const CLIENT_PROTOCOLS: readonly ClientOptions['protocol'][] = ['tcp', 'udp', 'web', 'ws', 'all'];

export const SERVER_FLAGS = {
  addr: { kind: 'string', default: '', help: 'listen address (default: every address, IPv4 and IPv6)' },
  protocol: { kind: 'string', default: 'tcp', help: 'tcp, udp, web or all' },
  tcpPort: { kind: 'int', default: 8080, help: 'TCP echo port (0: any free port)' },
  udpPort: { kind: 'int', default: 8081, help: 'UDP echo port (0: any free port)' },
  webPort: { kind: 'int', default: 8082, help: 'HTTP port, WebSocket on /ws (0: any free port)' },
} as const satisfies FlagSpec;

export const CLIENT_FLAGS = {
  addr: { kind: 'string', default: '', help: 'server IP address or DNS name (required)' },
  protocol: {
    kind: 'string',
    default: 'tcp',
    help: 'tcp, udp, web, ws (or wss: WebSocket on the web port) or all',
  },
  tcpPort: { kind: 'int', default: 8080, help: 'server TCP port' },
  udpPort: { kind: 'int', default: 8081, help: 'server UDP port' },
  webPort: { kind: 'int', default: 8082, help: 'server HTTP and WebSocket port' },
  timeout: { kind: 'int', default: 10, help: 'seconds to wait for each answer' },
  eip: { kind: 'string', default: '', help: 'source IP the server must see (empty: only report it)' },
  contain: { kind: 'bool', default: true, help: 'true: the server must see -eip; false: anything but -eip' },
  batch: { kind: 'bool', default: false, help: 'accepted for compatibility; every run is one batch' },
} as const satisfies FlagSpec;

function protocolOf<P extends string>(v: string, known: readonly P[]): P {
  const p = known.find((x) => x === v);
  if (!p) throw new FlagError(`-protocol: "${v}" is not one of ${known.join(', ')}`);
  return p;
}

function port(name: string, v: number, allowAny: boolean): number {
  const min = allowAny ? 0 : 1;
  if (v < min || v > 65535) throw new FlagError(`-${name}: ${v} is not a port (${min}-65535)`);
  return v;
}

/** `[fd00::1]` → `fd00::1`; anything else must be an IP address. */
function ipFlag(name: string, v: string, example: string): string {
  const bare = v.replace(/^\[(.*)\]$/, '$1');
  if (canonicalIp(bare) === undefined)
    throw new FlagError(`-${name}: "${v}" is not an IPv4 or IPv6 address (e.g. -${name} ${example})`);
  return bare;
}

/** An IP address or a DNS name (the client resolves it); a port does not belong here. */
function hostFlag(name: string, v: string, example: string): string {
  const withPort = /^(\[.*\]|[^:]+):(\d+)$/.exec(v);
  if (withPort)
    throw new FlagError(
      `-${name}: "${v}" carries a port; give the address alone and the port as -webPort, -tcpPort or -udpPort (e.g. -${name} ${withPort[1]} -webPort ${withPort[2]})`,
    );
  if (/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v) && !/^[\d.]+$/.test(v)) return v;
  return ipFlag(name, v, example);
}

export function parseServerArgs(argv: readonly string[]): ServerOptions {
  const f = parseFlags(SERVER_FLAGS, argv);
  return {
    protocol: protocolOf(f.protocol, PROTOCOLS),
    addr: f.addr === '' ? '' : ipFlag('addr', f.addr, '0.0.0.0'),
    tcpPort: port('tcpPort', f.tcpPort, true),
    udpPort: port('udpPort', f.udpPort, true),
    webPort: port('webPort', f.webPort, true),
  };
}

export function parseClientArgs(argv: readonly string[]): ClientOptions {
  const f = parseFlags(CLIENT_FLAGS, argv);
  if (f.addr === '') throw new FlagError('-addr is required (the nettools-server IP, e.g. -addr 10.6.1.92)');
  if (f.timeout < 1) throw new FlagError(`-timeout: ${f.timeout} must be at least 1 second`);
  if (f.eip === '' && !f.contain)
    throw new FlagError('-contain false needs -eip: the address the server must NOT see');
  return {
    addr: hostFlag('addr', f.addr, '10.6.1.92'),
    protocol: protocolOf(f.protocol === 'wss' ? 'ws' : f.protocol, CLIENT_PROTOCOLS),
    tcpPort: port('tcpPort', f.tcpPort, false),
    udpPort: port('udpPort', f.udpPort, false),
    webPort: port('webPort', f.webPort, false),
    timeoutMs: f.timeout * 1000,
    eip: f.eip === '' ? '' : ipFlag('eip', f.eip, '172.22.0.110'),
    contain: f.contain,
  };
}
