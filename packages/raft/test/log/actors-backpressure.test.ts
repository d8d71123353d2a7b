// WAL back-pressure on the actor path: past its pending bound the WAL actor tells a
// writer `walBusy`, the writer holds its appends in its memory table, and the next
// `written` releases them, so nothing acknowledged is lost and all ends up written in order.
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { type WalNotice, startLogSystem } from '../../src/internal/log/log-actors.js';
import type { WalPort } from '../../src/internal/log/server-log.js';
import { LogSystem } from '../../src/internal/log/system.js';
import { GatedWalFs } from './gated-fs.js';
import { cmd, entries, tempDir } from './helpers.js';
import { type WriterArgs, writer } from './writer-actor.js';

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('WAL back-pressure through the actors', () => {
  it('tells a writer walBusy past the bound, holds its appends, and resumes on written with nothing lost', async () => {
    const t = tempDir('rafter-log-pressure-');
    const fs = new GatedWalFs();
    const node = await Node.start({ name: 'pressure', dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    const { handle, system } = await startLogSystem(node, { dir: t.dir, fs, walPendingEntriesMax: 50 });
    const notices: WalNotice[] = [];
    let busySeen: () => void = () => undefined;
    const gotBusy = new Promise<void>((resolve) => (busySeen = resolve));
    let allWritten: () => void = () => undefined;
    const gotAll = new Promise<void>((resolve) => (allWritten = resolve));
    const total = 140;
    const pid: Pid = await node.start(writer, {
      handle,
      uid: 'server-0',
      notices,
      onNotice: (log, notice) => {
        if (notice.type === 'walBusy') busySeen();
        if (log.lastWritten().index === total) allWritten();
      },
    } satisfies WriterArgs);
    const wal = handle.wal as Pid;

    fs.closeGate();
    node.send(pid, { type: 'append', count: 10 });
    await fs.syncHeld; // the first batch is in flight and stays there
    for (let i = 0; i < 5; i++) node.send(pid, { type: 'append', count: 20 });
    await gotBusy;
    const queued = await node.call<{ pendingEntries: number }>(wal, { op: 'counters' });
    expect(queued.pendingEntries).toBe(110); // everything sent before the notice is queued, not dropped

    // Held: these stay in the memory table, readable but neither sent nor written.
    node.send(pid, { type: 'append', count: 30 });
    expect(await node.call(pid, 'report')).toEqual({ held: true, unsent: 30, last: total, written: 0 });
    expect((await node.call<{ pendingEntries: number }>(wal, { op: 'counters' })).pendingEntries).toBe(110);
    expect(system.server('server-0')?.entries(111, 140).map((e) => e.index)).toEqual(Array.from({ length: 30 }, (_, i) => 111 + i));

    fs.openGate();
    await gotAll;
    expect(await node.call(pid, 'report')).toEqual({ held: false, unsent: 0, last: total, written: total });
    const written = notices.filter((n) => n.type === 'written');
    expect(written[0]).toMatchObject({ from: 1 });
    written.slice(1).forEach((n, k) => expect(n.from).toBe((written[k] as { to: number }).to + 1));
    expect(written.at(-1)).toMatchObject({ to: total });
    // Each walBusy is answered by a later `written`, which ended the hold.
    const busyAt = notices.flatMap((n, i) => (n.type === 'walBusy' ? [i] : []));
    expect(busyAt.length).toBeGreaterThanOrEqual(1);
    for (const i of busyAt) expect(notices.slice(i + 1).some((n) => n.type === 'written')).toBe(true);
    expect(notices.some((n) => n.type === 'resend')).toBe(false);

    await node.stop();
    await system.close();
    const reopened = await LogSystem.open({ dir: t.dir });
    expect(reopened.server('server-0')?.entries(1, total).map((e) => e.payload)).toEqual(Array.from({ length: total }, (_, i) => cmd(`server-0:${i + 1}`)));
    await reopened.close();
  });
});

/** A WAL port that records what a server log sends. */
function recordingPort(): WalPort & { sent: Array<[number, number]>; forgotten: number } {
  const port = {
    sent: [] as Array<[number, number]>,
    forgotten: 0,
    appendBatch(_writerId: string, fromIndex: number, _terms: number | readonly number[], payloads: readonly Uint8Array[]) {
      port.sent.push([fromIndex, fromIndex + payloads.length - 1]);
    },
    forget() {
      port.forgotten++;
    },
  };
  return port;
}

describe('ServerLog hold after walBusy', () => {
  async function openLog() {
    const t = tempDir('rafter-log-hold-');
    cleanups.push(t.cleanup);
    const system = await LogSystem.open({ dir: t.dir, externalWal: true });
    cleanups.push(() => system.close());
    const log = await system.openServer('s');
    const port = recordingPort();
    log.attachWal(port);
    return { log, port };
  }

  it('sends held entries from the first unsent one, a rewrite while held included', async () => {
    const { log, port } = await openLog();
    log.append(entries(1, 10, 1));
    log.onWalBusy(1);
    log.append(entries(11, 20, 1));
    log.append(entries(15, 18, 2)); // a follower overwriting part of what it holds
    expect(port.sent).toEqual([[1, 10]]);
    expect(log.unsentEntries()).toBe(8);
    log.onWritten(1, 1, 10);
    expect(port.sent).toEqual([[1, 10], [11, 18]]);
    expect(log.walHeld()).toBe(false);
    log.onWalBusy(1);
    log.append(entries(5, 6, 3)); // overwrites entries already sent: sent again from 5
    log.onWritten(2, 11, 18); // stale (overwritten) but still ends the hold
    expect(port.sent.at(-1)).toEqual([5, 6]);
    expect(log.lastWritten().index).toBe(4);
  });

  it('ignores a walBusy from a WAL incarnation older than the last restart', async () => {
    const { log, port } = await openLog();
    log.append(entries(1, 3, 1));
    log.onWalRestarted(2);
    expect(port.forgotten).toBe(1);
    expect(port.sent.at(-1)).toEqual([1, 3]); // resent to the new WAL
    log.onWalBusy(1);
    expect(log.walHeld()).toBe(false);
    log.append(entries(4, 4, 1));
    expect(port.sent.at(-1)).toEqual([4, 4]);
    log.onWalBusy(2);
    expect(log.walHeld()).toBe(true);
    log.onResend(5); // the WAL forgot us: nothing of ours is pending there, so the hold ends
    expect(log.walHeld()).toBe(false);
  });
});
