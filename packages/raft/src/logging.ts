// Structured logs through pino. @rafter/actors logs through its own `Logger` shape
// (which pino satisfies) and knows nothing of Raft; a node given `createLogger()` writes
// pino lines for the runtime, and the Raft servers add their system, cluster and
// server to every line they write, on any scheduler (a worker scheduler forwards its
// records to the main thread's logger).

import type { Logger } from '@rafter/actors';
import { pino, type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';

export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  /** Default: the RAFTER_LOG_LEVEL environment variable, else 'warn' (quiet for tests and benchmarks). */
  readonly level?: LogLevel;
  /** Fields on every line, e.g. `{ node: 'n1' }`. */
  readonly bindings?: Readonly<Record<string, unknown>>;
  /** Where lines go; default stderr. */
  readonly destination?: DestinationStream;
}

const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A pino logger for `Node.start({ logger })`: one JSON line per record. */
export function createLogger(options: LoggerOptions = {}): PinoLogger {
  const fromEnv = process.env.RAFTER_LOG_LEVEL;
  const level = options.level ?? (fromEnv !== undefined && LEVELS.has(fromEnv) ? (fromEnv as LogLevel) : 'warn');
  const logger = pino({ level, base: { pid: process.pid, ...options.bindings } }, options.destination ?? pino.destination(2));
  return logger;
}

/**
 * `logger` with `bindings` on every line: pino's child logger where the logger is one,
 * else a wrapper that merges them (the forwarding logger of a worker scheduler, a
 * logger of the application's own).
 */
export function withBindings(logger: Logger, bindings: Readonly<Record<string, unknown>>): Logger {
  const child = (logger as Partial<{ child(bindings: object): Logger }>).child;
  if (typeof child === 'function') return child.call(logger, bindings);
  return new BoundLogger(logger, bindings);
}

/** A logger with bindings merged into each line; a class, so that thousands of servers share its methods. */
class BoundLogger implements Logger {
  constructor(
    private readonly logger: Logger,
    private readonly bindings: Readonly<Record<string, unknown>>,
  ) {}

  error(obj: object, msg?: string): void {
    this.logger.error({ ...this.bindings, ...obj }, msg);
  }

  warn(obj: object, msg?: string): void {
    this.logger.warn({ ...this.bindings, ...obj }, msg);
  }

  info(obj: object, msg?: string): void {
    this.logger.info({ ...this.bindings, ...obj }, msg);
  }

  debug(obj: object, msg?: string): void {
    this.logger.debug({ ...this.bindings, ...obj }, msg);
  }
}
