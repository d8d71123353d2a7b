// Failures on the shared WAL stay with the server they belong to: an invalid or
// oversized append fails that server's append (or, reaching the WAL actor, that server
// alone) with a typed error, a failed write tells the servers whose entries it lost,
// and the WAL actor that every server shares keeps serving the others.
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { RafterError } from '../../src/errors.js';
import { LogLimitError, LogWriteFailedError } from '../../src/internal/log/errors.js';
import { ENTRY_PAYLOAD_BYTES_MAX } from '../../src/internal/log/limits.js';
import { type LogSystemHandle, type WalNotice, type WalRequest, startLogSystem } from '../../src/internal/log/log-actors.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';
import { GatedWalFs } from './gated-fs.js';
import { tempDir } from './helpers.js';
import { type AppendCommand, type WriterArgs, type WriterReport, writer } from './writer-actor.js';

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(name: string) {
  const t = tempDir('rafter-log-failures-');
  const fs = new GatedWalFs();
  const node = await Node.start({ name, dirtyThreads: 1, logger: silentLogger });
  cleanups.push(t.cleanup, () => node.stop());
  const started = await startLogSystem(node, { dir: t.dir, fs, intensity: 1, periodMs: 60_000 });
  return { node, fs, handle: started.handle, system: started.system };
}

/** A writer actor and a function that resolves once its lastWritten reaches an index. */
async function startWriter(node: Node, handle: LogSystemHandle, uid: string) {
  const notices: WalNotice[] = [];
  const waiters: Array<{ index: number; resolve: () => void }> = [];
  const noticeWaiters: Array<{ type: WalNotice['type']; resolve: () => void }> = [];
  let log: ServerLog | undefined;
  const pid: Pid = await node.start(writer, {
    handle,
    uid,
    notices,
    onNotice: (l, notice) => {
      log = l;
      for (const w of noticeWaiters.filter((x) => x.type === notice.type)) w.resolve();
      for (const w of waiters.filter((x) => l.lastWritten().index >= x.index)) w.resolve();
    },
  } satisfies WriterArgs);
  const writtenUpTo = (index: number): Promise<void> =>
    log !== undefined && log.lastWritten().index >= index ? Promise.resolve() : new Promise((resolve) => waiters.push({ index, resolve }));
  const noticeOf = (type: WalNotice['type']): Promise<void> =>
    notices.some((n) => n.type === type) ? Promise.resolve() : new Promise((resolve) => noticeWaiters.push({ type, resolve }));
  return { pid, notices, writtenUpTo, noticeOf };
}

describe('a bad append on the shared WAL', () => {
  it('fails only the appending server with a typed error; the WAL actor lives on and acknowledges the others', async () => {
    const { node, handle } = await setup('oversized');
    const big = await startWriter(node, handle, 'big');
    const small = await startWriter(node, handle, 'small');
    const wal = handle.wal as Pid;
    let done = small.writtenUpTo(10);
    node.send(small.pid, { type: 'append', count: 10 });
    await done;

    const err = await node.call<unknown>(big.pid, { appendCommand: Buffer.alloc(ENTRY_PAYLOAD_BYTES_MAX + 1) } satisfies AppendCommand);
    expect(err).toBeInstanceOf(LogLimitError);
    expect(err).toBeInstanceOf(RafterError);
    expect((err as RafterError).code).toBe('RAFTER_LOG_LIMIT');
    // Refused whole: nothing of it is in the log, and the server can go on appending.
    expect((await node.call<WriterReport>(big.pid, 'report')).last).toBe(0);

    done = small.writtenUpTo(30);
    node.send(small.pid, { type: 'append', count: 20 });
    const bigDone = big.writtenUpTo(5);
    node.send(big.pid, { type: 'append', count: 5 });
    await done;
    await bigDone;
    expect(handle.wal?.id).toBe(wal.id);
    expect(handle.walEpoch).toBe(1);
    expect(small.notices.every((n) => n.type === 'written')).toBe(true);
  });

  it('refused by the WAL actor itself, fails that writer with writeFailed and no other', async () => {
    const { node, handle, system } = await setup('refused');
    const bad = await startWriter(node, handle, 'bad');
    const good = await startWriter(node, handle, 'good');
    const wal = handle.wal as Pid;
    // A request no ServerLog would send: a payload that is not bytes, and a negative term.
    node.send(wal, { type: 'appendBatch', writerId: 'bad', fromIndex: 1, terms: 1, payloads: ['not bytes'] } as unknown as WalRequest);
    node.send(wal, { type: 'appendBatch', writerId: 'bad', fromIndex: 1, terms: -1, payloads: [Buffer.from('x')] } satisfies WalRequest);
    node.send(wal, { type: 'appendBatch', writerId: 'bad', fromIndex: 1, terms: 1 } as unknown as WalRequest);
    const done = good.writtenUpTo(40);
    node.send(good.pid, { type: 'append', count: 40 });
    await done;
    await node.call(wal, { op: 'idle' });
    await node.call(bad.pid, 'report'); // its mailbox has taken the notices

    const failed = bad.notices.filter((n) => n.type === 'writeFailed');
    expect(failed).toEqual(Array.from({ length: 3 }, () => expect.objectContaining({ type: 'writeFailed', writerId: 'bad', from: 1, code: 'RAFTER_LOG_INVALID' })));
    // The bad server's log is stopped with a clear, typed error; the WAL is the same actor.
    const log = system.server('bad') as ServerLog;
    expect(log.failure()).toBeInstanceOf(LogWriteFailedError);
    expect((log.failure() as LogWriteFailedError).code).toBe('RAFTER_LOG_WRITE_FAILED');
    expect(() => log.entries(1, 1)).toThrow(LogWriteFailedError);
    expect(handle.wal?.id).toBe(wal.id);
    expect(good.notices.every((n) => n.type === 'written')).toBe(true);
  });
});

describe('a failed WAL write', () => {
  it('tells each server whose entries it lost, which stops with the error; the others resend to the restarted WAL', async () => {
    const { node, fs, handle, system } = await setup('syncfail');
    const lost = await startWriter(node, handle, 'lost');
    const later = await startWriter(node, handle, 'later');
    let done = lost.writtenUpTo(5);
    node.send(lost.pid, { type: 'append', count: 5 });
    await done;

    fs.closeGate();
    node.send(lost.pid, { type: 'append', count: 5 });
    await fs.syncHeld;
    fs.failNextSync(new Error('EIO: injected'));
    fs.openGate();
    await lost.noticeOf('writeFailed');
    expect(lost.notices.find((n) => n.type === 'writeFailed')).toMatchObject({ writerId: 'lost', from: 6, code: 'RAFTER_LOG_IO' });
    expect(lost.notices.filter((n) => n.type === 'written').at(-1)).toMatchObject({ to: 5 });
    expect(system.server('lost')?.failure()).toBeInstanceOf(LogWriteFailedError);
    expect(later.notices.some((n) => n.type === 'writeFailed')).toBe(false);

    // The WAL was restarted; a server with nothing lost goes on.
    done = later.writtenUpTo(20);
    node.send(later.pid, { type: 'append', count: 20 });
    await done;
    expect(handle.walEpoch).toBe(2);
  });
});
