// A system's log storage: meta store, shared WAL, segment writer and every server's
// log, with recovery on open. Recovery order per server: snapshot, then segments, then
// WAL files oldest first; recovered WAL files are then flushed to segments.
import type { IndexTerm } from '../core/log.js';
import { LogClosedError, LogCorruptionError, LogInvalidError, assert, failureReason } from './errors.js';
import { type LogFs, NodeFs, joinPath, safeFileName, unsafeFileName } from './fs.js';
import { RECOVERY_SERVERS_CONCURRENCY_MAX } from './limits.js';
import { MetaStore } from './meta.js';
import { SegmentStore } from './segments.js';
import { type DirtyRunner, SegmentWriter } from './segment-writer.js';
import { ServerLog } from './server-log.js';
import { type SnapshotPolicy, SnapshotStore } from './snapshot.js';
import { scanWal } from './wal-format.js';
import { addToRange, cutTail } from './wal-recovery.js';
import { type ClosedWalFile, type IndexRange, type SyncMethod, WalWriter, type WriteStrategy } from './wal.js';

export interface LogSystemOptions {
  readonly dir: string;
  readonly fs?: LogFs;
  readonly clock?: { now(): number };
  /** Uniform in [0, 1). */
  readonly random?: () => number;
  readonly wal?: {
    readonly maxSizeBytes?: number;
    readonly maxBatchBytes?: number;
    readonly maxBatchEntries?: number;
    readonly syncMethod?: SyncMethod;
    readonly writeStrategy?: WriteStrategy;
    readonly checksums?: boolean;
    /** Write new WAL files over flushed ones kept as spares (see WalOptions.reuseFiles). */
    readonly reuseFiles?: boolean;
  };
  readonly segmentMaxEntries?: number;
  readonly segmentMaxBytes?: number;
  readonly snapshotPolicy?: SnapshotPolicy;
  readonly dirtyRunner?: DirtyRunner;
  readonly segmentConcurrency?: number;
  /** Told when a server's lastWritten moves. */
  readonly onWritten?: (uid: string, lastWritten: IndexTerm) => void;
  /**
   * The WAL and segment writer run elsewhere (as actors, see log-actors.ts): recovery
   * replays the WAL into memory tables but opens no WAL writer and flushes nothing;
   * servers get their WAL port from `attachWal`.
   */
  readonly externalWal?: boolean;
  /** Told when the WAL or the segment writer fails; affected servers must stop. */
  readonly onFailure?: (what: 'wal' | 'segments', err: unknown) => void;
  /** Runs a function in a later turn (default setImmediate), for the WAL and meta store; a simulator passes its own. */
  readonly defer?: (fn: () => void) => void;
}

export interface RecoveryReport {
  readonly servers: number;
  readonly walFiles: number;
  readonly walEntries: number;
  readonly tornWalBytes: number;
  readonly warnings: readonly string[];
}

/** Until a server's actor attaches its WAL port, appends fail loudly rather than vanish. */
const DETACHED_WAL = {
  appendBatch(writerId: string): void {
    throw new LogClosedError(`WAL (server ${writerId} has no WAL attached)`);
  },
  forget(): void {},
};

/** A server's directories: its segments, and SnapshotStore's snapshots and checkpoints. */
const SERVER_SUBDIRS = ['segments', 'snapshots', 'checkpoints'] as const;
/** Servers whose directories openServers creates at once. */
const OPEN_SERVERS_CONCURRENCY = 32;

const DEFAULT_POLICY: SnapshotPolicy = { minIntervalMs: 0, minEntries: 4_096 };

export class LogSystem {
  private readonly servers = new Map<string, ServerLog>();
  private readonly failed = new Map<string, Error>();
  /** Deletions under way: opening the same uid waits for them, so it starts fresh. */
  private readonly deleting = new Map<string, Promise<void>>();
  private readonly fs: LogFs;
  private readonly clock: { now(): number };
  private wal: WalWriter | undefined;
  readonly segmentWriter: SegmentWriter;
  report!: RecoveryReport;

  private constructor(
    private readonly options: LogSystemOptions,
    readonly meta: MetaStore,
  ) {
    this.fs = options.fs ?? new NodeFs();
    this.clock = options.clock ?? { now: () => Date.now() };
    this.segmentWriter = new SegmentWriter({
      fs: this.fs,
      ...(options.wal?.checksums === false || options.wal?.reuseFiles === false ? { spareFiles: 0 } : {}),
      lookup: (uid) => this.servers.get(uid),
      ...(options.dirtyRunner ? { runner: options.dirtyRunner } : {}),
      ...(options.segmentConcurrency ? { concurrency: options.segmentConcurrency } : {}),
      events: { failed: (_file, err) => options.onFailure?.('segments', err) },
    });
  }

  private get serversDir(): string {
    return joinPath(this.options.dir, 'servers');
  }
  private get walDir(): string {
    return joinPath(this.options.dir, 'wal');
  }

  /**
   * Opens a system's storage, recovering every server. A server whose files are
   * corrupt is not opened: its error is in `failures()` and `server(uid)` throws it.
   */
  static async open(options: LogSystemOptions): Promise<LogSystem> {
    const fs = options.fs ?? new NodeFs();
    const meta = await MetaStore.open(options.dir, fs, options.defer);
    const sys = new LogSystem(options, meta);
    await sys.recover();
    return sys;
  }

  private newServerLog(uid: string, segments: SegmentStore, snapshots: SnapshotStore): ServerLog {
    const onWritten = this.options.onWritten;
    return new ServerLog(
      {
        uid,
        wal: this.options.externalWal ? DETACHED_WAL : { appendBatch: (w, i, t, p) => void this.walWriter().appendBatch(w, i, t, p), forget: (w) => this.walWriter().forget(w) },
        fs: this.fs,
        clock: this.clock,
        snapshotPolicy: this.options.snapshotPolicy ?? DEFAULT_POLICY,
        ...(this.options.segmentMaxEntries ? { segmentMaxEntries: this.options.segmentMaxEntries } : {}),
        ...(this.options.segmentMaxBytes ? { segmentMaxBytes: this.options.segmentMaxBytes } : {}),
        ...(onWritten ? { onWritten: (w: IndexTerm) => onWritten(uid, w) } : {}),
      },
      segments,
      snapshots,
    );
  }

  private async recoverServer(uid: string): Promise<void> {
    const dir = joinPath(this.serversDir, safeFileName(uid));
    try {
      const snapshots = await SnapshotStore.recover(dir, this.fs);
      const segments = await SegmentStore.recover(joinPath(dir, 'segments'), this.fs);
      const log = this.newServerLog(uid, segments, snapshots);
      log.checkSegments();
      this.servers.set(uid, log);
    } catch (err) {
      if (!(err instanceof LogCorruptionError) && !(err instanceof LogInvalidError) && !(err as { code?: string }).code?.startsWith('RAFTER_LOG')) throw err;
      this.failed.set(uid, err as Error);
    }
  }

  private async recover(): Promise<void> {
    await this.fs.mkdirp(this.serversDir);
    await this.fs.mkdirp(this.walDir);
    // New directories are durable only once their parent is synced.
    await this.fs.syncDir(this.options.dir);
    const uids = (await this.fs.readdir(this.serversDir)).filter((n) => !n.endsWith('.tmp')).map(unsafeFileName);
    // Servers are independent: recover several at once.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < uids.length) await this.recoverServer(uids[next++] as string);
    };
    await Promise.all(Array.from({ length: Math.min(RECOVERY_SERVERS_CONCURRENCY_MAX, uids.length) }, worker));

    const walNames = (await this.fs.readdir(this.walDir)).filter((n) => n.endsWith('.wal')).sort();
    const closed: ClosedWalFile[] = [];
    let walEntries = 0;
    let tornWalBytes = 0;
    let lastSeq = 0;
    const warnings: string[] = [];
    for (const [i, name] of walNames.entries()) {
      const path = joinPath(this.walDir, name);
      const seq = Number.parseInt(name, 10);
      lastSeq = Math.max(lastSeq, seq);
      const isLast = i === walNames.length - 1;
      const buf = await this.fs.readFile(path);
      const ranges = new Map<string, IndexRange>();
      let result;
      try {
        result = scanWal(buf, path, isLast, {
          entry: (uid, index, term, payload, offset) => {
            const log = this.servers.get(uid);
            if (log === undefined) return; // deleted server, or one that failed to recover
            try {
              log.recoverEntry(index, term, payload, path, offset);
            } catch (err) {
              this.failServer(uid, err);
              return;
            }
            walEntries++;
            addToRange(ranges, uid, index);
          },
        }, seq);
      } catch (err) {
        // The WAL is shared: corruption in it stops every server with entries in it
        // after that point. We cannot tell which, so all servers stop.
        for (const uid of [...this.servers.keys()]) this.failServer(uid, err);
        this.report = { servers: 0, walFiles: walNames.length, walEntries, tornWalBytes, warnings };
        throw err;
      }
      const cut = await cutTail(this.fs, path, buf, result);
      if (cut !== undefined) {
        tornWalBytes += buf.length - result.validBytes;
        warnings.push(cut.warning);
        if (cut.removed) continue;
      }
      closed.push({ seq, path, ranges });
    }
    for (const log of this.servers.values()) log.recovered();
    for (const log of this.servers.values()) warnings.push(...log.snapshots.warnings);

    this.report = { servers: this.servers.size, walFiles: walNames.length, walEntries, tornWalBytes, warnings };
    if (this.options.externalWal) return;
    const lastIndexes = new Map<string, number>();
    for (const [uid, log] of this.servers) lastIndexes.set(uid, log.last().index);
    const walOpts = this.options.wal ?? {};
    this.wal = await WalWriter.open({
      dir: this.walDir,
      fs: this.fs,
      ...(this.options.random ? { random: this.options.random } : {}),
      ...(this.options.defer ? { defer: this.options.defer } : {}),
      ...walOpts,
      firstSeq: lastSeq + 1,
      lastIndexes,
      events: {
        written: (uid, term, from, to) => this.servers.get(uid)?.onWritten(term, from, to),
        resend: (uid, from) => this.servers.get(uid)?.onResend(from),
        rolledOver: (file) => this.segmentWriter.accept(file),
        failed: (err, unwritten) => {
          const reason = failureReason(err);
          for (const [uid, from] of unwritten) this.servers.get(uid)?.onWriteFailed(from, reason);
          this.options.onFailure?.('wal', err);
        },
      },
    });
    for (const file of closed) this.segmentWriter.accept(file);
    this.report = { servers: this.servers.size, walFiles: walNames.length, walEntries, tornWalBytes, warnings };
  }

  private failServer(uid: string, err: unknown): void {
    this.servers.delete(uid);
    this.failed.set(uid, err instanceof Error ? err : new Error(String(err)));
  }

  /** The WAL writer (for counters and explicit rollover); none with `externalWal`. */
  walWriter(): WalWriter {
    if (this.wal === undefined) throw new LogInvalidError('this log system has an external WAL (an actor); use its pid');
    return this.wal;
  }

  /** A server's log as the segment writer sees it; undefined if unknown or failed. */
  segmentTarget(uid: string): ServerLog | undefined {
    return this.servers.get(uid);
  }

  /** Servers that failed recovery, with their typed errors. */
  failures(): ReadonlyMap<string, Error> {
    return this.failed;
  }

  serverIds(): string[] {
    return [...this.servers.keys()];
  }

  /** The log of a recovered or opened server; throws its recovery error if it failed. */
  server(uid: string): ServerLog | undefined {
    const err = this.failed.get(uid);
    if (err !== undefined) throw err;
    return this.servers.get(uid);
  }

  /** Opens (creating if new) a server's log. The directory is durable before any append. */
  async openServer(uid: string): Promise<ServerLog> {
    const log = await this.openServerDir(uid);
    if (log.created) await this.fs.syncDir(this.serversDir);
    return log.log;
  }

  /**
   * Opens (creating if new) the logs of many servers, a few at a time, with one sync of
   * the servers' directory for all of them: starting many servers at once costs a
   * directory sync per server, not three.
   */
  async openServers(uids: readonly string[], concurrency = OPEN_SERVERS_CONCURRENCY): Promise<void> {
    let next = 0;
    let created = false;
    const worker = async (): Promise<void> => {
      while (next < uids.length) {
        if ((await this.openServerDir(uids[next++] as string)).created) created = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, uids.length) }, worker));
    if (created) await this.fs.syncDir(this.serversDir);
  }

  /** The server's directory and its subdirectories, synced once; its parent is not. */
  private async openServerDir(uid: string): Promise<{ log: ServerLog; created: boolean }> {
    await this.deleting.get(uid)?.catch(() => undefined);
    const existing = this.server(uid);
    if (existing !== undefined) return { log: existing, created: false };
    assert(uid.length > 0, 'server uid must not be empty');
    const dir = joinPath(this.serversDir, safeFileName(uid));
    // Every subdirectory now, so that one sync makes them all durable.
    await Promise.all(SERVER_SUBDIRS.map((sub) => this.fs.mkdirp(joinPath(dir, sub))));
    await this.fs.syncDir(dir);
    const segments = await SegmentStore.recover(joinPath(dir, 'segments'), this.fs);
    const snapshots = await SnapshotStore.recover(dir, this.fs);
    // Opened meanwhile by another caller: theirs stands.
    const raced = this.servers.get(uid);
    if (raced !== undefined) return { log: raced, created: true };
    const log = this.newServerLog(uid, segments, snapshots);
    this.servers.set(uid, log);
    return { log, created: true };
  }

  /**
   * Deletes a server's log and meta for good. The server is unknown to the segment
   * writer at once; `drain` (the actor shell's: the WAL actor forgets the writer, the
   * segment writer goes idle) runs before its files go. Opening the same uid meanwhile
   * waits, then starts at index 1.
   */
  async deleteServer(uid: string, drain?: () => Promise<void>): Promise<void> {
    const pending = this.deleting.get(uid);
    if (pending !== undefined) return pending;
    const deletion = (async () => {
      this.servers.delete(uid);
      this.failed.delete(uid);
      this.wal?.forget(uid);
      await drain?.();
      await this.meta.delete(uid);
      await this.fs.rmrf(joinPath(this.serversDir, safeFileName(uid)));
    })();
    this.deleting.set(uid, deletion);
    try {
      await deletion;
    } finally {
      this.deleting.delete(uid);
    }
  }

  /** Resolves when the WAL has written everything appended and the segment writer is idle. */
  async idle(): Promise<void> {
    await this.wal?.idle();
    await this.segmentWriter.idle();
  }

  async close(): Promise<void> {
    await this.wal?.close();
    await this.segmentWriter.idle();
    await this.meta.close();
  }
}
