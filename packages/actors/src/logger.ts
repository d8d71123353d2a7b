// A logger shape that pino satisfies, so applications can pass their own.

export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

type Level = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: Record<Level, number> = { error: 50, warn: 40, info: 30, debug: 20 };

/** One JSON line per record on stderr, at `level` and above. */
export function stderrLogger(level: Level = 'warn', bindings: object = {}): Logger {
  const min = LEVELS[level];
  const write = (lvl: Level, obj: object, msg?: string) => {
    if (LEVELS[lvl] < min) return;
    const record = { level: lvl, time: Date.now(), ...bindings, ...serializable(obj), msg };
    process.stderr.write(JSON.stringify(record) + '\n');
  };
  return {
    error: (obj, msg) => write('error', obj, msg),
    warn: (obj, msg) => write('warn', obj, msg),
    info: (obj, msg) => write('info', obj, msg),
    debug: (obj, msg) => write('debug', obj, msg),
  };
}

/** A logger that drops everything: for tests and benchmarks that assert on events instead. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };

function serializable(obj: object): object {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    out[key] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
  }
  return out;
}
