// Structured logs: a node given createLogger() writes pino JSON lines, and every line a
// Raft server writes names its system, cluster and server.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Node } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, processCommand, registerMachine, startCluster, startSystem } from '../../src/index.js';

registerMachine('logging-counter', {
  init: () => 0,
  apply: (_meta: unknown, command: number, state: number) => ({ state: state + command, reply: state + command, effects: [{ type: 'send', to: 'nobody-here', msg: 'hello' }] }),
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('logs', () => {
  it('are pino lines naming the system, cluster and server', async () => {
    const { lines, stream } = capture();
    const dir = mkdtempSync(join(tmpdir(), 'rafter-logging-'));
    const node = await Node.start({ name: 'logs', dirtyThreads: 1, logger: createLogger({ level: 'info', destination: stream, bindings: { node: 'logs' } }) });
    const system = await startSystem(node, { name: 'logsys', dataDir: dir });
    cleanup.push(async () => {
      await system.stop();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    const { leader } = await startCluster(system, 'logged', 'logging-counter', ids, { via: node });
    // The machine's send to a name not registered here is dropped with a warning.
    await processCommand(ids, 1, { via: node });
    const elected = lines.find((l) => l.msg === 'raft server: elected leader');
    expect(elected).toMatchObject({ level: 30, system: 'logsys', cluster: 'logged', server: leader?.name, node: 'logs' });
    expect(typeof elected?.term).toBe('number');
    const dropped = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('a machine send effect was dropped'));
    expect(dropped).toMatchObject({ level: 40, system: 'logsys', cluster: 'logged', server: leader?.name });
  });

  it('stay quiet below warn by default', () => {
    const { lines, stream } = capture();
    const previous = process.env.RAFTER_LOG_LEVEL;
    delete process.env.RAFTER_LOG_LEVEL;
    try {
      const logger = createLogger({ destination: stream });
      logger.info({ cluster: 'x' }, 'not written');
      logger.warn({ cluster: 'x' }, 'written');
      expect(lines.map((l) => l.msg)).toEqual(['written']);
    } finally {
      if (previous !== undefined) process.env.RAFTER_LOG_LEVEL = previous;
    }
  });
});
