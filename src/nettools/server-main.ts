// nettools-server: `-protocol tcp|udp|web|all`, `-addr`, `-tcpPort 8080`, `-udpPort 8081`,
// `-webPort 8082` (upstream's flags and defaults). JSON logs on stdout; SIGTERM/SIGINT close
// the listeners and exit 0.
import { createLogger } from '../common/log.ts';
import { parseServerArgs, SERVER_FLAGS } from './cli.ts';
import { FlagError, usage } from './flags.ts';
import { startServer } from './server.ts';

async function main(argv: readonly string[]): Promise<number | undefined> {
  const log = createLogger('nettools-server', undefined, { sync: true });
  let opts: ReturnType<typeof parseServerArgs>;
  try {
    opts = parseServerArgs(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`nettools-server: ${err.message}\n${usage('nettools-server', SERVER_FLAGS)}`);
    return 2;
  }
  let srv: Awaited<ReturnType<typeof startServer>>;
  try {
    srv = await startServer({
      ...opts,
      onAnswer: (e) => log.info(e, `${e.protocol} answer to ${e.remoteIp}`),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
    const hint =
      e.code === 'EADDRINUSE'
        ? ': another process holds the port; pick another with -tcpPort, -udpPort or -webPort'
        : e.code === 'EADDRNOTAVAIL'
          ? ': no interface has that address; check -addr'
          : e.code === 'EACCES'
            ? ': ports below 1024 need privileges; pick a higher port'
            : '';
    log.error({ code: e.code, addr: e.address, port: e.port }, `cannot listen: ${e.message}${hint}`);
    return 1;
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'nettools-server stopping');
    srv.close().then(() => {
      log.info('nettools-server stopped');
      process.exit(0);
    });
  };
  // Handlers first: whoever waits for "listening" may signal at once, and until a handler
  // exists SIGTERM kills the process outright.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  log.info({ protocol: opts.protocol, addr: srv.addr, ports: srv.ports }, 'nettools-server listening');
  return undefined;
}

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
