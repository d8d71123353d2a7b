// A server's actor that dies and is started again re-attaches to its log and learns
// what the WAL told the dead actor meanwhile: its written index, and a WAL restart
// (whose resend request went to the old pid), so nothing it appended is left unwritten.
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { type LogSystemHandle, type WalNotice, startLogSystem } from '../../src/internal/log/log-actors.js';
import { GatedWalFs } from './gated-fs.js';
import { cmd, tempDir } from './helpers.js';
import { type WriterArgs, type WriterReport, writer } from './writer-actor.js';

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(name: string) {
  const t = tempDir('rafter-log-reattach-');
  const fs = new GatedWalFs();
  const node = await Node.start({ name, dirtyThreads: 1, logger: silentLogger });
  cleanups.push(t.cleanup, () => node.stop());
  const started = await startLogSystem(node, { dir: t.dir, fs });
  return { node, fs, handle: started.handle, system: started.system };
}

async function startWriter(node: Node, handle: LogSystemHandle, uid: string) {
  const notices: WalNotice[] = [];
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => undefined;
  let awaited: { type: WalNotice['type']; resolve: () => void } | undefined;
  const pid: Pid = await node.start(writer, {
    handle,
    uid,
    notices,
    onNotice: (log, notice) => {
      if (log.lastWritten().index >= target) reached();
      if (notice.type === awaited?.type) awaited.resolve();
    },
  } satisfies WriterArgs);
  const noticeOf = (type: WalNotice['type']): Promise<void> =>
    notices.some((n) => n.type === type) ? Promise.resolve() : new Promise((resolve) => (awaited = { type, resolve }));
  /** Resolves once lastWritten reaches `index`, by a notice or already at the call. */
  const writtenUpTo = (index: number): Promise<void> => {
    target = index;
    const reachedNow = new Promise<void>((resolve) => (reached = resolve));
    void node.call<WriterReport>(pid, 'report').then((r) => r.written >= index && reached());
    return reachedNow;
  };
  return { pid, notices, writtenUpTo, noticeOf };
}

async function kill(node: Node, pid: Pid): Promise<void> {
  const down = node.monitor(pid);
  node.exit(pid, 'kill');
  await down;
}

/** Appends 10 entries written with the old actor, then 10 more whose `written` goes to it after its death. */
async function appendAndDie(node: Node, fs: GatedWalFs, handle: LogSystemHandle, uid: string): Promise<void> {
  const old = await startWriter(node, handle, uid);
  const done = old.writtenUpTo(10);
  node.send(old.pid, { type: 'append', count: 10 });
  await done;
  fs.closeGate();
  node.send(old.pid, { type: 'append', count: 10 });
  await fs.syncHeld;
  expect(await node.call<WriterReport>(old.pid, 'report')).toMatchObject({ last: 20, written: 10 });
  await kill(node, old.pid);
}

describe('a server actor restarted on its log', () => {
  it('learns the written index whose notice went to its dead predecessor', async () => {
    const { node, fs, handle } = await setup('reattach');
    await appendAndDie(node, fs, handle, 's1');
    fs.openGate();
    await node.call(handle.wal as Pid, { op: 'idle' }); // the notice for 11..20 went to the dead pid

    const fresh = await startWriter(node, handle, 's1');
    expect(await node.call<WriterReport>(fresh.pid, 'report')).toMatchObject({ last: 20, written: 20 });
    const done = fresh.writtenUpTo(25);
    node.send(fresh.pid, { type: 'append', count: 5 });
    await done;
    expect(fresh.notices.map((n) => n.type)).toEqual(['written']);
    expect(fresh.notices[0]).toMatchObject({ from: 21, to: 25 });
  });

  it('resends what a WAL restarted meanwhile never got, though its walRestarted went to the dead actor', async () => {
    const { node, fs, handle, system } = await setup('reattach-restart');
    const other = await startWriter(node, handle, 'other');
    const old = await startWriter(node, handle, 's2');
    const done = old.writtenUpTo(10);
    node.send(old.pid, { type: 'append', count: 10 });
    await done;
    // The WAL is killed with a batch of another server's in flight; its successor waits
    // for that batch, and meanwhile s2's next appends go to the dead WAL.
    fs.closeGate();
    node.send(other.pid, { type: 'append', count: 5 });
    await fs.syncHeld;
    await kill(node, handle.wal as Pid);
    node.send(old.pid, { type: 'append', count: 10 });
    expect(await node.call<WriterReport>(old.pid, 'report')).toMatchObject({ last: 20, written: 10 });
    await kill(node, old.pid);
    fs.openGate();
    await other.noticeOf('walRestarted'); // and s2's went to its dead actor
    expect(handle.walEpoch).toBe(2);

    const fresh = await startWriter(node, handle, 's2');
    await fresh.writtenUpTo(20);
    const log = system.server('s2');
    expect(log?.lastWritten()).toEqual({ index: 20, term: 1 });
    expect(log?.entries(1, 20).map((e) => e.payload)).toEqual(Array.from({ length: 20 }, (_, i) => cmd(`s2:${i + 1}`)));
  });
});
