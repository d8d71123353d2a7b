// The shared write-ahead log of one system: every server appends here; entries are
// batched, written with one write call and made durable with one sync per batch.
// Message-style API so an actor can wrap it: append() in, written/resend/rolledOver out.
import { LogClosedError, LogInvalidError, LogLimitError, assert } from './errors.js';
import { type LogFileHandle, type LogFs, NodeFs, joinPath } from './fs.js';
import {
  ENTRY_PAYLOAD_BYTES_MAX,
  WAL_BATCH_BYTES_MAX,
  WAL_BATCH_ENTRIES_MAX,
  WAL_FILE_BYTES_MAX,
  WAL_FILE_BYTES_MIN,
  WAL_NOTIFY_SLICE_ENTRIES_MAX,
  WAL_PENDING_BYTES_MAX,
  WAL_SPARE_BUFFERS_MAX,
  WAL_WRITERS_PER_FILE_MAX,
  WRITER_ID_BYTES_MAX,
} from './limits.js';
import {
  ENTRY_OVERHEAD_BYTES,
  FRAME_HEAD_BYTES,
  FRAME_OVERHEAD_BYTES,
  WAL_HEADER_BYTES,
  encodeEntryRecord,
  encodeEntryRun,
  encodeWalHeader,
  encodeWriterRecord,
  hashFrameBody,
  sealFrame,
  viewOf,
  writerRecordBytes,
} from './wal-format.js';
import { type RunCursor, WrittenRuns, checkSequence, firstFileMaxBytes, fitsBatch, needsRollover } from './wal-policy.js';

export type SyncMethod = 'datasync' | 'sync' | 'none';
export type WriteStrategy = 'default' | 'o_sync';

export interface IndexRange {
  from: number;
  to: number;
}

/** A WAL file that will take no more writes, with the range each writer has in it. */
export interface ClosedWalFile {
  readonly seq: number;
  readonly path: string;
  readonly ranges: ReadonlyMap<string, IndexRange>;
}

export interface WalEvents {
  /** Entries from..to of `term` by this writer are durable. */
  written(writerId: string, term: number, fromIndex: number, toIndex: number): void;
  /** The WAL saw a gap: the writer must append again from this index. */
  resend(writerId: string, fromIndex: number): void;
  /** A file was closed; its ranges go to the segment writer. */
  rolledOver(file: ClosedWalFile): void;
  /**
   * A write or sync failed; the WAL is closed and nothing after the last `written` is
   * durable. `unwritten`: each writer with entries queued, and the first of them.
   */
  failed?(err: unknown, unwritten: ReadonlyMap<string, number>): void;
}

export interface WalOptions {
  readonly dir: string;
  readonly events: WalEvents;
  readonly fs?: LogFs;
  /** Uniform in [0, 1); sizes the first file. */
  readonly random?: () => number;
  readonly maxSizeBytes?: number;
  readonly maxBatchBytes?: number;
  readonly maxBatchEntries?: number;
  readonly syncMethod?: SyncMethod;
  readonly writeStrategy?: WriteStrategy;
  readonly checksums?: boolean;
  /**
   * Write new files over spare ones (flushed files the segment writer kept, see
   * spareFileName) when there are any. Default: on when checksums are, for a reused
   * file's old frames are told apart from new ones by checksum and file number.
   */
  readonly reuseFiles?: boolean;
  /** Sequence number of the first file this writer creates (recovery passes last + 1). */
  readonly firstSeq?: number;
  /** Per-writer last index recovered from disk, for gap detection across restarts. */
  readonly lastIndexes?: ReadonlyMap<string, number>;
  /** Runs `fn` in a later turn (default setImmediate); a simulator passes its own to fix the order. */
  readonly defer?: (fn: () => void) => void;
  /** Where to count (a system passes counters in shared memory, kept across WAL restarts). */
  readonly counters?: WalCounters;
}

export interface WalCounters {
  batches: number;
  entries: number;
  bytes: number;
  syncs: number;
  /** The last sync's duration, and the sum of all of them (mean = total / syncs). */
  syncLatencyMs: number;
  syncLatencyMsTotal: number;
  rollovers: number;
  resends: number;
}

/** Everything the WAL keeps per writer, in one object so an append costs one Map lookup. */
interface WriterState extends RunCursor {
  readonly id: string;
  /** The id's length in UTF-8; the bytes are written from the string (a Buffer per writer would pin pool memory). */
  readonly idByteLength: number;
  lastIndex: number | undefined;
  awaitingFrom: number | undefined;
  /** The file this writer's `ref` belongs to; another file means no ref yet. */
  refSlot: FileSlot | undefined;
  ref: number;
  /** The last `written` notice sent for this writer (0 before any). */
  writtenTo: number;
  writtenTerm: number;
}

/** What the WAL knows of one writer, for a server that re-attaches after its actor restarted. */
export interface WalWriterStatus {
  /** The last entry the WAL told this writer was written, if any since this WAL started. */
  readonly written: { readonly index: number; readonly term: number } | undefined;
  /** The WAL saw a gap and drops this writer's entries until it resends from here. */
  readonly awaitingFrom: number | undefined;
}

/** A WAL file as planned by appends; its handle is opened when its first batch is written. */
interface FileSlot {
  seq: number;
  path: string;
  maxBytes: number;
  /** Bytes planned so far, header included. */
  plannedBytes: number;
  records: number;
  /** By ref - 1: the writer and the index range it has in this file. */
  refIds: string[];
  rangeFrom: number[];
  rangeTo: number[];
  handle: LogFileHandle | undefined;
  position: number;
  /** Written over a spare file, whose old contents lie past `position` until it is cut there. */
  reused: boolean;
}

/** One frame: records are encoded at append time, while the previous batch is in flight. */
interface Batch {
  slot: FileSlot;
  buf: Buffer;
  view: DataView;
  /** End of the records so far; the frame head sits at 0. */
  length: number;
  entries: number;
  runs: WrittenRuns;
  /** CRC of the body up to `hashedTo`, hashed ahead while the batch fills (sealing then hashes only the tail). */
  bodyCrc: number;
  hashedTo: number;
}

/** What the notice loop announces: a written batch, a closed file, the failure that closed the WAL. */
type Notice = Batch | ClosedWalFile | { failure: unknown; unwritten: ReadonlyMap<string, number> };

/** Smallest batch buffer allocated; a spare one is kept only up to maxBatchBytes plus this. */
const BATCH_BUFFER_BYTES_MIN = 64 * 1024;
/**
 * Unhashed body bytes of the open batch that trigger hashing ahead. The CRC then runs
 * while the previous batch is on disk, not between its sync and the next write; the
 * chunk is large enough that the native call's fixed cost does not matter.
 */
const HASH_AHEAD_BYTES = 64 * 1024;

export function walFileName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.wal`;
}

/** A flushed WAL file kept for reuse; recovery never reads it. */
export function spareFileName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.spare`;
}

export function isSpareFileName(name: string): boolean {
  return name.endsWith('.spare');
}

export class WalWriter {
  readonly counters: WalCounters;
  private readonly fs: LogFs;
  private readonly events: WalEvents;
  private readonly maxSizeBytes: number;
  private readonly limits: { maxBatchBytes: number; maxBatchEntries: number };
  private readonly syncMethod: SyncMethod;
  private readonly oSync: boolean;
  private readonly checksums: boolean;
  private readonly reuseFiles: boolean;
  private readonly defer: (fn: () => void) => void;
  private readonly writers = new Map<string, WriterState>();
  private batches: Batch[] = [];
  /** The batch appends go to (the last of `batches`), until the flush loop takes it. */
  private openBatch: Batch | undefined;
  private spareBuffers: Buffer[] = [];
  private pendingBytes = 0;
  private pendingCount = 0;
  private slot!: FileSlot;
  private openSlot: FileSlot | undefined;
  private nextSeq: number;
  private nextFileMaxBytes: number;
  private flushing = false;
  /** A write or sync is out: its completion needs this thread to issue the next step. */
  private ioInFlight = false;
  /** Written batches, closed files and a failure, announced in this order by the notice loop. */
  private notices: Notice[] = [];
  private notifying = false;
  private scheduled = false;
  private closed = false;
  /** Abandoned by a restarted WAL actor: no more notices of any kind. */
  private silent = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(private readonly options: WalOptions) {
    this.fs = options.fs ?? new NodeFs();
    this.counters = options.counters ?? { batches: 0, entries: 0, bytes: 0, syncs: 0, syncLatencyMs: 0, syncLatencyMsTotal: 0, rollovers: 0, resends: 0 };
    this.events = options.events;
    this.maxSizeBytes = Math.max(options.maxSizeBytes ?? WAL_FILE_BYTES_MAX, WAL_FILE_BYTES_MIN);
    this.limits = {
      maxBatchBytes: options.maxBatchBytes ?? WAL_BATCH_BYTES_MAX,
      maxBatchEntries: options.maxBatchEntries ?? WAL_BATCH_ENTRIES_MAX,
    };
    this.syncMethod = options.syncMethod ?? 'datasync';
    this.oSync = options.writeStrategy === 'o_sync';
    this.checksums = options.checksums ?? true;
    this.reuseFiles = this.checksums && (options.reuseFiles ?? true);
    this.nextSeq = options.firstSeq ?? 1;
    this.defer = options.defer ?? setImmediate;
    this.nextFileMaxBytes = firstFileMaxBytes(this.maxSizeBytes, options.random ?? Math.random);
    for (const [id, last] of options.lastIndexes ?? []) this.newWriter(id).lastIndex = last;
  }

  static async open(options: WalOptions): Promise<WalWriter> {
    const wal = new WalWriter(options);
    await wal.fs.mkdirp(options.dir);
    wal.slot = wal.newSlot();
    await wal.openFile(wal.slot);
    return wal;
  }

  /**
   * Queues payloads[i] as entry fromIndex + i of `terms` (one term for all, or one per
   * entry): one call per writer per Raft batch, so the writer lookup, the gap check and
   * the notice bookkeeping are paid once, not per entry. The rules are those of
   * `append` applied entry by entry: a gap at fromIndex asks for a resend and drops
   * the whole batch; a batch from at or below the last index is a rewrite. Payloads and
   * terms are checked before anything is queued, so a refused batch leaves no trace.
   */
  appendBatch(writerId: string, fromIndex: number, terms: number | readonly number[], payloads: readonly Uint8Array[]): boolean {
    if (this.closed) throw new LogClosedError('WAL');
    if (typeof writerId !== 'string' || !Array.isArray(payloads) || (typeof terms !== 'number' && !Array.isArray(terms))) {
      throw new LogInvalidError(`WAL batch of ${String(writerId)}: the writer id must be a string, payloads and terms arrays (or one term)`);
    }
    const n = payloads.length;
    if (typeof terms !== 'number' && terms.length !== n) {
      throw new LogInvalidError(`WAL batch of ${writerId} from index ${fromIndex}: ${terms.length} terms for ${n} payloads`);
    }
    let payloadBytes = 0;
    for (let i = 0; i < n; i++) {
      const payload = payloads[i];
      if (!(payload instanceof Uint8Array)) throw new LogInvalidError(`WAL batch of ${writerId}: the payload of index ${fromIndex + i} is not bytes`);
      const bytes = payload.length;
      if (bytes > ENTRY_PAYLOAD_BYTES_MAX) throw new LogLimitError(`payload of ${writerId} index ${fromIndex + i}`, bytes, ENTRY_PAYLOAD_BYTES_MAX);
      payloadBytes += bytes;
    }
    if (n === 0) return this.pendingBytes < WAL_PENDING_BYTES_MAX;
    // Messages are built only on failure: this runs once per Raft batch.
    if (!(Number.isSafeInteger(fromIndex) && fromIndex > 0 && Number.isSafeInteger(fromIndex + n - 1))) {
      throw new LogInvalidError(`WAL batch of ${writerId}: index ${fromIndex} is not a positive safe integer`);
    }
    if (typeof terms === 'number') {
      if (!(Number.isSafeInteger(terms) && terms >= 0)) throw new LogInvalidError(`WAL batch of ${writerId} from index ${fromIndex}: term ${terms} is not a safe integer >= 0`);
    } else {
      for (let i = 0; i < n; i++) {
        const term = terms[i] as number;
        if (!(Number.isSafeInteger(term) && term >= 0)) throw new LogInvalidError(`WAL batch of ${writerId}: term ${term} at index ${fromIndex + i} is not a safe integer >= 0`);
      }
    }
    const state = this.writers.get(writerId) ?? this.newWriter(writerId);
    const verdict = checkSequence(state.lastIndex, state.awaitingFrom, fromIndex);
    if (verdict === 'accept') {
      state.awaitingFrom = undefined;
      state.lastIndex = fromIndex + n - 1;
      this.encodeRun(state, fromIndex, terms, payloads, payloadBytes + n * ENTRY_OVERHEAD_BYTES);
      if (!this.scheduled && !this.flushing) this.schedule();
    } else if (verdict === 'gap') {
      this.askResend(writerId, state);
    }
    return this.pendingBytes < WAL_PENDING_BYTES_MAX;
  }

  /** A gap: entries from the writer's last index + 1 were lost on the way; it must send them again. */
  private askResend(writerId: string, state: WriterState): void {
    assert(state.lastIndex !== undefined, 'gap needs a last index');
    state.awaitingFrom = state.lastIndex + 1;
    this.counters.resends++;
    this.events.resend(writerId, state.awaitingFrom);
  }

  private newWriter(writerId: string): WriterState {
    const idByteLength = Buffer.byteLength(writerId, 'utf8');
    if (idByteLength === 0 || idByteLength > WRITER_ID_BYTES_MAX) throw new LogLimitError('writer id bytes', idByteLength, WRITER_ID_BYTES_MAX);
    const state: WriterState = { id: writerId, idByteLength, lastIndex: undefined, awaitingFrom: undefined, refSlot: undefined, ref: 0, runs: undefined, run: 0, writtenTo: 0, writtenTerm: 0 };
    this.writers.set(writerId, state);
    return state;
  }

  private newSlot(): FileSlot {
    const seq = this.nextSeq++;
    const slot: FileSlot = {
      seq,
      path: joinPath(this.options.dir, walFileName(seq)),
      maxBytes: this.nextFileMaxBytes,
      plannedBytes: WAL_HEADER_BYTES,
      records: 0,
      refIds: [],
      rangeFrom: [],
      rangeTo: [],
      handle: undefined,
      position: WAL_HEADER_BYTES,
      reused: false,
    };
    this.nextFileMaxBytes = this.maxSizeBytes;
    return slot;
  }

  /** Encodes one entry into the open batch, cutting a new batch or file where the limits say. */
  private encode(state: WriterState, index: number, term: number, payload: Uint8Array): void {
    const entryBytes = ENTRY_OVERHEAD_BYTES + payload.length;
    let slot = this.slot;
    let refBytes = state.refSlot === slot ? 0 : writerRecordBytes(state.idByteLength);
    if (needsRollover(slot.plannedBytes, WAL_HEADER_BYTES, refBytes + entryBytes, slot.maxBytes)) {
      slot = this.slot = this.newSlot();
      refBytes = writerRecordBytes(state.idByteLength);
    }
    const recordBytes = refBytes + entryBytes;
    let batch = this.openBatch;
    if (batch === undefined || batch.slot !== slot || !fitsBatch(batch.length - FRAME_HEAD_BYTES, batch.entries, recordBytes, this.limits)) {
      batch = this.newBatch(slot, recordBytes);
    }
    // Room for the record and the frame's CRC.
    if (batch.length + recordBytes + 4 > batch.buf.length) this.growBatch(batch, recordBytes + 4);
    if (refBytes > 0) {
      assert(slot.refIds.length < WAL_WRITERS_PER_FILE_MAX, 'writer refs per file');
      slot.refIds.push(state.id);
      slot.rangeFrom.push(index);
      slot.rangeTo.push(index);
      state.refSlot = slot;
      state.ref = slot.refIds.length;
      batch.length = encodeWriterRecord(batch.buf, batch.length, state.ref, state.id);
    } else {
      const r = state.ref - 1;
      if (index < (slot.rangeFrom[r] as number)) slot.rangeFrom[r] = index;
      slot.rangeTo[r] = index;
    }
    batch.length = encodeEntryRecord(batch.buf, batch.length, state.ref, index, term, payload);
    if (batch.length - batch.hashedTo >= HASH_AHEAD_BYTES) this.hashAhead(batch);
    batch.entries++;
    batch.runs.add(state, index, term);
    slot.plannedBytes += recordBytes;
    slot.records++;
    this.pendingBytes += recordBytes;
    this.pendingCount++;
  }

  /** Encodes a writer's consecutive entries; only the first of each stretch takes the general path. */
  /** `recordBytes`: the entry records of all payloads, so a run that fits whole is not measured again. */
  private encodeRun(state: WriterState, fromIndex: number, terms: number | readonly number[], payloads: readonly Uint8Array[], recordBytes: number): void {
    const n = payloads.length;
    let i = 0;
    let remainingBytes = recordBytes;
    const slot = this.slot;
    if (this.openBatch?.slot === slot && state.refSlot === slot) {
      // The common case: the writer is defined in this file and the open batch is of it,
      // so the run starts a stretch at once, without the general step for its first entry.
      i = this.encodeStretch(state, fromIndex, terms, payloads, 0, remainingBytes);
      if (i > 0) {
        const r = state.ref - 1;
        if (fromIndex < (slot.rangeFrom[r] as number)) slot.rangeFrom[r] = fromIndex; // a rewrite
      }
      if (i === n) return;
      for (let k = 0; k < i; k++) remainingBytes -= ENTRY_OVERHEAD_BYTES + (payloads[k] as Uint8Array).length;
    }
    while (i < n) {
      // Places the writer record, cuts a new batch or file where the limits say.
      const payload = payloads[i] as Uint8Array;
      this.encode(state, fromIndex + i, typeof terms === 'number' ? terms : (terms[i] as number), payload);
      remainingBytes -= ENTRY_OVERHEAD_BYTES + payload.length;
      const end = this.encodeStretch(state, fromIndex, terms, payloads, i + 1, remainingBytes);
      for (let k = i + 1; k < end; k++) remainingBytes -= ENTRY_OVERHEAD_BYTES + (payloads[k] as Uint8Array).length;
      i = end;
    }
  }

  /**
   * Encodes payloads from `start` on while they fit the open batch and the current file
   * as they stand (the same limits `encode` checks per entry); returns where it stopped.
   * The writer's last entry is already in this batch and file, under its ref.
   */
  private encodeStretch(state: WriterState, fromIndex: number, terms: number | readonly number[], payloads: readonly Uint8Array[], start: number, remainingBytes: number): number {
    const batch = this.openBatch as Batch;
    const slot = this.slot;
    if (batch.slot !== slot || state.refSlot !== slot) assert(false, `stretch of ${state.id} outside its batch`);
    const n = payloads.length;
    const entriesRoom = this.limits.maxBatchEntries - batch.entries;
    const bytesRoom = Math.min(this.limits.maxBatchBytes - (batch.length - FRAME_HEAD_BYTES), slot.maxBytes - slot.plannedBytes);
    let end = start;
    let bytes = 0;
    if (n - start <= entriesRoom && remainingBytes <= bytesRoom) {
      // The common case: the rest of the run fits as it is.
      end = n;
      bytes = remainingBytes;
    }
    while (end < n && end - start < entriesRoom) {
      const recordBytes = ENTRY_OVERHEAD_BYTES + (payloads[end] as Uint8Array).length;
      if (bytes + recordBytes > bytesRoom) break;
      bytes += recordBytes;
      end++;
    }
    const count = end - start;
    if (count === 0) return start;
    if (batch.length + bytes + 4 > batch.buf.length) this.growBatch(batch, bytes + 4);
    batch.length = encodeEntryRun(batch.buf, batch.view, batch.length, state.ref, fromIndex, terms, payloads, start, end);
    if (batch.length - batch.hashedTo >= HASH_AHEAD_BYTES) this.hashAhead(batch);
    if (typeof terms === 'number') batch.runs.addRange(state, fromIndex + start, fromIndex + end - 1, terms);
    else addTermRuns(batch.runs, state, fromIndex, terms, start, end);
    slot.rangeTo[state.ref - 1] = fromIndex + end - 1;
    batch.entries += count;
    slot.plannedBytes += bytes;
    slot.records += count;
    this.pendingBytes += bytes;
    this.pendingCount += count;
    return end;
  }

  private newBatch(slot: FileSlot, recordBytes: number): Batch {
    const need = FRAME_OVERHEAD_BYTES + recordBytes;
    let buf = this.spareBuffers.pop();
    if (buf === undefined || buf.length < need) buf = Buffer.allocUnsafe(Math.max(BATCH_BUFFER_BYTES_MIN, need));
    const batch: Batch = { slot, buf, view: viewOf(buf), length: FRAME_HEAD_BYTES, entries: 0, runs: new WrittenRuns(), bodyCrc: 0, hashedTo: FRAME_HEAD_BYTES };
    slot.plannedBytes += FRAME_OVERHEAD_BYTES;
    this.pendingBytes += FRAME_OVERHEAD_BYTES;
    this.batches.push(batch);
    this.openBatch = batch;
    return batch;
  }

  private hashAhead(batch: Batch): void {
    if (this.checksums) batch.bodyCrc = hashFrameBody(batch.buf, batch.hashedTo, batch.length, batch.bodyCrc);
    batch.hashedTo = batch.length;
  }

  private growBatch(batch: Batch, extra: number): void {
    const grown = Buffer.allocUnsafe(Math.max(batch.buf.length * 2, batch.length + extra));
    batch.buf.copy(grown, 0, 0, batch.length);
    batch.buf = grown;
    batch.view = viewOf(grown);
  }

  /** What the WAL knows of a writer: its last written notice and any resend it waits for. */
  writerStatus(writerId: string): WalWriterStatus {
    const state = this.writers.get(writerId);
    if (state === undefined) return { written: undefined, awaitingFrom: undefined };
    return { written: state.writtenTo > 0 ? { index: state.writtenTo, term: state.writtenTerm } : undefined, awaitingFrom: state.awaitingFrom };
  }

  /** Forget a writer (its server was deleted); later appends start fresh. */
  forget(writerId: string): void {
    this.writers.delete(writerId);
  }

  pendingEntries(): number {
    return this.pendingCount;
  }

  /** Resolves once everything appended so far has been written (or the WAL failed). */
  idle(): Promise<void> {
    if (this.quiet()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the current file and hands it over as a rolled-over file. */
  async rollover(): Promise<void> {
    await this.idle();
    if (this.closed || this.slot.records === 0) return;
    await this.closeOpenFile();
    this.slot = this.newSlot();
    await this.openFile(this.slot);
  }

  /** Writes what is pending, then closes the file without rolling it over (recovery reads it). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.idle();
    this.closed = true;
    const open = this.openSlot;
    this.openSlot = undefined;
    if (open?.handle !== undefined) await open.handle.close();
  }

  /**
   * Silences this writer for good: no notice is sent after this call, pending entries
   * are not acknowledged, and the file is closed once in-flight I/O settles. A WAL
   * actor killed without `terminate` leaves its writer running; its successor calls
   * this before it reads the files.
   */
  async abandon(): Promise<void> {
    this.silent = true;
    // Let in-flight and pending batches finish (unacknowledged): closing under a
    // running write would turn it into an error nobody handles.
    await this.idle();
    this.closed = true;
    const open = this.openSlot;
    this.openSlot = undefined;
    await open?.handle?.close().catch(() => undefined);
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // One turn: let every server queued on this tick add its entries first.
    this.defer(() => {
      this.scheduled = false;
      void this.flushLoop();
    });
  }

  /**
   * Writes batches back to back: as soon as one is durable the next (whatever has
   * been appended meanwhile) goes out, while the notice loop announces the one before.
   * The disk never waits for the notices, and the notices never wait for the disk.
   */
  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    let batch: Batch | undefined;
    try {
      for (batch = this.takeBatch(); batch !== undefined && !this.closed; batch = this.takeBatch()) {
        await this.writeBatch(batch);
        this.announce(batch);
      }
    } catch (err) {
      this.fail(err, batch);
    } finally {
      this.flushing = false;
    }
    this.settle();
  }

  /** Nothing queued, in flight or left to announce. */
  private quiet(): boolean {
    return !this.flushing && !this.scheduled && !this.notifying && this.notices.length === 0 && (this.pendingCount === 0 || this.closed);
  }

  private settle(): void {
    if (this.quiet()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    } else if (!this.closed && this.pendingCount > 0 && this.batches.length > 0) {
      this.schedule();
    }
  }

  private takeBatch(): Batch | undefined {
    const batch = this.batches.shift();
    if (batch === this.openBatch) this.openBatch = undefined;
    return batch;
  }

  private async writeBatch(batch: Batch): Promise<void> {
    this.ioInFlight = true;
    let frameBytes: number;
    try {
      if (this.openSlot !== batch.slot) {
        await this.closeOpenFile();
        await this.openFile(batch.slot);
      }
      const handle = batch.slot.handle as LogFileHandle;
      frameBytes = sealFrame(batch.buf, 0, batch.length, batch.slot.seq, this.checksums, batch.bodyCrc, batch.hashedTo);
      await handle.writeAt(batch.buf.subarray(0, frameBytes), batch.slot.position);
      if (!this.oSync && this.syncMethod !== 'none') {
        // Measured for the counters only: nothing decides on it.
        const syncStart = performance.now();
        if (this.syncMethod === 'datasync') await handle.datasync();
        else await handle.sync();
        const syncMs = performance.now() - syncStart;
        this.counters.syncLatencyMs = syncMs;
        this.counters.syncLatencyMsTotal += syncMs;
      }
    } finally {
      this.ioInFlight = false;
    }
    if (this.syncMethod !== 'none' || this.oSync) this.counters.syncs++;
    batch.slot.position += frameBytes;
    this.counters.batches++;
    this.counters.entries += batch.entries;
    this.counters.bytes += frameBytes;
  }

  /** Queues a written batch or a closed file for the notice loop, which keeps their order. */
  private announce(item: Notice): void {
    this.notices.push(item);
    if (this.notifying) return;
    this.notifying = true;
    // A microtask later: the I/O loop first puts the next batch out, so the notices overlap it.
    queueMicrotask(() => void this.noticeLoop());
  }

  private async noticeLoop(): Promise<void> {
    try {
      for (let item = this.notices.shift(); item !== undefined; item = this.notices.shift()) {
        // A silenced WAL still settles its batches' accounting, or idle() (which abandon awaits) would never resolve.
        if ('runs' in item) await this.notify(item);
        else if (this.silent) continue;
        else if ('failure' in item) this.events.failed?.(item.failure, item.unwritten);
        else this.events.rolledOver(item);
      }
    } finally {
      this.notifying = false;
    }
    this.settle();
  }

  /**
   * Sends the batch's `written` notices, in order. Their callbacks append (encode) on
   * this thread, so while I/O is out, every WAL_NOTIFY_SLICE_ENTRIES_MAX entries it yields one
   * turn: a write's completion then issues its sync, and a sync's the next write, at
   * once instead of after all notices.
   */
  private async notify(batch: Batch): Promise<void> {
    this.pendingBytes -= batch.length - FRAME_HEAD_BYTES + FRAME_OVERHEAD_BYTES;
    this.pendingCount -= batch.entries;
    if (this.spareBuffers.length < WAL_SPARE_BUFFERS_MAX && batch.buf.length <= this.limits.maxBatchBytes + BATCH_BUFFER_BYTES_MIN) this.spareBuffers.push(batch.buf);
    const runs = batch.runs;
    let sinceYield = 0;
    for (let r = 0; r < runs.length; r++) {
      if (this.silent) return;
      const from = runs.fromAt(r);
      const to = runs.toAt(r);
      const term = runs.termAt(r);
      const writer = runs.writerAt(r) as WriterState;
      writer.writtenTo = to;
      writer.writtenTerm = term;
      this.events.written(writer.id, term, from, to);
      sinceYield += to - from + 1;
      if (sinceYield >= WAL_NOTIFY_SLICE_ENTRIES_MAX && this.ioInFlight) {
        sinceYield = 0;
        await new Promise<void>((resolve) => this.defer(resolve));
      }
    }
  }

  private async openFile(slot: FileSlot): Promise<void> {
    const spare = this.reuseFiles ? await this.findSpare() : undefined;
    let handle = await this.fs.open(spare ?? slot.path, spare === undefined ? 'create' : 'write', { oSync: this.oSync });
    await handle.writeAt(encodeWalHeader(slot.seq, this.checksums), 0);
    if (!this.oSync) await handle.datasync();
    if (spare !== undefined) {
      // Only now, with the new header durable, does the spare take the WAL file's name:
      // a file under that name never holds another file's header. Reopened under it, so
      // that I/O errors name the file recovery will read.
      await this.fs.rename(spare, slot.path);
      await handle.close();
      handle = await this.fs.open(slot.path, 'write', { oSync: this.oSync });
      slot.reused = true;
    }
    // Header and directory entry are durable before any record: so only the last file
    // can ever be found empty, and an empty or headerless earlier file is corruption.
    await this.fs.syncDir(this.options.dir);
    slot.handle = handle;
    this.openSlot = slot;
  }

  /** The oldest spare file in the directory, if any (the segment writer adds them). */
  private async findSpare(): Promise<string | undefined> {
    const spares = (await this.fs.readdir(this.options.dir)).filter(isSpareFileName).sort();
    return spares.length === 0 ? undefined : joinPath(this.options.dir, spares[0] as string);
  }

  private async closeOpenFile(): Promise<void> {
    const slot = this.openSlot;
    if (slot === undefined) return;
    this.openSlot = undefined;
    const handle = slot.handle as LogFileHandle;
    if (slot.reused) {
      // Cut the old contents off and make that durable before any later file is written:
      // only the last file may end in bytes that are not its frames.
      await handle.truncate(slot.position);
      await handle.sync();
    }
    await handle.close();
    slot.handle = undefined;
    this.counters.rollovers++;
    this.announce({ seq: slot.seq, path: slot.path, ranges: rangesOf(slot) });
  }

  /** `failedBatch`: the batch whose write or sync failed; it and every later one are lost. */
  private fail(err: unknown, failedBatch: Batch | undefined): void {
    this.closed = true;
    const open = this.openSlot;
    this.openSlot = undefined;
    if (open?.handle !== undefined) void open.handle.close().catch(() => undefined);
    const unwritten = new Map<string, number>();
    for (const batch of failedBatch === undefined ? this.batches : [failedBatch, ...this.batches]) {
      for (let r = 0; r < batch.runs.length; r++) {
        const id = batch.runs.writerAt(r).id;
        const from = batch.runs.fromAt(r);
        const earlier = unwritten.get(id);
        if (earlier === undefined || from < earlier) unwritten.set(id, from);
      }
    }
    // After the notices of the batches made durable before it.
    this.announce({ failure: err, unwritten });
  }
}

/** One run per stretch of equal terms in terms[start..end). */
function addTermRuns(runs: WrittenRuns, state: WriterState, fromIndex: number, terms: readonly number[], start: number, end: number): void {
  let runStart = start;
  for (let i = start + 1; i <= end; i++) {
    if (i === end || terms[i] !== terms[runStart]) {
      runs.addRange(state, fromIndex + runStart, fromIndex + i - 1, terms[runStart] as number);
      runStart = i;
    }
  }
}

/** A writer forgotten and seen again has two refs in one file: merge them, later one last. */
function rangesOf(slot: FileSlot): Map<string, IndexRange> {
  const ranges = new Map<string, IndexRange>();
  for (let r = 0; r < slot.refIds.length; r++) {
    const id = slot.refIds[r] as string;
    const from = slot.rangeFrom[r] as number;
    const to = slot.rangeTo[r] as number;
    const seen = ranges.get(id);
    if (seen === undefined) ranges.set(id, { from, to });
    else {
      seen.from = Math.min(seen.from, from);
      seen.to = to;
    }
  }
  return ranges;
}
