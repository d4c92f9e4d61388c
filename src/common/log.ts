// One structured JSON logger for every process. Components take a child logger so each
// line says where it came from.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(component: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
