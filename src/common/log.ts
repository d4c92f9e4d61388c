// One structured logger for every process. Components take a child logger so each line says
// where it came from. LOG_ENCODER (upstream's env, set by the chart from *.debug.logEncoder)
// picks the line format: `json` (default) or `console` — tab-separated time, level, component
// and message, then the remaining fields as JSON, the shape of zap's console encoder.
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export type LogEncoder = 'json' | 'console';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** One pino JSON line → one console line (pure; exported for tests). */
export function consoleLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = o;
  const fields = Object.keys(rest).length ? `\t${JSON.stringify(rest)}` : '';
  const lvl = LEVEL_NAMES[level as number] ?? String(level);
  return `${String(time ?? '')}\t${lvl}\t${String(component ?? '')}\t${String(msg ?? '')}${fields}\n`;
}

function consoleStream(write: (line: string) => void): DestinationStream {
  return { write: (chunk: string) => write(consoleLine(chunk)) };
}

/**
 * `sync`: write each line before returning. For processes that log little and exit on a
 * signal, where an asynchronous write still in flight can land after the final flush.
 */
export function createLogger(
  component: string,
  level = process.env['LOG_LEVEL'] ?? 'info',
  opts: { sync?: boolean; encoder?: LogEncoder } = {},
): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  const encoder = opts.encoder ?? (process.env['LOG_ENCODER'] === 'console' ? 'console' : 'json');
  const dest = pino.destination({ dest: 1, sync: opts.sync ?? false });
  if (encoder === 'console')
    return pino(
      options,
      consoleStream((line) => dest.write(line)),
    );
  return opts.sync ? pino(options, dest) : pino(options);
}
