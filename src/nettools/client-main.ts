// nettools-client: asks a nettools-server which source address it saw.
// Exit code: 0 when every probe matched `-eip` (or no -eip given and the server answered),
// 1 on a mismatch, 2 on bad flags or no answer.
import { describe, probe } from './client.ts';
import { FlagError, parseFlags, portFlag, usage } from './flags.ts';

const CLIENT_FLAGS = {
  addr: { kind: 'string', default: '', help: 'server address (required)' },
  protocol: { kind: 'string', default: 'tcp', help: 'tcp, udp, web or all' },
  tcpPort: { kind: 'int', default: 8080, help: 'TCP port' },
  udpPort: { kind: 'int', default: 8081, help: 'UDP port' },
  webPort: { kind: 'int', default: 8082, help: 'HTTP port' },
  timeout: { kind: 'int', default: 10, help: 'seconds to wait for each answer' },
  eip: { kind: 'string', default: '', help: 'the source address the server must see' },
  contain: { kind: 'bool', default: true, help: 'true: the server must see -eip; false: anything else' },
  batch: { kind: 'bool', default: false, help: 'accepted for compatibility; every run is one batch' },
} as const;

function main(): Promise<number> | number {
  let f: ReturnType<typeof parseFlags<typeof CLIENT_FLAGS>>;
  try {
    f = parseFlags(CLIENT_FLAGS, process.argv.slice(2));
    if (!f.addr) throw new FlagError('-addr is required');
    if (!['tcp', 'udp', 'web', 'all'].includes(f.protocol))
      throw new FlagError(`-protocol: "${f.protocol}" is not one of tcp, udp, web, all`);
    for (const k of ['tcpPort', 'udpPort', 'webPort'] as const) portFlag(k, f[k]);
  } catch (err) {
    console.error(`nettools-client: ${(err as Error).message}\n${usage('nettools-client', CLIENT_FLAGS)}`);
    return 2;
  }
  const opts = {
    addr: f.addr,
    protocol: f.protocol as 'tcp' | 'udp' | 'web' | 'all',
    tcpPort: f.tcpPort,
    udpPort: f.udpPort,
    webPort: f.webPort,
    timeoutMs: f.timeout * 1000,
    eip: f.eip,
    contain: f.contain,
  };
  return probe(opts).then((results) => {
    for (const r of results) console.log(describe(r, opts));
    if (results.some((r) => r.error)) return 2;
    return results.every((r) => r.ok) ? 0 : 1;
  });
}

process.exitCode = await main();
