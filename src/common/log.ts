// One structured JSON logger for every process. Components take a child logger so each
// line says where it came from.
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * `sync`: write each line before returning. For processes that log little and exit on a
 * signal, where an asynchronous write still in flight can land after the final flush.
 */
export function createLogger(
  component: string,
  level = process.env['LOG_LEVEL'] ?? 'info',
  opts: { sync?: boolean } = {},
): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return opts.sync ? pino(options, pino.destination({ dest: 1, sync: true })) : pino(options);
}
