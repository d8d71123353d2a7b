// Typed errors of log storage. Callers branch on `code`, never on the message.
import { RafterError } from '../../errors.js';

export type LogErrorCode =
  | 'RAFTER_LOG_CORRUPT'
  | 'RAFTER_LOG_VERSION'
  | 'RAFTER_LOG_CLOSED'
  | 'RAFTER_LOG_LIMIT'
  | 'RAFTER_LOG_INVALID'
  | 'RAFTER_LOG_NOT_FOUND'
  | 'RAFTER_LOG_IO'
  | 'RAFTER_LOG_WRONG_SCHEDULER'
  | 'RAFTER_LOG_WRITE_FAILED';

/** Every storage error is a RafterError with one of the codes above. */
export class LogError extends RafterError {
  declare readonly code: LogErrorCode;
  constructor(
    code: LogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = new.target.name;
  }
}

/**
 * A file failed its checksum or structure check somewhere other than a torn tail. The
 * affected server must stop: continuing could lose acknowledged entries.
 */
export class LogCorruptionError extends LogError {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      'RAFTER_LOG_CORRUPT',
      `log file ${file} is corrupt at offset ${offset}: ${reason}; ` +
        'the server cannot start from it; restore the file or rebuild the member from its peers',
    );
  }
}

/** A file carries a format version this code does not read. */
export class LogVersionError extends LogError {
  constructor(
    readonly file: string,
    readonly version: number,
    readonly supported: number,
  ) {
    super(
      'RAFTER_LOG_VERSION',
      `log file ${file} has format version ${version}; this build reads version ${supported}`,
    );
  }
}

export class LogClosedError extends LogError {
  constructor(what: string) {
    super('RAFTER_LOG_CLOSED', `${what} is closed`);
  }
}

/** A bound from limits.ts was hit; the caller must back off or split its work. */
export class LogLimitError extends LogError {
  constructor(what: string, value: number, max: number) {
    super('RAFTER_LOG_LIMIT', `${what} is ${value}, above the limit of ${max}`);
  }
}

/** A caller passed something the log cannot accept (e.g. an index gap). */
export class LogInvalidError extends LogError {
  constructor(message: string) {
    super('RAFTER_LOG_INVALID', message);
  }
}

export class LogIoError extends LogError {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super('RAFTER_LOG_IO', `I/O failed on ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Asserts catch our own bugs; a failure names what broke. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export class LogNotFoundError extends LogError {
  constructor(message: string) {
    super('RAFTER_LOG_NOT_FOUND', message);
  }
}

/**
 * A server opened its log from an actor on another scheduler (thread) or node than the
 * system's storage actors: the segment writer reads servers' memory tables directly.
 */
export class LogSchedulerError extends LogError {
  constructor(
    readonly uid: string,
    readonly actor: { readonly node: string; readonly scheduler: number },
    readonly home: { readonly node: string; readonly scheduler: number } | undefined,
  ) {
    super(
      'RAFTER_LOG_WRONG_SCHEDULER',
      home === undefined
        ? `server ${uid}: its log system has not finished starting; open the log once startLogSystem has resolved`
        : `server ${uid}: openServerLog was called from an actor on node ${actor.node} scheduler ${actor.scheduler}, ` +
            `but this log system's storage actors run on node ${home.node} scheduler ${home.scheduler}; ` +
            `start the server's actor on scheduler ${home.scheduler} of node ${home.node}, or start a log system on the server's scheduler`,
    );
  }
}

/**
 * The WAL did not write a server's entries from `fromIndex` on: a write or sync failed,
 * or it refused the append (`reason.code` says which). Those entries are not durable
 * and the server must stop; a restart recovers its log from what is on disk.
 */
export class LogWriteFailedError extends LogError {
  constructor(
    readonly uid: string,
    readonly fromIndex: number,
    readonly reason: { readonly code: string; readonly message: string },
  ) {
    super(
      'RAFTER_LOG_WRITE_FAILED',
      `server ${uid}: the WAL did not write its entries from index ${fromIndex} (${reason.code}: ${reason.message}); ` +
        'they are not durable: stop the server and restart it, which recovers its log from disk',
    );
  }
}

/** An error as plain data for a notice: its code (UNKNOWN if it has none) and message. */
export function failureReason(err: unknown): { code: string; message: string } {
  const code = (err as { code?: unknown } | undefined)?.code;
  return { code: typeof code === 'string' ? code : 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
