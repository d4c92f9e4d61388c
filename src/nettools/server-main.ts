// nettools-server: `-protocol tcp|udp|web|all`, `-addr`, `-tcpPort 8080`, `-udpPort 8081`,
// `-webPort 8082` (upstream's flags and defaults).
import { createLogger } from '../common/log.ts';
import { FlagError, parseFlags, portFlag, usage } from './flags.ts';
import { type Protocol, startServer } from './server.ts';

export const SERVER_FLAGS = {
  addr: { kind: 'string', default: '', help: 'listen address (default: all addresses, IPv4 and IPv6)' },
  protocol: { kind: 'string', default: 'tcp', help: 'tcp, udp, web or all' },
  tcpPort: { kind: 'int', default: 8080, help: 'TCP port' },
  udpPort: { kind: 'int', default: 8081, help: 'UDP port' },
  webPort: { kind: 'int', default: 8082, help: 'HTTP port' },
} as const;

async function main(): Promise<void> {
  const log = createLogger('nettools-server');
  let f: ReturnType<typeof parseFlags<typeof SERVER_FLAGS>>;
  try {
    f = parseFlags(SERVER_FLAGS, process.argv.slice(2));
    if (!['tcp', 'udp', 'web', 'all'].includes(f.protocol))
      throw new FlagError(`-protocol: "${f.protocol}" is not one of tcp, udp, web, all`);
    for (const k of ['tcpPort', 'udpPort', 'webPort'] as const) portFlag(k, f[k]);
  } catch (err) {
    console.error(`nettools-server: ${(err as Error).message}\n${usage('nettools-server', SERVER_FLAGS)}`);
    process.exit(2);
  }
  const srv = await startServer({
    protocol: f.protocol as Protocol,
    addr: f.addr,
    tcpPort: f.tcpPort,
    udpPort: f.udpPort,
    webPort: f.webPort,
    log: (msg) => log.debug(msg),
  });
  log.info({ ports: srv.ports, addr: f.addr || '*' }, `nettools-server listening (${f.protocol})`);
  const stop = async () => {
    await srv.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main();
