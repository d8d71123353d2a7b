// One server's segment files: the in-memory view (SegmentStore, read synchronously by
// the core through ServerLog) and the flush task that appends entries to them (plain
// data in and out, so a dirty runner can run it off the main thread).
import { LogCorruptionError, assert } from './errors.js';
import { type LogFs, NodeFs, joinPath } from './fs.js';
import { SEGMENT_BYTES_MAX, SEGMENT_ENTRIES_MAX } from './limits.js';
import {
  SEGMENT_HEADER_BYTES,
  SLOT_BYTES,
  dataStart,
  encodeSegmentHeader,
  encodeSlot,
  readSlot,
  slotChecksumOk,
  verifySegment,
} from './segment-format.js';

export interface SegmentInfo {
  readonly seq: number;
  readonly path: string;
  readonly capacity: number;
  readonly count: number;
  readonly dataEnd: number;
  /** Committed slots, count × SLOT_BYTES. */
  readonly slots: Buffer;
}

export interface FlushEntry {
  readonly index: number;
  readonly term: number;
  readonly bytes: Uint8Array;
}

/**
 * Entries to flush: consecutive indexes from `firstIndex`, a term each, and their
 * payloads end to end in `data` (entry k's bytes end at ends[k]). A flush after a WAL
 * rollover carries hundreds of thousands of entries to a pool thread: as an object and
 * a view each, building and cloning them took a third of a second of the server's thread.
 */
export interface FlushBatch {
  readonly firstIndex: number;
  readonly count: number;
  readonly terms: Float64Array;
  readonly ends: Float64Array;
  readonly data: Uint8Array;
}

/** The buffers of a flush batch, which a flush on a pool thread takes over (the count and first index stay readable here). */
export function flushBatchBuffers(batch: FlushBatch): ArrayBuffer[] {
  return [batch.terms.buffer, batch.ends.buffer, batch.data.buffer] as ArrayBuffer[];
}

/** The flush batch of consecutive `entries` from `firstIndex`. */
export function flushBatchOf(firstIndex: number, entries: readonly { readonly term: number; readonly bytes: Uint8Array }[]): FlushBatch {
  const n = entries.length;
  const terms = new Float64Array(n);
  const ends = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const e = entries[k]!;
    terms[k] = e.term;
    total += e.bytes.byteLength;
    ends[k] = total;
  }
  const data = new Uint8Array(total);
  // Entry by entry: reading a small entry's `.buffer` to find runs would make V8 move it off the heap.
  for (let k = 0; k < n; k++) data.set(entries[k]!.bytes, k === 0 ? 0 : ends[k - 1]!);
  return { firstIndex, count: n, terms, ends, data };
}

function startOf(batch: FlushBatch, k: number): number {
  return k === 0 ? 0 : batch.ends[k - 1]!;
}

/** Everything a flush needs, as plain data. */
export interface SegmentFlushTask {
  readonly dir: string;
  /** Files to delete first: segments wholly at or above the first index being written. */
  readonly deletePaths: readonly string[];
  /** The segment to append to (already cut back if entries overwrite part of it). */
  readonly reopen: SegmentInfo | undefined;
  readonly nextSeq: number;
  readonly batch: FlushBatch;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

export interface SegmentFlushResult {
  /** The reopened segment (if any) and new ones, in order. */
  readonly segments: SegmentInfo[];
}

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.seg`;
}

export function firstIndexOf(s: SegmentInfo): number {
  return readU64At(s.slots, 0);
}

export function lastIndexOf(s: SegmentInfo): number {
  return readU64At(s.slots, (s.count - 1) * SLOT_BYTES);
}

function readU64At(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** Appends entries to segment files. Two syncs per file touched: slots and data, then the header that commits them. */
export async function runSegmentFlush(task: SegmentFlushTask, fs: LogFs = new NodeFs()): Promise<SegmentFlushResult> {
  for (const p of task.deletePaths) await fs.rmrf(p);
  const out: SegmentInfo[] = [];
  let cur = task.reopen;
  let nextSeq = task.nextSeq;
  let i = 0;
  let created = false;
  const batch = task.batch;
  while (i < batch.count) {
    const contiguous = cur !== undefined && (cur.count === 0 || lastIndexOf(cur) + 1 === batch.firstIndex + i);
    let n = cur !== undefined && contiguous ? fitting(cur, batch, i, task.maxBytes) : 0;
    if (cur === undefined || n === 0) {
      if (cur !== undefined) out.push(cur);
      const seq = nextSeq++;
      cur = { seq, path: joinPath(task.dir, segmentFileName(seq)), capacity: task.maxEntries, count: 0, dataEnd: dataStart(task.maxEntries), slots: Buffer.alloc(0) };
      created = true;
      n = fitting(cur, batch, i, task.maxBytes);
      assert(n > 0, `new segment ${cur.path} takes no entry`);
    }
    cur = await appendToSegment(fs, cur, batch, i, n);
    i += n;
  }
  if (cur !== undefined) out.push(cur);
  if (created) await fs.syncDir(task.dir);
  return { segments: out };
}

function fitting(cur: SegmentInfo, batch: FlushBatch, start: number, maxBytes: number): number {
  const room = cur.capacity - cur.count;
  const count = batch.count;
  let bytes = cur.dataEnd - dataStart(cur.capacity);
  let n = 0;
  while (n < room && start + n < count) {
    const len = batch.ends[start + n]! - startOf(batch, start + n);
    if (cur.count + n > 0 && bytes + len > maxBytes) break;
    bytes += len;
    n++;
  }
  return n;
}

async function appendToSegment(fs: LogFs, cur: SegmentInfo, batch: FlushBatch, start: number, n: number): Promise<SegmentInfo> {
  const from = startOf(batch, start);
  const data = batch.data.subarray(from, batch.ends[start + n - 1]!);
  const slots = Buffer.allocUnsafe(n * SLOT_BYTES);
  let offset = cur.dataEnd;
  for (let k = 0; k < n; k++) {
    const at = startOf(batch, start + k) - from;
    const payload = data.subarray(at, batch.ends[start + k]! - from);
    encodeSlot(slots, k, batch.firstIndex + start + k, batch.terms[start + k]!, offset, payload);
    offset += payload.byteLength;
  }
  // A new segment is built under a temporary name and renamed once complete, so a
  // .seg file always has a committed header: a bad one is corruption, not a crash.
  const isNew = cur.count === 0;
  const handle = await fs.open(isNew ? `${cur.path}.tmp` : cur.path, isNew ? 'create' : 'write');
  try {
    await handle.writeAt(data, cur.dataEnd);
    await handle.writeAt(slots, SEGMENT_HEADER_BYTES + cur.count * SLOT_BYTES);
    await handle.datasync();
    const header = { capacity: cur.capacity, count: cur.count + n, dataEnd: offset };
    await handle.writeAt(encodeSegmentHeader(header), 0);
    await handle.datasync();
    await handle.close();
    if (isNew) await fs.rename(`${cur.path}.tmp`, cur.path);
    return { ...cur, ...header, slots: Buffer.concat([cur.slots, slots]) };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** Slots i0..i1 of `s` with their payloads out of `bytes` (read from offset `start`), each checked against its CRC. */
function verifiedEntries(s: SegmentInfo, i0: number, i1: number, start: number, bytes: Buffer, out: FlushEntry[]): FlushEntry[] {
  for (let i = i0; i <= i1; i++) {
    const slot = readSlot(s.slots, i);
    const rel = slot.offset - start;
    const payload = bytes.subarray(rel, rel + slot.length);
    if (payload.length !== slot.length || !slotChecksumOk(s.slots, i, payload)) {
      throw new LogCorruptionError(s.path, slot.offset, `entry ${slot.index} failed its checksum on read`);
    }
    out.push({ index: slot.index, term: slot.term, bytes: payload });
  }
  return out;
}

/** The segments of one server, in index order. Reads are synchronous (LogReader contract). */
export class SegmentStore {
  private segments: SegmentInfo[] = [];
  private nextSeq = 1;

  constructor(
    readonly dir: string,
    private readonly fs: LogFs,
  ) {}

  /** Opens and fully verifies every segment file of a server. */
  static async recover(dir: string, fs: LogFs): Promise<SegmentStore> {
    const store = new SegmentStore(dir, fs);
    await fs.mkdirp(dir);
    // Unfinished new segments: their entries are still in the WAL.
    for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))) await fs.rmrf(joinPath(dir, name));
    const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    for (const name of names) {
      const path = joinPath(dir, name);
      const seq = Number.parseInt(name, 10);
      const { header, slots } = verifySegment(await fs.readFile(path), path);
      store.nextSeq = Math.max(store.nextSeq, seq + 1);
      if (header.count === 0) {
        await fs.unlink(path);
        continue;
      }
      const info: SegmentInfo = { seq, path, ...header, slots };
      const prev = store.segments.at(-1);
      if (prev !== undefined && firstIndexOf(info) <= lastIndexOf(prev)) {
        throw new LogCorruptionError(path, SEGMENT_HEADER_BYTES, `first index ${firstIndexOf(info)} overlaps previous segment ending at ${lastIndexOf(prev)}`);
      }
      store.segments.push(info);
    }
    return store;
  }

  first(): number | undefined {
    const s = this.segments[0];
    return s === undefined ? undefined : firstIndexOf(s);
  }

  last(): number | undefined {
    const s = this.segments.at(-1);
    return s === undefined ? undefined : lastIndexOf(s);
  }

  count(): number {
    return this.segments.length;
  }

  termAt(index: number): number | undefined {
    const s = this.find(index);
    if (s === undefined) return undefined;
    return readSlot(s.slots, index - firstIndexOf(s)).term;
  }

  /**
   * Entries from..to that the segments hold, verified against their checksums. A
   * synchronous read (the LogReader contract): prefer readSlice off the hot path.
   */
  read(from: number, to: number): FlushEntry[] {
    const out: FlushEntry[] = [];
    let index = from;
    // Bounded by the number of segments the range spans.
    while (index <= to) {
      const s = this.find(index);
      if (s === undefined) break;
      const end = Math.min(to, lastIndexOf(s));
      const i0 = index - firstIndexOf(s);
      const i1 = end - firstIndexOf(s);
      const a = readSlot(s.slots, i0);
      const b = readSlot(s.slots, i1);
      const bytes = this.fs.readSync(s.path, a.offset, b.offset + b.length - a.offset);
      verifiedEntries(s, i0, i1, a.offset, bytes, out);
      index = end + 1;
    }
    return out;
  }

  /**
   * The first slice of from..to: consecutive entries of one segment, at most
   * `maxEntries` and `maxBytes` of payload (but at least one entry), read with
   * asynchronous I/O so the thread (and the WAL on it) runs meanwhile. Empty if the
   * segments do not hold `from`.
   */
  async readSlice(from: number, to: number, maxEntries: number, maxBytes: number): Promise<FlushEntry[]> {
    const s = this.find(from);
    if (s === undefined || to < from) return [];
    const first = firstIndexOf(s);
    const i0 = from - first;
    const last = Math.min(to, lastIndexOf(s)) - first;
    const start = readSlot(s.slots, i0).offset;
    let i1 = i0;
    // Bounded by maxEntries.
    while (i1 < last && i1 - i0 + 1 < maxEntries) {
      const next = readSlot(s.slots, i1 + 1);
      if (next.offset + next.length - start > maxBytes) break;
      i1++;
    }
    const end = readSlot(s.slots, i1);
    const handle = await this.fs.open(s.path, 'read');
    let bytes: Buffer;
    try {
      bytes = await handle.readAt(end.offset + end.length - start, start);
    } finally {
      await handle.close();
    }
    return verifiedEntries(s, i0, i1, start, bytes, []);
  }

  /** Builds the flush of `batch` into this server's segments. */
  planFlush(batch: FlushBatch, maxEntries = SEGMENT_ENTRIES_MAX, maxBytes = SEGMENT_BYTES_MAX): SegmentFlushTask {
    const from = batch.firstIndex;
    const deletePaths: string[] = [];
    let reopen: SegmentInfo | undefined = this.segments.at(-1);
    // Entries overwriting flushed ones: cut the segments back first.
    for (let k = this.segments.length - 1; k >= 0; k--) {
      const s = this.segments[k] as SegmentInfo;
      if (lastIndexOf(s) < from) break;
      if (firstIndexOf(s) >= from) {
        deletePaths.push(s.path);
        reopen = this.segments[k - 1];
      } else {
        const keep = from - firstIndexOf(s);
        const slot = readSlot(s.slots, keep);
        reopen = { ...s, count: keep, dataEnd: slot.offset, slots: s.slots.subarray(0, keep * SLOT_BYTES) };
        break;
      }
    }
    return { dir: this.dir, deletePaths, reopen, nextSeq: this.nextSeq, batch, maxEntries, maxBytes };
  }

  /** Takes the result of a flush planned by planFlush. */
  applyFlush(task: SegmentFlushTask, result: SegmentFlushResult): void {
    const deleted = new Set(task.deletePaths);
    const touched = new Set(result.segments.map((s) => s.seq));
    this.segments = this.segments.filter((s) => !deleted.has(s.path) && !touched.has(s.seq));
    for (const s of result.segments) {
      if (s.count > 0) this.segments.push(s);
      this.nextSeq = Math.max(this.nextSeq, s.seq + 1);
    }
    this.segments.sort((x, y) => x.seq - y.seq);
  }

  /** Forgets segments wholly at or below `index` (a snapshot covers them) and returns their paths to delete. */
  dropUpTo(index: number): string[] {
    const gone = this.segments.filter((s) => lastIndexOf(s) <= index);
    this.segments = this.segments.filter((s) => lastIndexOf(s) > index);
    return gone.map((s) => s.path);
  }

  private find(index: number): SegmentInfo | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid] as SegmentInfo;
      if (index < firstIndexOf(s)) hi = mid - 1;
      else if (index > lastIndexOf(s)) lo = mid + 1;
      else return s;
    }
    return undefined;
  }
}
