// The shared write-ahead log of one system: every server appends here; entries are
// batched, written with one write call and made durable with one sync per batch.
// Message-style API so an actor can wrap it: append() in, written/resend/rolledOver out.
import { LogClosedError, LogLimitError, assert } from './errors.js';
import { type LogFileHandle, type LogFs, NodeFs, joinPath } from './fs.js';
import {
  ENTRY_PAYLOAD_BYTES_MAX,
  WAL_BATCH_BYTES_MAX,
  WAL_BATCH_ENTRIES_MAX,
  WAL_FILE_BYTES_MAX,
  WAL_FILE_BYTES_MIN,
  WAL_PENDING_BYTES_MAX,
  WAL_WRITERS_PER_FILE_MAX,
  WRITER_ID_BYTES_MAX,
} from './limits.js';
import {
  ENTRY_OVERHEAD_BYTES,
  WAL_HEADER_BYTES,
  encodeEntryRecord,
  encodeWalHeader,
  encodeWriterRecord,
  writerRecordBytes,
} from './wal-format.js';
import { WrittenRuns, checkSequence, firstFileMaxBytes, needsRollover, planBatch } from './wal-policy.js';

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
  /** A write or sync failed; the WAL is closed and nothing after the last `written` is durable. */
  failed?(err: unknown): void;
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
  /** Sequence number of the first file this writer creates (recovery passes last + 1). */
  readonly firstSeq?: number;
  /** Per-writer last index recovered from disk, for gap detection across restarts. */
  readonly lastIndexes?: ReadonlyMap<string, number>;
}

export interface WalCounters {
  batches: number;
  entries: number;
  bytes: number;
  syncs: number;
  rollovers: number;
  resends: number;
}

interface Pending {
  writerId: string;
  index: number;
  term: number;
  payload: Uint8Array;
}

interface WriterState {
  lastIndex: number | undefined;
  awaitingFrom: number | undefined;
}

interface OpenFile {
  seq: number;
  path: string;
  handle: LogFileHandle;
  position: number;
  maxBytes: number;
  refs: Map<string, number>;
  ranges: Map<string, IndexRange>;
}

export function walFileName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.wal`;
}

export class WalWriter {
  readonly counters: WalCounters = { batches: 0, entries: 0, bytes: 0, syncs: 0, rollovers: 0, resends: 0 };
  private readonly fs: LogFs;
  private readonly events: WalEvents;
  private readonly maxSizeBytes: number;
  private readonly limits: { maxBatchBytes: number; maxBatchEntries: number };
  private readonly syncMethod: SyncMethod;
  private readonly oSync: boolean;
  private readonly checksums: boolean;
  private readonly writers = new Map<string, WriterState>();
  private readonly idBytes = new Map<string, Buffer>();
  private pending: Pending[] = [];
  private pendingSizes: number[] = [];
  private pendingStart = 0;
  private pendingBytes = 0;
  private file: OpenFile | undefined;
  private nextSeq: number;
  private nextFileMaxBytes: number;
  private flushing = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(private readonly options: WalOptions) {
    this.fs = options.fs ?? new NodeFs();
    this.events = options.events;
    this.maxSizeBytes = Math.max(options.maxSizeBytes ?? WAL_FILE_BYTES_MAX, WAL_FILE_BYTES_MIN);
    this.limits = {
      maxBatchBytes: options.maxBatchBytes ?? WAL_BATCH_BYTES_MAX,
      maxBatchEntries: options.maxBatchEntries ?? WAL_BATCH_ENTRIES_MAX,
    };
    this.syncMethod = options.syncMethod ?? 'datasync';
    this.oSync = options.writeStrategy === 'o_sync';
    this.checksums = options.checksums ?? true;
    this.nextSeq = options.firstSeq ?? 1;
    this.nextFileMaxBytes = firstFileMaxBytes(this.maxSizeBytes, options.random ?? Math.random);
    for (const [id, last] of options.lastIndexes ?? []) this.writers.set(id, { lastIndex: last, awaitingFrom: undefined });
  }

  static async open(options: WalOptions): Promise<WalWriter> {
    const wal = new WalWriter(options);
    await wal.fs.mkdirp(options.dir);
    await wal.openNextFile();
    return wal;
  }

  /**
   * Queues one entry. Returns false when the pending queue is past its bound: the
   * entry is still queued, but the caller should wait for `written` before sending more.
   */
  append(writerId: string, index: number, term: number, payload: Uint8Array): boolean {
    if (this.closed) throw new LogClosedError('WAL');
    if (payload.byteLength > ENTRY_PAYLOAD_BYTES_MAX) {
      throw new LogLimitError(`payload of ${writerId} index ${index}`, payload.byteLength, ENTRY_PAYLOAD_BYTES_MAX);
    }
    if (!this.idBytes.has(writerId)) {
      const id = Buffer.from(writerId, 'utf8');
      if (id.length === 0 || id.length > WRITER_ID_BYTES_MAX) throw new LogLimitError('writer id bytes', id.length, WRITER_ID_BYTES_MAX);
      this.idBytes.set(writerId, id);
    }
    let state = this.writers.get(writerId);
    if (state === undefined) {
      state = { lastIndex: undefined, awaitingFrom: undefined };
      this.writers.set(writerId, state);
    }
    const verdict = checkSequence(state.lastIndex, state.awaitingFrom, index);
    if (verdict === 'drop') return this.pendingBytes < WAL_PENDING_BYTES_MAX;
    if (verdict === 'gap') {
      assert(state.lastIndex !== undefined, 'gap needs a last index');
      state.awaitingFrom = state.lastIndex + 1;
      this.counters.resends++;
      this.events.resend(writerId, state.awaitingFrom);
      return this.pendingBytes < WAL_PENDING_BYTES_MAX;
    }
    state.awaitingFrom = undefined;
    state.lastIndex = index;
    const size = ENTRY_OVERHEAD_BYTES + payload.byteLength;
    this.pending.push({ writerId, index, term, payload });
    this.pendingSizes.push(size);
    this.pendingBytes += size;
    this.schedule();
    return this.pendingBytes < WAL_PENDING_BYTES_MAX;
  }

  /** Forget a writer (its server was deleted); later appends start fresh. */
  forget(writerId: string): void {
    this.writers.delete(writerId);
  }

  pendingEntries(): number {
    return this.pending.length - this.pendingStart;
  }

  /** Resolves once everything appended so far has been written (or the WAL failed). */
  idle(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.pendingEntries() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the current file and hands it over as a rolled-over file. */
  async rollover(): Promise<void> {
    await this.idle();
    if (this.closed || this.file === undefined || this.file.position <= WAL_HEADER_BYTES) return;
    await this.closeFile();
    await this.openNextFile();
  }

  /** Writes what is pending, then closes the file without rolling it over (recovery reads it). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.idle();
    this.closed = true;
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) await file.handle.close();
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // One turn: let every server queued on this tick add its entries first.
    setImmediate(() => {
      this.scheduled = false;
      void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pendingEntries() > 0 && !this.closed) await this.writeBatch();
    } catch (err) {
      this.fail(err);
    } finally {
      this.flushing = false;
    }
    if (this.pendingEntries() === 0 || this.closed) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    } else {
      this.schedule();
    }
  }

  private async writeBatch(): Promise<void> {
    const start = this.pendingStart;
    const n = planBatch(this.pendingSizes, start, this.limits);
    let entryBytes = 0;
    for (let i = start; i < start + n; i++) entryBytes += this.pendingSizes[i] ?? 0;
    let file = this.currentFile();
    if (needsRollover(file.position, WAL_HEADER_BYTES, entryBytes, file.maxBytes)) {
      await this.closeFile();
      await this.openNextFile();
      file = this.currentFile();
    }
    const { buf, runs } = this.encodeBatch(file, start, n, entryBytes);
    await file.handle.writeAt(buf, file.position);
    if (!this.oSync) {
      if (this.syncMethod === 'datasync') await file.handle.datasync();
      else if (this.syncMethod === 'sync') await file.handle.sync();
    }
    if (this.syncMethod !== 'none' || this.oSync) this.counters.syncs++;
    file.position += buf.length;
    this.consume(n, entryBytes);
    this.counters.batches++;
    this.counters.entries += n;
    this.counters.bytes += buf.length;
    for (const run of runs) this.events.written(run.writerId, run.term, run.from, run.to);
  }

  private encodeBatch(file: OpenFile, start: number, n: number, entryBytes: number): { buf: Buffer; runs: ReturnType<WrittenRuns['finish']> } {
    // Size first: header (new file) + writer definitions + entries, then one buffer.
    let total = entryBytes;
    const newRefs: string[] = [];
    for (let i = start; i < start + n; i++) {
      const id = (this.pending[i] as Pending).writerId;
      if (!file.refs.has(id)) {
        assert(file.refs.size < WAL_WRITERS_PER_FILE_MAX, 'writer refs per file');
        file.refs.set(id, file.refs.size + 1);
        newRefs.push(id);
        total += writerRecordBytes((this.idBytes.get(id) as Buffer).length);
      }
    }
    const buf = Buffer.allocUnsafe(total);
    let at = 0;
    for (const id of newRefs) {
      at = encodeWriterRecord(buf, at, file.refs.get(id) as number, this.idBytes.get(id) as Buffer, this.checksums);
    }
    const runs = new WrittenRuns();
    for (let i = start; i < start + n; i++) {
      const p = this.pending[i] as Pending;
      at = encodeEntryRecord(buf, at, file.refs.get(p.writerId) as number, p.index, p.term, p.payload, this.checksums);
      runs.add(p.writerId, p.index, p.term);
      const range = file.ranges.get(p.writerId);
      if (range === undefined) file.ranges.set(p.writerId, { from: p.index, to: p.index });
      else {
        range.from = Math.min(range.from, p.index);
        range.to = p.index;
      }
    }
    assert(at === total, `WAL batch encoded ${at} bytes, sized ${total}`);
    return { buf, runs: runs.finish() };
  }

  private consume(n: number, bytes: number): void {
    this.pendingStart += n;
    this.pendingBytes -= bytes;
    // Compact the queue once the consumed prefix dominates, keeping appends O(1).
    if (this.pendingStart === this.pending.length) {
      this.pending = [];
      this.pendingSizes = [];
      this.pendingStart = 0;
    } else if (this.pendingStart > 65_536 && this.pendingStart * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingStart);
      this.pendingSizes = this.pendingSizes.slice(this.pendingStart);
      this.pendingStart = 0;
    }
  }

  private currentFile(): OpenFile {
    if (this.file === undefined) throw new LogClosedError('WAL');
    return this.file;
  }

  private async openNextFile(): Promise<void> {
    const seq = this.nextSeq++;
    const path = joinPath(this.options.dir, walFileName(seq));
    const handle = await this.fs.open(path, 'create', { oSync: this.oSync });
    // Header and directory entry are durable before any record: so only the last file
    // can ever be found empty, and an empty or headerless earlier file is corruption.
    await handle.writeAt(encodeWalHeader(seq, this.checksums), 0);
    if (!this.oSync) await handle.datasync();
    await this.fs.syncDir(this.options.dir);
    this.file = { seq, path, handle, position: WAL_HEADER_BYTES, maxBytes: this.nextFileMaxBytes, refs: new Map(), ranges: new Map() };
    this.nextFileMaxBytes = this.maxSizeBytes;
  }

  private async closeFile(): Promise<void> {
    const file = this.currentFile();
    this.file = undefined;
    await file.handle.close();
    this.counters.rollovers++;
    this.events.rolledOver({ seq: file.seq, path: file.path, ranges: file.ranges });
  }

  private fail(err: unknown): void {
    this.closed = true;
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) void file.handle.close().catch(() => undefined);
    if (this.events.failed) this.events.failed(err);
  }
}
