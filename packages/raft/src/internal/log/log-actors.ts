// Log storage as actors, as in Ra: one WAL actor per system and one segment writer
// actor, under a supervisor. The shells are thin: batching, gap detection and rollover
// stay in WalWriter, flush planning in SegmentWriter and ServerLog.
//
// Servers that use a system started here run on the same scheduler (thread) of the same
// node: the segment writer drains their memory tables (ServerLog objects) directly.
// openServerLog enforces it.
import {
  ActorExitedError,
  type ActorContext,
  type Behaviour,
  type ExitMessage,
  type CallResult,
  type ModuleRef,
  type Pid,
  type SpawnOptions,
  type ActorSpec,
  startSupervisor,
} from '@rafter/actors';
import { LogClosedError, LogError, LogInvalidError, LogSchedulerError, type LogWriteFailedError, failureReason } from './errors.js';
import { joinPath, type LogFs, NodeFs } from './fs.js';
import { SEGMENT_WRITER_SEEN_FILES_MAX } from './limits.js';
import { SEGMENT_FLUSH_JOB, reviveFlushResult } from './segment-flush-job.js';
import { SegmentWriter, type SegmentWriterCounters } from './segment-writer.js';
import { type SegmentFlushResult, flushBatchBuffers } from './segments.js';
import type { ServerLog, WalPort } from './server-log.js';
import { LogSystem, type LogSystemOptions } from './system.js';
import { scanWalDir } from './wal-recovery.js';
import { type ClosedWalFile, type WalCounters, WalWriter, type WalWriterStatus } from './wal.js';

// ---- messages ----

/** Server -> WAL: one `appendBatch` per ServerLog.append call (terms: one for all, or one per entry). */
export type WalRequest =
  | {
      readonly type: 'appendBatch';
      readonly writerId: string;
      readonly fromIndex: number;
      readonly terms: number | readonly number[];
      readonly payloads: readonly Uint8Array[];
    }
  | { readonly type: 'forget'; readonly writerId: string };

/**
 * WAL -> server. `written`: entries from..to, appended in `term`, are durable (a notice
 * whose term no longer matches the log is stale and ignored). `writeFailed`: entries
 * from `from` on were not written (`code`/`message`: the I/O error, or why the WAL
 * refused the append); the server must stop. `walBusy`: the WAL is past its pending
 * bound; the server holds its appends in memory until the next `written`. `epoch`
 * numbers WAL incarnations, so a late walBusy from a killed WAL cannot hold a server
 * its successor never heard of.
 */
export type WalNotice =
  | { readonly type: 'written'; readonly writerId: string; readonly term: number; readonly from: number; readonly to: number }
  | { readonly type: 'writeFailed'; readonly writerId: string; readonly from: number; readonly code: string; readonly message: string }
  | { readonly type: 'resend'; readonly writerId: string; readonly from: number }
  | { readonly type: 'walBusy'; readonly writerId: string; readonly epoch: number }
  | { readonly type: 'walRestarted'; readonly epoch: number };

/** Segment writer -> the system's listener. */
export type SegmentNotice =
  | { readonly type: 'segmentsFlushed'; readonly path: string; readonly servers: number }
  | { readonly type: 'segmentFlushFailed'; readonly path: string; readonly error: unknown };

/**
 * Calls both storage actors answer (`forget` and `attach` only the WAL: see
 * deleteServerLog and openServerLog).
 */
export type StorageCall =
  | { readonly op: 'idle' }
  | { readonly op: 'counters' }
  | { readonly op: 'rollover' }
  | { readonly op: 'forget'; readonly writerId: string }
  | { readonly op: 'attach'; readonly writerId: string };

/** The WAL's answer to `attach`: its incarnation and what it knows of the writer. */
export interface WalAttachReply {
  readonly epoch: number;
  readonly status: WalWriterStatus;
}

/** Where the storage actors run: servers of the system must run there too. */
export interface SchedulerHome {
  readonly node: string;
  readonly scheduler: number;
}

/**
 * What the storage actors and the servers of one system share. It outlives actor
 * restarts: a restarted WAL finds its writers' pids here, and silences its killed
 * predecessor's writer before reading the files.
 */
export interface LogSystemHandle {
  readonly system: LogSystem;
  readonly walDir: string;
  readonly fs: LogFs;
  readonly options: StartLogSystemOptions;
  /** Servers' pids by uid, for WAL notices. */
  readonly writers: Map<string, Pid>;
  wal: Pid | undefined;
  /** Bumped by each WAL actor's init; stamps walBusy and walRestarted. */
  walEpoch: number;
  /** Set once the supervisor runs. */
  home: SchedulerHome | undefined;
  segmentWriter: Pid | undefined;
  currentWal: WalWriter | undefined;
  currentSegmentWriter: SegmentWriter | undefined;
}

export interface StartLogSystemOptions extends Omit<LogSystemOptions, 'externalWal' | 'dirtyRunner' | 'onWritten'> {
  /** The dirty job that writes segments; tests pass a failing one. */
  readonly flushJob?: ModuleRef;
  /** Gets SegmentNotice messages (flushes done or failed). */
  readonly listener?: Pid;
  /**
   * Besides WalWriter's own bound (WAL_PENDING_BYTES_MAX), a writer is told `walBusy`
   * when the WAL holds more than this many entries not yet written. Default: no bound
   * here.
   */
  readonly walPendingEntriesMax?: number;
  /** Counters of the WAL and segment writer (a system keeps them in shared memory); default: plain objects per actor. */
  readonly counters?: { readonly wal: WalCounters; readonly segmentWriter: SegmentWriterCounters };
  readonly intensity?: number;
  readonly periodMs?: number;
}

// ---- WAL actor ----

interface WalState {
  readonly handle: LogSystemHandle;
  readonly wal: WalWriter;
  /** Writers told `walBusy` and not yet given a `written`. */
  readonly busy: Set<string>;
  readonly epoch: number;
  readonly pendingEntriesMax: number;
}

export const walActor: Behaviour<WalState, LogSystemHandle> = {
  async init(ctx, handle) {
    // Trapped, a shutdown runs terminate, which closes the open WAL file.
    ctx.trapExit(true);
    await handle.currentWal?.abandon();
    const epoch = ++handle.walEpoch;
    const found = await scanWalDir(handle.fs, handle.walDir);
    for (const w of found.warnings) ctx.log.warn({ wal: handle.walDir }, w);
    const busy = new Set<string>();
    const send = (writerId: string, msg: WalNotice): void => {
      const pid = handle.writers.get(writerId);
      if (pid !== undefined) whileAlive(() => ctx.send(pid, msg));
    };
    const wal = await WalWriter.open({
      ...(handle.options.wal ?? {}),
      dir: handle.walDir,
      fs: handle.fs,
      ...(handle.options.random ? { random: handle.options.random } : {}),
      firstSeq: found.lastSeq + 1,
      lastIndexes: found.lastIndexes,
      ...(handle.options.counters !== undefined ? { counters: handle.options.counters.wal } : {}),
      events: {
        written: (writerId, term, from, to) => {
          busy.delete(writerId);
          send(writerId, { type: 'written', writerId, term, from, to });
        },
        resend: (writerId, from) => send(writerId, { type: 'resend', writerId, from }),
        rolledOver: (file) => sendFile(ctx, handle, file),
        failed: (err, unwritten) => {
          // The servers whose entries were lost stop with the error; the others resend
          // to the restarted WAL. The file may hold a half-written batch: crash, and let
          // the restart recover it.
          const { code, message } = failureReason(err);
          for (const [writerId, from] of unwritten) send(writerId, { type: 'writeFailed', writerId, from, code, message });
          whileAlive(() => ctx.exit(ctx.self, { walFailed: message }));
        },
      },
    });
    handle.currentWal = wal;
    handle.wal = ctx.self;
    for (const file of found.closed) sendFile(ctx, handle, file);
    // Whatever a server sent the old WAL after its last `written` may be lost: every
    // server resends from its last written index.
    for (const pid of handle.writers.values()) ctx.send(pid, { type: 'walRestarted', epoch } satisfies WalNotice);
    return { handle, wal, busy, epoch, pendingEntriesMax: handle.options.walPendingEntriesMax ?? Number.POSITIVE_INFINITY };
  },

  handle(msg: WalRequest | ExitMessage, state, ctx) {
    if (msg.type === 'EXIT') {
      // Its only link is the supervisor: an exit signal means stop.
      ctx.stop(msg.reason);
    } else if (msg.type === 'appendBatch') {
      // Batching is WalWriter's: everything appended before its next flush shares one write and one sync.
      const pendingBefore = state.wal.pendingEntries();
      const belowBound = appendOrRefuse(state, msg, ctx);
      if (belowBound === undefined) return state;
      const pending = state.wal.pendingEntries();
      // Only a writer with entries queued here is told: its next `written` is sure to come and end the hold.
      if ((!belowBound || pending > state.pendingEntriesMax) && pending > pendingBefore && !state.busy.has(msg.writerId)) {
        state.busy.add(msg.writerId);
        const pid = state.handle.writers.get(msg.writerId);
        if (pid !== undefined) ctx.send(pid, { type: 'walBusy', writerId: msg.writerId, epoch: state.epoch } satisfies WalNotice);
      }
    } else if (msg.type === 'forget') {
      state.wal.forget(msg.writerId);
      state.busy.delete(msg.writerId);
    }
    return state;
  },

  async handleCall(req: StorageCall, _from, state): Promise<CallResult<WalState>> {
    if (req.op === 'idle') await state.wal.idle();
    else if (req.op === 'rollover') await state.wal.rollover();
    else if (req.op === 'forget') await forgetDeleted(state, req.writerId);
    else if (req.op === 'attach') {
      // Its `written` may have gone to the server's previous actor: the new one starts afresh.
      state.busy.delete(req.writerId);
      const reply: WalAttachReply = { epoch: state.epoch, status: state.wal.writerStatus(req.writerId) };
      return { reply, state };
    }
    const counters: WalCounters = { ...state.wal.counters };
    return { reply: { ...counters, pendingEntries: state.wal.pendingEntries() }, state };
  },

  async terminate(_reason, state, ctx) {
    if (state?.handle.wal !== undefined && state.handle.wal.id === ctx.self.id) state.handle.wal = undefined;
    // Not close(): that would acknowledge entries nobody will be told about.
    await state?.wal.abandon();
  },
};

/**
 * Queues a server's batch; returns WalWriter's below-bound flag, or undefined if the
 * batch was refused. A refused batch (invalid, or over a limit) fails only its writer,
 * with a `writeFailed` notice: the WAL is shared, so one server's bad append must not
 * crash it for all. A batch that reaches a closed (failed) WAL is dropped: the WAL's
 * restart makes every server resend.
 */
function appendOrRefuse(state: WalState, msg: Extract<WalRequest, { type: 'appendBatch' }>, ctx: ActorContext): boolean | undefined {
  try {
    return state.wal.appendBatch(msg.writerId, msg.fromIndex, msg.terms, msg.payloads);
  } catch (err) {
    if (err instanceof LogClosedError) return undefined;
    if (!(err instanceof LogError)) throw err;
    const pid = state.handle.writers.get(msg.writerId);
    if (pid !== undefined) ctx.send(pid, { type: 'writeFailed', writerId: msg.writerId, from: msg.fromIndex, code: err.code, message: err.message } satisfies WalNotice);
    else ctx.log.warn({ writerId: msg.writerId, code: err.code }, `WAL refused an append from a writer with no server: ${err.message}`);
    return undefined;
  }
}

/**
 * A deleted server: wait until its queued entries are written (no append is taken
 * meanwhile, so this ends), forget it, and close the file so the segment writer drops
 * its entries with the file. Nothing of the old server can then reach, or be
 * recovered into, a new server with the same uid.
 */
async function forgetDeleted(state: WalState, writerId: string): Promise<void> {
  await state.wal.idle();
  state.wal.forget(writerId);
  state.busy.delete(writerId);
  await state.wal.rollover();
}

function sendFile(ctx: ActorContext, handle: LogSystemHandle, file: ClosedWalFile): void {
  // With no segment writer running the file stays on disk: the segment writer's
  // restart restarts the WAL too (rest_for_one), which hands over every file again.
  const to = handle.segmentWriter;
  if (to !== undefined) whileAlive(() => ctx.send(to, { type: 'rolledOver', file }));
}

/**
 * Runs `act` unless the calling storage actor has exited: its WAL or flushes may
 * still report after a kill or a shutdown. What such a late notice carried is not
 * lost: the successor WAL tells every server to resend and hands every file over again.
 */
function whileAlive(act: () => void): void {
  try {
    act();
  } catch (err) {
    if (!(err instanceof ActorExitedError)) throw err;
  }
}

// ---- segment writer actor ----

interface SegmentWriterState {
  readonly handle: LogSystemHandle;
  readonly writer: SegmentWriter;
  /** WAL files queued or done, so a WAL restart handing a file over again is a no-op. */
  readonly seen: Set<string>;
}

export const segmentWriterActor: Behaviour<SegmentWriterState, LogSystemHandle> = {
  async init(ctx, handle) {
    // A killed predecessor's flushes may still run: two writers must never append to one segment.
    await handle.currentSegmentWriter?.idle();
    const job = handle.options.flushJob ?? SEGMENT_FLUSH_JOB;
    const listener = handle.options.listener;
    // Flushes outlive a stopped or killed segment writer; a notice from one that is gone is dropped.
    const notify = (msg: SegmentNotice): void => {
      if (listener !== undefined) whileAlive(() => ctx.send(listener, msg));
    };
    const walOptions = handle.options.wal;
    const writer = new SegmentWriter({
      fs: handle.fs,
      ...(walOptions?.checksums === false || walOptions?.reuseFiles === false ? { spareFiles: 0 } : {}),
      lookup: (uid) => handle.system.segmentTarget(uid),
      ...(handle.options.counters !== undefined ? { counters: handle.options.counters.segmentWriter } : {}),
      ...(handle.options.segmentConcurrency ? { concurrency: handle.options.segmentConcurrency } : {}),
      runner: async (task) => reviveFlushResult(await ctx.dirty<SegmentFlushResult>(job, task, { transfer: flushBatchBuffers(task.batch) })),
      events: {
        flushed: (file, servers) => {
          notify({ type: 'segmentsFlushed', path: file.path, servers });
        },
        // The servers concerned hold the typed error (ServerLog.segmentFlushFailed) and stop.
        failed: (file, error) => {
          handle.options.onFailure?.('segments', error);
          notify({ type: 'segmentFlushFailed', path: file.path, error });
        },
      },
    });
    handle.currentSegmentWriter = writer;
    handle.segmentWriter = ctx.self;
    return { handle, writer, seen: new Set() };
  },

  handle(msg: { type: 'rolledOver'; file: ClosedWalFile }, state) {
    if (msg?.type !== 'rolledOver' || state.seen.has(msg.file.path)) return state;
    if (state.seen.size >= SEGMENT_WRITER_SEEN_FILES_MAX) state.seen.delete(state.seen.values().next().value as string);
    state.seen.add(msg.file.path);
    state.writer.accept(msg.file);
    return state;
  },

  async handleCall(req: StorageCall, _from, state): Promise<CallResult<SegmentWriterState>> {
    if (req.op === 'idle') await state.writer.idle();
    return { reply: { ...state.writer.counters, pendingFiles: state.writer.pendingFiles() }, state };
  },

  terminate(_reason, state, ctx) {
    if (state?.handle.segmentWriter?.id === ctx.self.id) state.handle.segmentWriter = undefined;
  },
};

// ---- the system ----

type Starter = { start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid> };

export interface StartedLogSystem {
  readonly supervisor: Pid;
  readonly handle: LogSystemHandle;
  readonly system: LogSystem;
}

/**
 * Recovers a system's storage (memory tables from snapshots, segments and WAL files),
 * then starts the segment writer and the WAL actor under a rest_for_one supervisor:
 * a segment writer restart restarts the WAL, which hands every WAL file over again.
 */
export async function startLogSystem(starter: Starter, options: StartLogSystemOptions): Promise<StartedLogSystem> {
  const fs = options.fs ?? new NodeFs();
  const system = await LogSystem.open({ ...options, fs, externalWal: true });
  const handle: LogSystemHandle = {
    system,
    walDir: joinPath(options.dir, 'wal'),
    fs,
    options,
    writers: new Map(),
    wal: undefined,
    walEpoch: 0,
    home: undefined,
    segmentWriter: undefined,
    currentWal: undefined,
    currentSegmentWriter: undefined,
  };
  const supervisor = await startSupervisor(starter, {
    strategy: 'rest_for_one',
    ...(options.intensity !== undefined ? { intensity: options.intensity } : {}),
    ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}),
    children: [
      { id: 'segment_writer', start: { spec: segmentWriterActor, args: handle } },
      { id: 'wal', start: { spec: walActor, args: handle } },
    ],
  });
  // The supervisor starts its children on its own scheduler.
  handle.home = { node: supervisor.node, scheduler: supervisor.scheduler };
  return { supervisor, handle, system };
}

// ---- the server side ----

/**
 * Opens (or takes the recovered) log of server `uid` for the calling actor: its
 * appends go to the WAL actor as messages, and WAL notices come back to this actor,
 * which passes them to `applyWalNotice`.
 */
export async function openServerLog(ctx: ActorContext, handle: LogSystemHandle, uid: string): Promise<ServerLog> {
  const home = handle.home;
  if (home === undefined || home.node !== ctx.self.node || home.scheduler !== ctx.self.scheduler) {
    throw new LogSchedulerError(uid, ctx.self, home);
  }
  const log = await handle.system.openServer(uid);
  log.attachWal(walPort(ctx, handle));
  const earlierActor = handle.writers.has(uid);
  handle.writers.set(uid, ctx.self);
  const wal = handle.wal;
  if (wal !== undefined && !earlierActor && handle.currentWal !== undefined) {
    // The first actor of this server in this run: nothing of it waits in the WAL's
    // mailbox, so the WAL's state (on this thread) is read without a round trip, which
    // would otherwise cost every one of many servers starting at once.
    log.onWalAttached(handle.walEpoch, handle.currentWal.writerStatus(uid));
  } else if (wal !== undefined) {
    // A restarted server's actor: what the WAL told its previous actor is not lost.
    try {
      const reply = await ctx.call<WalAttachReply>(wal, { op: 'attach', writerId: uid } satisfies StorageCall);
      log.onWalAttached(reply.epoch, reply.status);
    } catch (err) {
      // A WAL that died meanwhile: its successor tells this actor `walRestarted`.
      unlessStopped(err);
    }
  }
  return log;
}

/** What `call`s the storage actors: an actor's context or a node. */
type Caller = { call<R = unknown>(dest: Pid, request: unknown, options?: { timeoutMs?: number }): Promise<R> };

/**
 * Deletes server `uid` for good through the actor system. Stop the server's actor
 * first, or call this from it. The WAL actor writes what the server had queued,
 * forgets the writer and rolls its file over, the segment writer drops the server's
 * entries with that file, then the server's files and meta go. A server opened with
 * the same uid afterwards (or meanwhile: it waits) starts at index 1.
 */
export async function deleteServerLog(caller: Caller, handle: LogSystemHandle, uid: string): Promise<void> {
  // No more notices to the old server's pid, nor to a new one for the old entries.
  handle.writers.delete(uid);
  // No timeout: both wait for work already queued (the segment writer for every WAL file
  // it holds, through the dirty pool), seconds on a loaded machine; a timeout would only
  // leave the deletion half done. An actor that dies answers with its DOWN.
  const untilDone = { timeoutMs: Infinity };
  await handle.system.deleteServer(uid, async () => {
    // A WAL being restarted rescans the files; a re-created server's index 1 is then a rewrite.
    if (handle.wal !== undefined) await caller.call(handle.wal, { op: 'forget', writerId: uid } satisfies StorageCall, untilDone).catch(unlessStopped);
    if (handle.segmentWriter !== undefined) await caller.call(handle.segmentWriter, { op: 'idle' } satisfies StorageCall, untilDone).catch(unlessStopped);
  });
}

/** A storage actor that died during the call is restarted and rescans the files: the deletion goes on. */
function unlessStopped(err: unknown): void {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code !== 'ACTORS_NOPROC' && code !== 'ACTORS_CALL_EXIT') throw err;
}

function walPort(ctx: ActorContext, handle: LogSystemHandle): WalPort {
  return new ActorWalPort(ctx, handle);
}

/** A server's way to the WAL actor; a class, so that many servers share its methods. */
class ActorWalPort implements WalPort {
  constructor(
    private readonly ctx: ActorContext,
    private readonly handle: LogSystemHandle,
  ) {}

  appendBatch(writerId: string, fromIndex: number, terms: number | readonly number[], payloads: readonly Uint8Array[]): void {
    // No WAL (restarting): dropped here, resent on its `walRestarted`.
    const wal = this.handle.wal;
    if (wal !== undefined) this.ctx.send(wal, { type: 'appendBatch', writerId, fromIndex, terms, payloads } satisfies WalRequest);
  }

  forget(writerId: string): void {
    const wal = this.handle.wal;
    if (wal !== undefined) this.ctx.send(wal, { type: 'forget', writerId } satisfies WalRequest);
  }
}

export function isWalNotice(msg: unknown): msg is WalNotice {
  const type = (msg as { type?: unknown } | undefined)?.type;
  return type === 'written' || type === 'writeFailed' || type === 'resend' || type === 'walBusy' || type === 'walRestarted';
}

/**
 * Applies a WAL notice to a server's log. After `walBusy` the log holds appends in its
 * memory table (`walHeld()`) and sends them on the next `written`; the server should
 * take no new work meanwhile. Returns the error of a `writeFailed` notice, with which
 * the server must stop (the log throws it from then on).
 */
export function applyWalNotice(log: ServerLog, msg: WalNotice): LogWriteFailedError | undefined {
  switch (msg.type) {
    case 'written':
      log.onWritten(msg.term, msg.from, msg.to);
      return;
    case 'writeFailed':
      return log.onWriteFailed(msg.from, { code: msg.code, message: msg.message });
    case 'resend':
      log.onResend(msg.from);
      return;
    case 'walRestarted':
      log.onWalRestarted(msg.epoch);
      return;
    case 'walBusy':
      log.onWalBusy(msg.epoch);
      return;
    default:
      throw new LogInvalidError(`unknown WAL notice ${JSON.stringify(msg satisfies never)}`);
  }
}
