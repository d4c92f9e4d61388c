// nettools-client: asks a nettools-server which source address it saw, one line per protocol
// on stdout. Exit code: 0 as expected, 1 the server saw the wrong address, 2 bad flags or no
// usable answer (upstream's client exited 0 whatever it saw).
import { CLIENT_FLAGS, parseClientArgs } from './cli.ts';
import { describe, exitCode, probe } from './client.ts';
import { FlagError, usage } from './flags.ts';

async function main(argv: readonly string[]): Promise<number> {
  let opts: ReturnType<typeof parseClientArgs>;
  try {
    opts = parseClientArgs(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`nettools-client: ${err.message}\n${usage('nettools-client', CLIENT_FLAGS)}`);
    return 2;
  }
  const results = await probe(opts);
  for (const r of results) console.log(describe(r, opts));
  return exitCode(results);
}

process.exitCode = await main(process.argv.slice(2));
