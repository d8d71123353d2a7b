// Test helpers: an inbox actor that tests can await, and a logger that records.

import { Node, type ActorContext, type Logger, type NodeOptions, type Pid } from '../src/index.js';

export interface Inbox {
  readonly pid: Pid;
  /** Resolves with the next message that matches (those skipped stay queued). */
  next<T = any>(match?: (msg: any) => boolean): Promise<T>;
}

/** A process actor whose messages the test can await. */
export function inbox(node: Node, options: { trapExit?: boolean } = {}): Inbox {
  const queued: unknown[] = [];
  const waiting: { match: (msg: any) => boolean; resolve: (msg: any) => void }[] = [];
  const pid = node.spawn(async (ctx: ActorContext) => {
    for (;;) {
      const msg = await ctx.receive();
      const i = waiting.findIndex((w) => w.match(msg));
      if (i >= 0) waiting.splice(i, 1)[0]!.resolve(msg);
      else queued.push(msg);
    }
  }, undefined, options);
  return {
    pid,
    next(match = () => true) {
      const i = queued.findIndex(match);
      if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0] as never);
      return new Promise((resolve) => waiting.push({ match, resolve }));
    },
  };
}

export interface LogRecord {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    records.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { records, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export async function startNode(options: NodeOptions = {}): Promise<Node & { records: LogRecord[] }> {
  const logger = recordingLogger();
  const node = await Node.start({ logger, ...options });
  return Object.assign(node, { records: logger.records });
}

export const fixtures = new URL('./fixtures/actors.ts', import.meta.url).href;
