// Log storage as actors: servers append through the WAL actor and get written
// notices as messages, the WAL survives a kill through its supervisor without losing
// an acknowledged entry, and segments are written on the dirty pool.
import { type ActorContext, type Behaviour, DirtyJobError, Node, type Pid, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type LogSystemHandle,
  type SegmentNotice,
  type StartLogSystemOptions,
  type WalNotice,
  applyWalNotice,
  isWalNotice,
  openServerLog,
  startLogSystem,
} from '../../src/internal/log/log-actors.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';
import { LogSystem } from '../../src/internal/log/system.js';
import { cmd, tempDir } from './helpers.js';

interface WriterArgs {
  handle: LogSystemHandle;
  uid: string;
  /** Every written notice, as [from, to]. */
  seen: Array<[number, number]>;
  /** Called whenever lastWritten reaches `target`. */
  onTarget: (uid: string) => void;
}

interface WriterState {
  args: WriterArgs;
  log: ServerLog;
  target: number;
}

/** A stand-in for a Raft server: appends what it is told, reports when it is written. */
const writer: Behaviour<WriterState, WriterArgs> = {
  async init(ctx: ActorContext, args) {
    return { args, log: await openServerLog(ctx, args.handle, args.uid), target: 0 };
  },
  handle(msg: WalNotice | { type: 'append'; count: number }, state) {
    if (isWalNotice(msg)) {
      if (msg.type === 'written') state.args.seen.push([msg.from, msg.to]);
      applyWalNotice(state.log, msg);
    } else {
      const from = state.log.last().index + 1;
      state.target = from + msg.count - 1;
      for (let i = from; i <= state.target; i += 10) {
        const n = Math.min(10, state.target - i + 1);
        state.log.append(Array.from({ length: n }, (_, k) => ({ index: i + k, term: 1, payload: cmd(`${state.args.uid}:${i + k}`) })));
      }
    }
    if (state.target > 0 && state.log.lastWritten().index >= state.target) state.args.onTarget(state.args.uid);
    return state;
  },
};

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(extra: Partial<StartLogSystemOptions> = {}) {
  const t = tempDir('rafter-log-actors-');
  const node = await Node.start({ name: 'logtest', dirtyThreads: 1, logger: silentLogger });
  cleanups.push(t.cleanup, () => node.stop());
  const started = await startLogSystem(node, { dir: t.dir, ...extra });
  return { node, dir: t.dir, started, handle: started.handle };
}

/** Starts writers and a promise per round that resolves once every writer reached its target. */
async function startWriters(node: Node, handle: LogSystemHandle, count: number) {
  const seen = new Map<string, Array<[number, number]>>();
  let waiting = new Set<string>();
  let done: () => void = () => undefined;
  const pids: Pid[] = [];
  for (let w = 0; w < count; w++) {
    const uid = `server-${w}`;
    seen.set(uid, []);
    const args: WriterArgs = {
      handle,
      uid,
      seen: seen.get(uid) as Array<[number, number]>,
      onTarget: (id) => {
        if (waiting.delete(id) && waiting.size === 0) done();
      },
    };
    pids.push(await node.start(writer, args));
  }
  const round = (count: number): Promise<void> => {
    waiting = new Set(seen.keys());
    const p = new Promise<void>((resolve) => (done = resolve));
    for (const pid of pids) node.send(pid, { type: 'append', count });
    return p;
  };
  return { seen, round };
}

describe('log storage as actors', () => {
  it('batches many writers through the WAL actor; written notices arrive in order', async () => {
    const { node, dir, handle, started } = await setup();
    const { seen, round } = await startWriters(node, handle, 40);
    await round(100);
    await round(50);
    const counters = await node.call<{ syncs: number; entries: number }>(handle.wal!, { op: 'idle' });
    expect(counters.entries).toBe(40 * 150);
    expect(counters.syncs).toBeLessThan(40 * 15); // shared syncs, not one per server append
    for (const [uid, ranges] of seen) {
      expect(ranges[0]?.[0], uid).toBe(1);
      ranges.slice(1).forEach(([from], k) => expect(from, uid).toBe((ranges[k] as [number, number])[1] + 1));
      expect(ranges.at(-1)?.[1]).toBe(150);
    }
    await node.stop();
    await started.system.close();
    const sys = await LogSystem.open({ dir });
    expect(sys.server('server-17')?.entries(1, 150).map((e) => e.payload)).toEqual(Array.from({ length: 150 }, (_, i) => cmd(`server-17:${i + 1}`)));
    await sys.close();
  });

  it('restarts a killed WAL actor under its supervisor, recovers, and loses no acknowledged entry', async () => {
    const { node, dir, handle, started } = await setup();
    const { round } = await startWriters(node, handle, 20);
    await round(200);
    const acknowledged = new Map(started.system.serverIds().map((uid) => [uid, started.system.server(uid)?.lastWritten().index]));
    const before = handle.wal!;
    const down = node.monitor(before);
    // Entries in flight when the WAL dies: written by its successor after `walRestarted`.
    const next = round(200);
    node.exit(before, 'kill');
    expect((await down).reason).toBe('killed'); // Erlang's reason for an untrappable kill
    await next;
    expect(handle.wal).toBeDefined();
    expect(handle.wal?.id).not.toBe(before.id);
    for (const [uid, acked] of acknowledged) expect(started.system.server(uid)?.lastWritten().index, uid).toBeGreaterThanOrEqual(acked as number);
    await node.stop();
    await started.system.close();
    const sys = await LogSystem.open({ dir });
    for (const uid of acknowledged.keys()) {
      const log = sys.server(uid) as ServerLog;
      expect(log.last().index, uid).toBe(400);
      expect(log.entries(1, 400).map((e) => e.index)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    }
    await sys.close();
  });

  it('flushes rolled-over WAL files into segments on the dirty pool', async () => {
    const notices: SegmentNotice[] = [];
    const t = tempDir('rafter-log-actors-');
    const node = await Node.start({ name: 'logtest2', dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    let flushed: () => void = () => undefined;
    const gotFlush = new Promise<void>((resolve) => (flushed = resolve));
    const listener = node.spawn(async (ctx: ActorContext) => {
      for (;;) {
        notices.push((await ctx.receive()) as SegmentNotice);
        flushed();
      }
    });
    const { handle, system } = await startLogSystem(node, { dir: t.dir, listener, segmentMaxEntries: 16 });
    const { round } = await startWriters(node, handle, 5);
    await round(60);
    await node.call(handle.wal!, { op: 'rollover' });
    await gotFlush;
    await node.call(handle.segmentWriter!, { op: 'idle' });
    expect(notices[0]).toMatchObject({ type: 'segmentsFlushed', servers: 5 });
    const log = system.server('server-3') as ServerLog;
    expect(log.stats().memEntries).toBe(0);
    expect(log.stats().segmentFiles).toBe(4);
    expect(log.entries(1, 60).map((e) => e.payload)).toEqual(Array.from({ length: 60 }, (_, i) => cmd(`server-3:${i + 1}`)));
  });

  it('reports a failing dirty job as a typed error to the listener and the servers', async () => {
    const t = tempDir('rafter-log-actors-');
    const node = await Node.start({ name: 'logtest3', dirtyThreads: 1, logger: silentLogger });
    cleanups.push(t.cleanup, () => node.stop());
    let failed: (n: SegmentNotice) => void = () => undefined;
    const gotFailure = new Promise<SegmentNotice>((resolve) => (failed = resolve));
    const listener = node.spawn(async (ctx: ActorContext) => {
      failed((await ctx.receive()) as SegmentNotice);
    });
    const flushJob = { module: new URL('./fixtures/failing-flush.ts', import.meta.url).href, export: 'failFlush' };
    const { handle, system } = await startLogSystem(node, { dir: t.dir, listener, flushJob });
    const { round } = await startWriters(node, handle, 2);
    await round(10);
    await node.call(handle.wal!, { op: 'rollover' });
    const notice = await gotFailure;
    expect(notice.type).toBe('segmentFlushFailed');
    const error = (notice as { error: unknown }).error;
    expect(error).toBeInstanceOf(DirtyJobError);
    expect(error).toMatchObject({ code: 'ACTORS_DIRTY_JOB_FAILED' });
    expect(String((error as Error).message)).toContain('disk full (simulated)');
    // The server stops with that error rather than serving a log it could not flush.
    expect(() => system.server('server-0')?.entries(1, 10)).toThrow(DirtyJobError);
  });
});
