// One Raft member's log: memory table + segments + snapshot behind the core's
// LogReader contract. Appends go to the memory table and the shared WAL; the WAL's
// `written` notices advance lastWritten; the segment writer drains the memory table.
import type { EntryPayload, IndexTerm, LogEntry, LogReader, SnapshotMeta } from '../core/log.js';
import { decodeValue, encodeValue, ownedCopies } from './codec.js';
import { LogCorruptionError, LogInvalidError, LogLimitError, LogWriteFailedError, assert } from './errors.js';
import type { LogFs } from './fs.js';
import {
  ENTRY_PAYLOAD_BYTES_MAX,
  READ_CACHE_ENTRIES_MAX,
  SEGMENT_BYTES_MAX,
  SEGMENT_ENTRIES_MAX,
  SEGMENT_READ_BYTES_MAX,
  SEGMENT_READ_ENTRIES_MAX,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  WAL_SEND_ENTRIES_MAX,
} from './limits.js';
import { type MemEntry, MemTable } from './memtable.js';
import { ReadCache } from './read-cache.js';
import { type SegmentFlushResult, type SegmentFlushTask, type SegmentStore, flushBatchOf } from './segments.js';
import type { SegmentTarget } from './segment-writer.js';
import { type SnapshotChunk, type SnapshotPolicy, type SnapshotReader, SnapshotStore, shouldSnapshot } from './snapshot.js';
import type { IndexRange, WalWriterStatus } from './wal.js';

/** What a server log needs from the shared WAL. */
export interface WalPort {
  /** Entries fromIndex.. of one term or terms[i] (consecutive); a fromIndex at or below the last sent one is a rewrite. */
  appendBatch(writerId: string, fromIndex: number, terms: number | readonly number[], payloads: readonly Uint8Array[]): void;
  forget(writerId: string): void;
}

export interface ServerLogOptions {
  readonly uid: string;
  readonly wal: WalPort;
  readonly fs: LogFs;
  readonly clock: { now(): number };
  readonly snapshotPolicy: SnapshotPolicy;
  readonly segmentMaxEntries?: number;
  readonly segmentMaxBytes?: number;
  /** Told whenever lastWritten moves (the shell feeds it to the core). */
  readonly onWritten?: (lastWritten: IndexTerm) => void;
  /** A checkpoint that waited for its entry failed to write (it only costs replay time at a restart). */
  readonly onCheckpointFailed?: (err: unknown) => void;
}

/** A snapshot being received from the leader (ServerLog.acceptSnapshot). */
export interface IncomingSnapshot {
  write(seq: number, data: Buffer): Promise<void>;
  finish(): Promise<SnapshotMeta>;
  accept(chunk: SnapshotChunk): Promise<SnapshotMeta | undefined>;
  abort(): Promise<void>;
}

export class ServerLog implements LogReader, SegmentTarget {
  readonly uid: string;
  private readonly mem = new MemTable();
  /** Segments hold entries up to here; above it they are stale (overwritten, not yet re-flushed). */
  private segLimit: number;
  private written: IndexTerm = { index: 0, term: 0 };
  private flushesInFlight = 0;
  private overwriteFloor = Number.POSITIVE_INFINITY;
  private deferredDropTo: number | undefined;
  private flushWaiters: Array<() => void> | undefined;
  private lastSnapshotAtMs: number | undefined;
  private stopped: Error | undefined;
  private snapshotting = false;
  private wal: WalPort;
  /** Highest index handed to the WAL; entries above it wait in the memory table. */
  private sentTo = 0;
  /** The WAL said walBusy: appends stay in the memory table until its next `written`. */
  private held = false;
  /**
   * Newest WAL incarnation heard from (0: none yet), so a late walBusy from a dead WAL
   * cannot hold us, and a re-attach can tell that a restart happened meanwhile.
   */
  private walEpoch = 0;
  /** Bumped whenever entries already in the log change or go (overwrite, snapshot): an async read in flight then stops. */
  private generation = 0;
  private readonly cache = new ReadCache();
  /** A checkpoint waiting for its entry to be written. */
  private pendingCheckpoint: { meta: SnapshotMeta; data: Uint8Array; done: (written: boolean) => void } | undefined;
  /** The checkpoint being written. */
  private checkpointing: { index: number; done: Promise<unknown> } | undefined;

  constructor(
    private readonly options: ServerLogOptions,
    readonly segments: SegmentStore,
    readonly snapshots: SnapshotStore,
  ) {
    this.uid = options.uid;
    this.wal = options.wal;
    this.segLimit = segments.last() ?? 0;
    const snap = snapshots.current();
    if (snap !== undefined) this.written = { index: snap.index, term: snap.term };
    this.sentTo = Math.max(this.segLimit, this.written.index);
  }

  // ---- LogReader ----

  first(): number {
    const snap = this.snapshots.current();
    if (snap !== undefined) return snap.index + 1;
    return this.segFirst() ?? this.mem.first() ?? 1;
  }

  last(): IndexTerm {
    const index = this.mem.last() ?? Math.max(this.segLimit, this.snapshots.current()?.index ?? 0);
    return { index, term: this.termAt(index) ?? 0 };
  }

  lastWritten(): IndexTerm {
    return this.written;
  }

  termAt(index: number): number | undefined {
    const snap = this.snapshots.current();
    if (snap !== undefined && index <= snap.index) return index === snap.index ? snap.term : undefined;
    const m = this.mem.get(index);
    if (m !== undefined) return m.term;
    const memFirst = this.mem.first();
    if (index > this.segLimit || (memFirst !== undefined && index >= memFirst)) return undefined;
    return this.segments.termAt(index);
  }

  entries(from: number, to: number): readonly LogEntry[] {
    this.checkRunning();
    const snap = this.snapshots.current();
    if (snap !== undefined && from <= snap.index) {
      throw new LogInvalidError(`server ${this.uid}: entries from ${from} are in the snapshot at ${snap.index}; send the snapshot`);
    }
    const last = this.last().index;
    const hi = Math.min(to, last);
    const out: LogEntry[] = [];
    if (from > hi) return out;
    const memFirst = this.mem.first() ?? last + 1;
    if (from < memFirst) {
      const segTo = Math.min(hi, memFirst - 1, this.segLimit);
      const segFrom = this.cache.take(from, segTo, out);
      if (segFrom <= segTo) {
        for (const e of this.segments.read(segFrom, segTo)) {
          out.push({ index: e.index, term: e.term, payload: this.decode(e.bytes, e.index) });
        }
      }
      assert(out.length === segTo - from + 1, `server ${this.uid}: segments returned ${out.length} entries for ${from}..${segTo}`);
    }
    for (let i = Math.max(from, memFirst); i <= hi; i++) out.push(this.memEntry(i));
    return out;
  }

  /**
   * Reads from..to (cut at the last entry) in slices, without holding the thread: the
   * segment part is read with asynchronous I/O, at most SEGMENT_READ_ENTRIES_MAX
   * entries and SEGMENT_READ_BYTES_MAX bytes per slice, so the WAL (on the same
   * thread) writes between slices. For a lagging follower's entries. If the log is
   * overwritten or truncated meanwhile, the read ends early: read again from there.
   */
  async *readEntries(from: number, to: number): AsyncGenerator<readonly LogEntry[]> {
    this.checkRunning();
    const snap = this.snapshots.current();
    if (snap !== undefined && from <= snap.index) {
      throw new LogInvalidError(`server ${this.uid}: entries from ${from} are in the snapshot at ${snap.index}; send the snapshot`);
    }
    let i = from;
    // Bounded: every round yields at least one entry or ends.
    for (;;) {
      this.checkRunning();
      const hi = Math.min(to, this.last().index);
      if (i > hi) return;
      const memFirst = this.mem.first() ?? hi + 1;
      if (i >= memFirst) {
        const sliceTo = Math.min(hi, i + SEGMENT_READ_ENTRIES_MAX - 1);
        const slice: LogEntry[] = [];
        for (let k = i; k <= sliceTo; k++) slice.push(this.memEntry(k));
        i = sliceTo + 1;
        yield slice;
        continue;
      }
      const generation = this.generation;
      const segTo = Math.min(hi, memFirst - 1, this.segLimit);
      let raw;
      try {
        raw = await this.segments.readSlice(i, segTo, SEGMENT_READ_ENTRIES_MAX, SEGMENT_READ_BYTES_MAX);
      } catch (err) {
        // A file cut or deleted under the read by an overwrite or snapshot is not damage.
        if (generation !== this.generation) return;
        throw err;
      }
      if (generation !== this.generation) return;
      // The message is built only on failure: this runs once per slice.
      if (!(raw.length > 0 && raw[0]?.index === i)) assert(false, `server ${this.uid}: segments do not hold ${i} (limit ${this.segLimit})`);
      const slice = raw.map((e) => ({ index: e.index, term: e.term, payload: this.decode(e.bytes, e.index) }));
      i += slice.length;
      yield slice;
    }
  }

  /**
   * Reads from..to (at most READ_CACHE_ENTRIES_MAX entries) with readEntries and keeps
   * the segment part decoded, so that the synchronous `entries()` the core calls then
   * serves it without touching the disk. A shell awaits this before it steps the core
   * with an event that makes a leader read a lagging follower's entries.
   */
  async prefetch(from: number, to: number): Promise<void> {
    const hi = Math.min(to, from + READ_CACHE_ENTRIES_MAX - 1);
    const generation = this.generation;
    const got: LogEntry[] = [];
    for await (const slice of this.readEntries(from, hi)) {
      const memFirst = this.mem.first();
      for (const e of slice) {
        if (memFirst !== undefined && e.index >= memFirst) break;
        got.push(e);
      }
    }
    if (generation === this.generation) this.cache.set(from, got);
  }

  /** Entries at and above `index` changed or went: in-flight reads stop, the cache keeps what is below. */
  private changedFrom(index: number): void {
    this.generation++;
    this.cache.cutFrom(index);
  }

  /** Entries went from the front (a snapshot): reads in flight stop, the cache goes. */
  private truncated(): void {
    this.generation++;
    this.cache.clear();
  }

  snapshot(): SnapshotMeta | undefined {
    return this.snapshots.current();
  }

  // ---- appends and WAL notices ----

  /**
   * Appends entries (consecutive, terms never below the entry before). A first index at
   * or below last() overwrites from there. Entries reach the WAL in the same call. An
   * invalid or oversized append throws a LogInvalidError or LogLimitError and changes
   * nothing.
   */
  append(entries: readonly LogEntry[]): void {
    this.checkRunning();
    const first = entries[0];
    if (first === undefined) return;
    const payloads = this.checkAppend(entries);
    if (first.index <= this.last().index) this.overwriteFrom(first.index);
    const terms: number[] = [];
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k] as LogEntry;
      this.mem.append({ index: e.index, term: e.term, bytes: payloads[k] as Uint8Array, entry: e });
      terms.push(e.term);
    }
    // Held back while the WAL is busy: the memory table keeps them, sendFrom sends them later.
    if (this.held) return;
    this.wal.appendBatch(this.uid, first.index, oneTermOrAll(terms), payloads);
    this.sentTo = first.index + entries.length - 1;
  }

  /** Checks an append against the log and the limits; returns the encoded payloads. */
  private checkAppend(entries: readonly LogEntry[]): Uint8Array[] {
    const first = entries[0] as LogEntry;
    const last = this.last().index;
    const snapIndex = this.snapshots.current()?.index ?? 0;
    if (!Number.isSafeInteger(first.index) || first.index <= snapIndex || first.index > last + 1) {
      throw new LogInvalidError(`server ${this.uid}: cannot append index ${first.index}; last is ${last}, snapshot at ${snapIndex}`);
    }
    const payloads: Uint8Array[] = [];
    let prevTerm = this.termAt(first.index - 1) ?? 0;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k] as LogEntry;
      if (e.index !== first.index + k) {
        throw new LogInvalidError(`server ${this.uid}: appended entries must be consecutive; index ${e.index} follows ${first.index + k - 1}`);
      }
      if (!Number.isSafeInteger(e.term) || e.term < prevTerm) {
        throw new LogInvalidError(`server ${this.uid}: entry ${e.index} has term ${e.term}, below the term ${prevTerm} before it; terms in a log never decrease`);
      }
      prevTerm = e.term;
      const bytes = encodeValue(e.payload);
      if (bytes.length > ENTRY_PAYLOAD_BYTES_MAX) {
        throw new LogLimitError(`server ${this.uid}: the encoded payload of entry ${e.index} (bytes)`, bytes.length, ENTRY_PAYLOAD_BYTES_MAX);
      }
      payloads.push(bytes);
    }
    return ownedCopies(payloads);
  }

  /** True while appends are held back after walBusy; the shell should stop taking new work. */
  walHeld(): boolean {
    return this.held;
  }

  /** Entries in the memory table not yet handed to the WAL. */
  unsentEntries(): number {
    return Math.max(0, (this.mem.last() ?? 0) - this.sentTo);
  }

  /** Sends the memory table from `from` to its end, in requests of at most WAL_SEND_ENTRIES_MAX. */
  private sendFrom(from: number): void {
    const last = this.mem.last();
    const memFirst = this.mem.first();
    if (last === undefined || memFirst === undefined) return;
    let i = Math.max(from, memFirst);
    while (i <= last) {
      const to = Math.min(last, i + WAL_SEND_ENTRIES_MAX - 1);
      const terms: number[] = [];
      const payloads: Uint8Array[] = [];
      for (let k = i; k <= to; k++) {
        const m = this.mem.get(k) as MemEntry;
        terms.push(m.term);
        payloads.push(m.bytes);
      }
      this.wal.appendBatch(this.uid, i, oneTermOrAll(terms), payloads);
      this.sentTo = to;
      i = to + 1;
    }
  }

  private overwriteFrom(index: number): void {
    this.changedFrom(index);
    if (this.written.index >= index) this.written = { index: index - 1, term: this.termAt(index - 1) ?? 0 };
    if (this.sentTo >= index) this.sentTo = index - 1;
    if (index <= this.segLimit) this.segLimit = index - 1;
    if (this.flushesInFlight > 0) this.overwriteFloor = Math.min(this.overwriteFloor, index);
    this.mem.truncateFrom(index);
  }

  /** Points appends at another WAL (an actor's port once the server's actor runs). */
  attachWal(port: WalPort): void {
    this.wal = port;
  }

  /** WAL notice: entries from..to of `term` are durable. Stale notices (overwritten) are ignored. */
  onWritten(term: number, from: number, to: number): void {
    assert(from <= to, `server ${this.uid}: written ${from}..${to}`);
    // Any `written` after walBusy ends the hold (the WAL clears its busy mark when it sends one).
    if (this.held) {
      this.held = false;
      this.sendFrom(this.sentTo + 1);
    }
    if (to <= this.written.index || this.termAt(to) !== term) return;
    this.written = { index: to, term };
    this.options.onWritten?.(this.written);
    if (this.pendingCheckpoint !== undefined) this.checkpointIfWritten();
  }

  /** WAL notice: it saw a gap; send everything still in memory from `from` again. */
  onResend(from: number): void {
    this.wal.forget(this.uid);
    // The WAL forgot us, so nothing of ours is pending there: a hold would never end.
    this.held = false;
    this.sendFrom(from);
  }

  /**
   * WAL notice: it is past its pending bound. Appends stay in the memory table (readable,
   * not written) until the next `written`, then go in one request. `epoch` numbers WAL
   * incarnations: a walBusy from one that has since been restarted is ignored.
   */
  onWalBusy(epoch: number): void {
    if (epoch < this.walEpoch) return;
    this.walEpoch = epoch;
    this.held = true;
  }

  /** WAL notice: a new WAL incarnation lost what was not acknowledged; send it again. */
  onWalRestarted(epoch: number): void {
    this.walEpoch = Math.max(this.walEpoch, epoch);
    this.onResend(this.written.index + 1);
  }

  /**
   * The server's actor (re)attached to the WAL, which answered with what it knows of
   * this writer: notices sent to a previous actor in between are not lost. The log
   * takes the written index, resends what a restarted WAL lost or a gap dropped, and
   * ends a hold whose `written` went to the old actor (the WAL cleared its busy mark).
   */
  onWalAttached(epoch: number, status: WalWriterStatus): void {
    const attachedBefore = this.walEpoch > 0;
    this.held = false;
    if (status.written !== undefined) this.onWritten(status.written.term, status.written.index, status.written.index);
    if (attachedBefore && epoch > this.walEpoch) {
      this.onWalRestarted(epoch);
      return;
    }
    this.walEpoch = Math.max(this.walEpoch, epoch);
    if (status.awaitingFrom !== undefined) this.onResend(status.awaitingFrom);
    else if (this.sentTo < (this.mem.last() ?? 0)) this.sendFrom(this.sentTo + 1);
  }

  /**
   * WAL notice: entries from `fromIndex` on were not written (a failed write or sync,
   * or an append the WAL refused). The log stops: reads and appends throw the
   * returned LogWriteFailedError, and the server must stop with it.
   */
  onWriteFailed(fromIndex: number, reason: { readonly code: string; readonly message: string }): LogWriteFailedError {
    const err = new LogWriteFailedError(this.uid, fromIndex, reason);
    this.stopped ??= err;
    return err;
  }

  /** The error that stopped this log (a failed write or segment flush), if any. */
  failure(): Error | undefined {
    return this.stopped;
  }

  // ---- segment writer ----

  planSegmentFlush(range: IndexRange): SegmentFlushTask | undefined {
    const memFirst = this.mem.first();
    const memLast = this.mem.last();
    if (memFirst === undefined || memLast === undefined) return undefined;
    const snapIndex = this.snapshots.current()?.index ?? 0;
    const from = Math.max(range.from, memFirst, snapIndex + 1);
    const to = Math.min(range.to, memLast);
    if (from > to) return undefined;
    const batch = flushBatchOf(from, this.mem.slice(from, to));
    this.flushesInFlight++;
    return this.segments.planFlush(batch, this.options.segmentMaxEntries ?? SEGMENT_ENTRIES_MAX, this.options.segmentMaxBytes ?? SEGMENT_BYTES_MAX);
  }

  segmentsFlushed(task: SegmentFlushTask, result: SegmentFlushResult): void {
    this.segments.applyFlush(task, result);
    const flushedFrom = task.batch.firstIndex;
    const flushedTo = flushedFrom + task.batch.count - 1;
    // Entries overwritten while the flush ran are stale in the segments.
    const floor = this.overwriteFloor;
    this.segLimit = Math.min(this.segments.last() ?? 0, floor - 1);
    const memFirst = this.mem.first();
    if (memFirst !== undefined && memFirst >= flushedFrom) this.mem.dropUpTo(Math.min(flushedTo, floor - 1));
    this.flushDone();
  }

  segmentFlushFailed(_task: SegmentFlushTask, err: unknown): void {
    this.stopped ??= err instanceof Error ? err : new Error(String(err));
    this.flushDone();
  }

  private flushDone(): void {
    this.flushesInFlight--;
    if (this.flushesInFlight > 0) return;
    this.overwriteFloor = Number.POSITIVE_INFINITY;
    const drop = this.deferredDropTo;
    this.deferredDropTo = undefined;
    if (drop !== undefined) void this.dropSegmentsUpTo(drop);
    const waiters = this.flushWaiters;
    this.flushWaiters = undefined;
    for (const w of waiters ?? []) w();
  }

  private flushesIdle(): Promise<void> {
    if (this.flushesInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.flushWaiters ??= []).push(resolve));
  }

  // ---- snapshots ----

  /**
   * A machine's release cursor: snapshot at meta.index if the policy allows, then
   * truncate the log below it. Resolves true if a snapshot was written.
   */
  async releaseCursor(meta: SnapshotMeta, state: unknown): Promise<boolean> {
    const now = this.options.clock.now();
    // One snapshot at a time: a cursor released while one is written is skipped, as in Ra.
    if (this.snapshotting) return false;
    if (!shouldSnapshot(this.snapshots.current(), this.lastSnapshotAtMs, meta.index, now, this.options.snapshotPolicy)) return false;
    this.checkSnapshotMeta(meta);
    this.snapshotting = true;
    try {
      await this.snapshots.write('snapshot', meta, state);
    } finally {
      this.snapshotting = false;
    }
    this.lastSnapshotAtMs = now;
    this.truncated();
    this.mem.dropUpTo(meta.index);
    if (this.flushesInFlight > 0) this.deferredDropTo = meta.index;
    else await this.dropSegmentsUpTo(meta.index);
    return true;
  }

  /**
   * A recovery checkpoint: the machine state at applied index meta.index, written without
   * truncating the log. One whose entry is not yet written here waits until it is (a
   * newer one replaces it); one at or below the newest snapshot or checkpoint is
   * skipped. Resolves true once written, false if skipped or replaced.
   */
  checkpoint(meta: SnapshotMeta, state: unknown): Promise<boolean> {
    if (meta.index <= this.newestPoint()) return Promise.resolve(false);
    // Encoded now: the machine may change the state it handed over once apply returns.
    const data = encodeValue(state);
    if (meta.index <= this.written.index) return this.writeCheckpoint(meta, data);
    this.pendingCheckpoint?.done(false);
    return new Promise((done) => {
      this.pendingCheckpoint = { meta, data, done };
    });
  }

  /** The newest index a snapshot or checkpoint covers. */
  private newestPoint(): number {
    return Math.max(this.snapshots.current()?.index ?? 0, this.snapshots.checkpoints().at(-1)?.index ?? 0, this.checkpointing?.index ?? 0);
  }

  private async writeCheckpoint(meta: SnapshotMeta, data: Uint8Array): Promise<boolean> {
    // One at a time: a checkpoint asked for meanwhile waits for this one, then is rechecked.
    while (this.checkpointing !== undefined) await this.checkpointing.done;
    if (meta.index <= this.newestPoint()) return false;
    this.checkSnapshotMeta(meta);
    const done = this.snapshots.writeEncoded('checkpoint', meta, data);
    this.checkpointing = { index: meta.index, done: done.catch(() => undefined) };
    try {
      await done;
    } finally {
      this.checkpointing = undefined;
    }
    return true;
  }

  /** A checkpoint that waited for its entry: written once the WAL has it (called from onWritten). */
  private checkpointIfWritten(): void {
    const pending = this.pendingCheckpoint;
    if (pending === undefined || pending.meta.index > this.written.index) return;
    this.pendingCheckpoint = undefined;
    // The entry may have been overwritten meanwhile (it was applied, so it cannot be): checked again.
    this.writeCheckpoint(pending.meta, pending.data).then(pending.done, (err: unknown) => {
      pending.done(false);
      this.options.onCheckpointFailed?.(err);
    });
  }

  /**
   * For a restart: the newest intact checkpoint past the snapshot whose index this log
   * holds with the same term, read and decoded; bad ones are skipped (see warnings).
   */
  recoveryCheckpoint(): Promise<{ meta: SnapshotMeta; state: unknown } | undefined> {
    const last = this.last().index;
    const snapIndex = this.snapshots.current()?.index ?? 0;
    return this.snapshots.readCheckpoint((meta) => meta.index > snapIndex && meta.index <= last && this.termAt(meta.index) === meta.term);
  }

  /** snapshotBackup: replaced snapshots are archived in a bounded backup folder, not deleted. */
  setSnapshotBackup(enabled: boolean): void {
    this.snapshots.backup = enabled;
  }

  private checkSnapshotMeta(meta: SnapshotMeta): void {
    if (meta.index > this.written.index || this.termAt(meta.index) !== meta.term) {
      throw new LogInvalidError(`server ${this.uid}: snapshot at ${meta.index} term ${meta.term} is not a written entry of this log`);
    }
  }

  readSnapshot(): Promise<{ meta: SnapshotMeta; state: unknown }> {
    return this.snapshots.read();
  }

  readSnapshotChunks(chunkBytes = SNAPSHOT_CHUNK_BYTES_DEFAULT): AsyncGenerator<SnapshotChunk> {
    return this.snapshots.readChunks(chunkBytes);
  }

  /** The current snapshot's file for sending to a follower, chunk by chunk at any position. */
  openSnapshotReader(chunkBytes = SNAPSHOT_CHUNK_BYTES_DEFAULT): Promise<SnapshotReader> {
    return this.snapshots.openReader(chunkBytes);
  }

  /**
   * Receives a leader's snapshot in chunks written to a file as they come (`write`);
   * `finish` checks and installs it and resets the log to it. `accept` does both for a
   * chunk that says whether it is the last.
   */
  acceptSnapshot(): IncomingSnapshot {
    let keep = false;
    // Raft §7: keep the entries after the snapshot only if the log agrees at its index.
    const inner = this.snapshots.beginAccept((meta) => {
      keep = this.termAt(meta.index) === meta.term && this.last().index > meta.index;
    });
    const finish = async (): Promise<SnapshotMeta> => {
      await this.flushesIdle();
      const meta = await inner.finish();
      await this.installed(meta, keep);
      return meta;
    };
    return {
      write: (seq, data) => inner.write(seq, data),
      finish,
      accept: async (chunk) => {
        await inner.write(chunk.seq, chunk.data);
        return chunk.last ? finish() : undefined;
      },
      abort: () => inner.abort(),
    };
  }

  private async installed(meta: SnapshotMeta, keep: boolean): Promise<void> {
    this.truncated();
    if (keep) {
      this.mem.dropUpTo(meta.index);
      await this.dropSegmentsUpTo(meta.index);
    } else {
      this.mem.clear();
      this.segLimit = 0;
      await this.dropSegmentsUpTo(Number.MAX_SAFE_INTEGER);
      this.wal.forget(this.uid);
      this.sentTo = meta.index;
      this.held = false;
    }
    if (!keep || this.written.index < meta.index) this.written = { index: meta.index, term: meta.term };
    this.options.onWritten?.(this.written);
  }

  private async dropSegmentsUpTo(index: number): Promise<void> {
    for (const path of this.segments.dropUpTo(index)) await this.options.fs.rmrf(path);
    if (this.segments.count() === 0 && this.segLimit > 0 && this.segLimit <= index) this.segLimit = 0;
  }

  // ---- recovery ----

  /** Replays one WAL record during recovery, in file order. */
  recoverEntry(index: number, term: number, bytes: Uint8Array, file: string, offset: number): void {
    const snapIndex = this.snapshots.current()?.index ?? 0;
    if (index <= snapIndex) return;
    const last = Math.max(this.last().index, snapIndex);
    if (index > last + 1) {
      throw new LogCorruptionError(file, offset, `server ${this.uid} entry ${index} follows ${last}: entries are missing`);
    }
    if (index <= last) {
      if (index <= this.segLimit) this.segLimit = index - 1;
      this.mem.truncateFrom(index);
    }
    this.mem.append({ index, term, bytes: Buffer.from(bytes), entry: undefined });
  }

  /** Ends recovery: everything found on disk is durable. */
  recovered(): void {
    this.written = this.last();
    this.sentTo = this.written.index;
  }

  /** Checks the segments against the snapshot: no holes a recovery could not fill. */
  checkSegments(): void {
    const snapIndex = this.snapshots.current()?.index ?? 0;
    const first = this.segments.first();
    if (first !== undefined && first > snapIndex + 1 && snapIndex > 0) {
      throw new LogCorruptionError(this.segments.dir, 0, `server ${this.uid} segments start at ${first}, snapshot ends at ${snapIndex}`);
    }
  }

  private segFirst(): number | undefined {
    return this.segLimit > 0 ? this.segments.first() : undefined;
  }

  private memEntry(index: number): LogEntry {
    const m = this.mem.get(index) as MemEntry;
    if (m.entry === undefined) m.entry = { index: m.index, term: m.term, payload: this.decode(m.bytes, index) };
    return m.entry;
  }

  private decode(bytes: Uint8Array, index: number): EntryPayload {
    try {
      return decodeValue(bytes) as EntryPayload;
    } catch (err) {
      throw new LogCorruptionError(this.segments.dir, 0, `server ${this.uid} entry ${index} does not decode: ${String(err)}`);
    }
  }

  private checkRunning(): void {
    if (this.stopped !== undefined) throw this.stopped;
  }

  /** Used by tests and overview: where the entries live. */
  stats(): { memEntries: number; segmentFiles: number; segLimit: number; firstSegmentIndex: number | undefined } {
    return { memEntries: this.mem.size(), segmentFiles: this.segments.count(), segLimit: this.segLimit, firstSegmentIndex: this.segments.count() > 0 ? this.segments.first() : undefined };
  }
}

/** A run of entries mostly has one term: send one number rather than an array. */
function oneTermOrAll(terms: readonly number[]): number | readonly number[] {
  const first = terms[0] as number;
  for (let i = 1; i < terms.length; i++) if (terms[i] !== first) return terms;
  return first;
}
