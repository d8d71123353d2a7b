// Servers coming and going on the actor path: a deleted server is forgotten by the WAL
// actor, so one re-created with the same uid starts at index 1 with no stale notice,
// gap or resend; and a server may only open its log on the storage actors' scheduler.
import { type ActorContext, Node, type Pid, silentLogger } from '@rafter/actors';
import { readdirSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSchedulerError } from '../../src/internal/log/errors.js';
import {
  type LogSystemHandle,
  type WalNotice,
  deleteServerLog,
  openServerLog,
  startLogSystem,
} from '../../src/internal/log/log-actors.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';
import { LogSystem } from '../../src/internal/log/system.js';
import { cmd, tempDir } from './helpers.js';
import { type WriterArgs, type WriterReport, writer } from './writer-actor.js';

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** Starts a writer and a function that resolves once its lastWritten reaches an index. */
async function startWriter(node: Node, handle: LogSystemHandle, uid: string, tag: string) {
  const notices: WalNotice[] = [];
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => undefined;
  const pid: Pid = await node.start(writer, {
    handle,
    uid,
    tag,
    notices,
    onNotice: (log) => {
      if (log.lastWritten().index >= target) reached();
    },
  } satisfies WriterArgs);
  const writtenUpTo = (index: number): Promise<void> => {
    target = index;
    return new Promise((resolve) => (reached = resolve));
  };
  return { pid, notices, writtenUpTo };
}

describe('deleting a server through the actors', () => {
  it('makes the WAL actor forget it: the same uid starts fresh at index 1, with no stale notice or resend', async () => {
    const t = tempDir('rafter-log-delete-');
    const node = await Node.start({ name: 'deletes', dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    const { handle, system } = await startLogSystem(node, { dir: t.dir });
    const other = await startWriter(node, handle, 'bystander', 'b');
    const old = await startWriter(node, handle, 'server-x', 'old');
    let done = old.writtenUpTo(100);
    node.send(old.pid, { type: 'append', count: 100 });
    await done;
    done = other.writtenUpTo(50);
    node.send(other.pid, { type: 'append', count: 50 });

    // The old server's last appends are still queued in the WAL when it is stopped and deleted.
    node.send(old.pid, { type: 'append', count: 50 });
    expect((await node.call<WriterReport>(old.pid, 'report')).last).toBe(150); // sent to the WAL, not yet written
    const down = node.monitor(old.pid);
    node.exit(old.pid, 'kill');
    await down;
    const deleting = deleteServerLog(node, handle, 'server-x');
    // Opened meanwhile: waits for the deletion, then starts empty.
    const fresh = await startWriter(node, handle, 'server-x', 'new');
    await deleting;
    const log = system.server('server-x') as ServerLog;
    expect(log.last().index).toBe(0);
    expect(handle.writers.get('server-x')?.id).toBe(fresh.pid.id);

    const freshDone = fresh.writtenUpTo(20);
    node.send(fresh.pid, { type: 'append', count: 20 });
    await freshDone;
    await done;
    expect(fresh.notices.every((n) => n.type === 'written')).toBe(true);
    expect(fresh.notices[0]).toMatchObject({ from: 1 });
    expect(fresh.notices.at(-1)).toMatchObject({ to: 20 });
    expect(log.entries(1, 20).map((e) => e.payload)).toEqual(Array.from({ length: 20 }, (_, i) => cmd(`new:${i + 1}`)));
    const counters = await node.call<{ resends: number }>(handle.wal as Pid, { op: 'idle' });
    expect(counters.resends).toBe(0);

    // Nothing of the old server survives a restart: its WAL entries went with their file.
    await node.stop();
    await system.close();
    const reopened = await LogSystem.open({ dir: t.dir });
    const after = reopened.server('server-x') as ServerLog;
    expect(after.last().index).toBe(20);
    expect(after.entries(1, 20).map((e) => e.payload)).toEqual(Array.from({ length: 20 }, (_, i) => cmd(`new:${i + 1}`)));
    expect(reopened.server('bystander')?.last().index).toBe(50);
    await reopened.close();
  });

  it('keeps the old entries out of a server re-created and restarted before its first append', async () => {
    const t = tempDir('rafter-log-delete-');
    const node = await Node.start({ name: 'deletes2', dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    const { handle, system } = await startLogSystem(node, { dir: t.dir });
    const old = await startWriter(node, handle, 'server-y', 'old');
    const done = old.writtenUpTo(40);
    node.send(old.pid, { type: 'append', count: 40 });
    await done;
    const down = node.monitor(old.pid);
    node.exit(old.pid, 'kill');
    await down;
    await deleteServerLog(node, handle, 'server-y');
    await startWriter(node, handle, 'server-y', 'new');
    await node.stop();
    await system.close();
    const reopened = await LogSystem.open({ dir: t.dir });
    expect(reopened.server('server-y')?.last().index).toBe(0);
    await reopened.close();
  });
});

describe('the same-scheduler rule', () => {
  it('runs a log system and its servers together on a worker scheduler', async () => {
    const t = tempDir('rafter-log-sched-');
    const node = await Node.start({ name: 'twosched', schedulers: 2, dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    const host = await node.start({ module: new URL('./fixtures/log-on-worker.ts', import.meta.url).href, export: 'storageHost' }, { dir: t.dir }, { scheduler: 1 });
    expect(await node.call(host, { count: 30 })).toEqual({ home: { node: 'twosched@local', scheduler: 1 }, server: 1, written: 30 });
  });

  it('refuses openServerLog from an actor on another scheduler with a typed error that says where to run', async () => {
    const t = tempDir('rafter-log-sched-');
    const node = await Node.start({ name: 'home', schedulers: 2, dirtyThreads: 1, logger: silentLogger });
    // Another node in this process: its scheduler 0 shares the thread but not the storage actors.
    const away = await Node.start({ name: 'away', logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop(), () => away.stop());
    const { handle } = await startLogSystem(node, { dir: t.dir });
    let failed: (err: unknown) => void = () => undefined;
    const refusal = new Promise<unknown>((resolve) => (failed = resolve));
    away.spawn(async (ctx: ActorContext) => {
      await openServerLog(ctx, handle, 'stray').then(() => failed(undefined), failed);
    });
    const err = await refusal;
    expect(err).toBeInstanceOf(LogSchedulerError);
    expect(err).toMatchObject({ code: 'RAFTER_LOG_WRONG_SCHEDULER', home: { node: 'home@local', scheduler: 0 }, actor: { node: 'away@local', scheduler: 0 } });
    expect((err as Error).message).toContain('start the server\'s actor on scheduler 0 of node home@local');
    expect(handle.writers.has('stray')).toBe(false);
    // The storage was not touched: no log was created for it.
    expect(handle.system.serverIds()).not.toContain('stray');
  });
});

describe('stopping the node', () => {
  /** Paths of this process's open file descriptors (Linux). */
  const openPaths = (): string[] =>
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [readlinkSync(`/proc/self/fd/${fd}`)];
      } catch {
        return []; // closed while listing
      }
    });

  it('closes the open WAL file: the WAL actor traps the shutdown and runs terminate', async () => {
    const t = tempDir('rafter-log-stop-');
    cleanups.push(t.cleanup);
    const node = await Node.start({ name: 'stops', dirtyThreads: 1, logger: silentLogger });
    const { handle, system } = await startLogSystem(node, { dir: t.dir });
    const w = await startWriter(node, handle, 'server-s', 's');
    const done = w.writtenUpTo(20);
    node.send(w.pid, { type: 'append', count: 20 });
    await done;
    expect(openPaths().some((p) => p.startsWith(t.dir) && p.endsWith('.wal'))).toBe(true);
    await node.stop();
    await system.close();
    expect(openPaths().filter((p) => p.startsWith(t.dir))).toEqual([]);
  });
});
