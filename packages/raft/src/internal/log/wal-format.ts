// WAL file format (pure): header, writer-definition and entry records, and the
// recovery scanner that tells a torn tail from corruption. See docs/internals/log-format.md.
import { crc32c, crc32cCombine } from './checksum.js';
import { LogCorruptionError, LogVersionError, assert } from './errors.js';
import { ENTRY_PAYLOAD_BYTES_MAX, INDEX_MAX, WAL_EARLIER_FRAME_PROBES_MAX, WRITER_ID_BYTES_MAX } from './limits.js';

export const WAL_MAGIC = 0x4c574652; // "RFWL" little-endian
/**
 * 2: one CRC per batch frame instead of one per record (v1).
 * 3: each frame names its file's sequence number, so a reused file's old frames are told apart.
 */
export const WAL_VERSION = 3;
export const WAL_HEADER_BYTES = 16;
export const WAL_FLAG_CHECKSUMS = 1;

export const TAG_FRAME = 0x42; // 'B'
export const TAG_WRITER = 0x57; // 'W'
export const TAG_ENTRY = 0x45; // 'E'
/** tag, the file's sequence number, body length; the body follows, then a CRC over head and body */
export const FRAME_HEAD_BYTES = 1 + 4 + 4;
export const FRAME_OVERHEAD_BYTES = FRAME_HEAD_BYTES + 4;
/** tag, ref, index, term, length; then the payload */
export const ENTRY_HEAD_BYTES = 1 + 4 + 8 + 8 + 4;
export const ENTRY_OVERHEAD_BYTES = ENTRY_HEAD_BYTES;
/** tag, ref, id length; then the id bytes */
export const WRITER_HEAD_BYTES = 1 + 4 + 2;

export interface WalHeader {
  readonly version: number;
  readonly checksums: boolean;
  readonly seq: number;
}

export function encodeWalHeader(seq: number, checksums: boolean): Buffer {
  const buf = Buffer.alloc(WAL_HEADER_BYTES);
  buf.writeUInt32LE(WAL_MAGIC, 0);
  buf.writeUInt16LE(WAL_VERSION, 4);
  buf.writeUInt16LE(checksums ? WAL_FLAG_CHECKSUMS : 0, 6);
  buf.writeUInt32LE(seq, 8);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 12)), 12);
  return buf;
}

// Payload sizes are read as `.length` (the byte count of a Uint8Array): on Node 20 the
// `byteLength` getter is not inlined and costs ~20 ns a read, `.length` ~2 ns.

// Plain byte stores: Buffer.writeUInt32LE's argument checks cost more than the store
// on the per-entry path. Callers have sized the buffer.
function putU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value;
  buf[offset + 1] = value >>> 8;
  buf[offset + 2] = value >>> 16;
  buf[offset + 3] = value >>> 24;
}

export function writeU64(buf: Uint8Array, value: number, offset: number): void {
  const low = value >>> 0;
  putU32(buf, offset, low);
  putU32(buf, offset + 4, (value - low) / 0x1_0000_0000);
}

export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 0x1_0000_0000;
}

export function writerRecordBytes(idBytes: number): number {
  return WRITER_HEAD_BYTES + idBytes;
}

/** Writes a writer definition at `offset` (inside a frame); returns the offset after it. `id` as a string is written in UTF-8. */
export function encodeWriterRecord(buf: Buffer, offset: number, ref: number, id: string | Uint8Array): number {
  const length = typeof id === 'string' ? Buffer.byteLength(id, 'utf8') : id.length;
  assert(length > 0 && length <= WRITER_ID_BYTES_MAX, `writer id length ${length}`);
  buf[offset] = TAG_WRITER;
  putU32(buf, offset + 1, ref);
  buf[offset + 5] = length;
  buf[offset + 6] = length >>> 8;
  if (typeof id === 'string') buf.write(id, offset + WRITER_HEAD_BYTES, length, 'utf8');
  else buf.set(id, offset + WRITER_HEAD_BYTES);
  return offset + WRITER_HEAD_BYTES + length;
}

/** Writes an entry record at `offset` (inside a frame); returns the offset after it. */
export function encodeEntryRecord(buf: Buffer, offset: number, ref: number, index: number, term: number, payload: Uint8Array): number {
  if (!(Number.isSafeInteger(index) && index > 0)) assert(false, `entry index ${index}`);
  if (!(Number.isSafeInteger(term) && term >= 0)) assert(false, `entry term ${term} at index ${index}`);
  const length = payload.length;
  buf[offset] = TAG_ENTRY;
  putU32(buf, offset + 1, ref);
  writeU64(buf, index, offset + 5);
  writeU64(buf, term, offset + 13);
  putU32(buf, offset + 21, length);
  const at = offset + ENTRY_HEAD_BYTES;
  buf.set(payload, at);
  return at + length;
}

/** A DataView over all of `buf`: encodeEntryRun stores entry heads through it. */
export function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Writes the entry records of payloads[start..end) with indexes fromIndex + i, one
 * after another from `offset`; returns the offset after the last. The caller has
 * checked indexes, terms and room once for the whole run. `view` is viewOf(buf): on
 * Node 20 a DataView store of a word costs about a third of four byte stores.
 */
export function encodeEntryRun(
  buf: Buffer,
  view: DataView,
  offset: number,
  ref: number,
  fromIndex: number,
  terms: number | readonly number[],
  payloads: readonly Uint8Array[],
  start: number,
  end: number,
): number {
  let at = offset;
  const oneTerm = typeof terms === 'number';
  // One term: its words are worked out once, not per entry.
  let term = oneTerm ? terms : 0;
  let termLow = term >>> 0;
  let termHigh = (term - termLow) / 0x1_0000_0000;
  for (let i = start; i < end; i++) {
    if (!oneTerm) {
      term = terms[i] as number;
      termLow = term >>> 0;
      termHigh = (term - termLow) / 0x1_0000_0000;
    }
    const payload = payloads[i] as Uint8Array;
    const length = payload.length;
    const index = fromIndex + i;
    const indexLow = index >>> 0;
    view.setUint8(at, TAG_ENTRY);
    view.setUint32(at + 1, ref, true);
    view.setUint32(at + 5, indexLow, true);
    view.setUint32(at + 9, (index - indexLow) / 0x1_0000_0000, true);
    view.setUint32(at + 13, termLow, true);
    view.setUint32(at + 17, termHigh, true);
    view.setUint32(at + 21, length, true);
    buf.set(payload, at + ENTRY_HEAD_BYTES);
    at += ENTRY_HEAD_BYTES + length;
  }
  return at;
}

/**
 * The CRC of body bytes from the frame's body start up to `end`, continuing one over
 * the bytes before `from` (`bodyCrc`): the writer hashes a batch's body in pieces while
 * it fills, so sealing hashes only the tail.
 */
export function hashFrameBody(buf: Buffer, from: number, end: number, bodyCrc: number): number {
  return crc32c(buf.subarray(from, end), bodyCrc);
}

/**
 * Closes the frame that starts at `start` (records from start + FRAME_HEAD_BYTES to
 * `end`) in file `seq`: writes its head and the CRC over head and body. Returns the frame's end.
 * One CRC call per batch: per record, the native call costs more than the hashing.
 * `bodyCrc` covers the body up to `hashedTo` already (see hashFrameBody); the head,
 * which holds the body's length, is hashed last and combined in front.
 */
export function sealFrame(buf: Buffer, start: number, end: number, seq: number, checksums: boolean, bodyCrc = 0, hashedTo = start + FRAME_HEAD_BYTES): number {
  const bodyBytes = end - start - FRAME_HEAD_BYTES;
  assert(bodyBytes >= 0, `frame body of ${bodyBytes} bytes`);
  assert(hashedTo >= start + FRAME_HEAD_BYTES && hashedTo <= end, `frame hashed to ${hashedTo} outside ${start}..${end}`);
  buf[start] = TAG_FRAME;
  putU32(buf, start + 1, seq);
  putU32(buf, start + 5, bodyBytes);
  let crc = 0;
  if (checksums) {
    const body = hashFrameBody(buf, hashedTo, end, bodyCrc);
    crc = crc32cCombine(crc32c(buf.subarray(start, start + FRAME_HEAD_BYTES)), body, bodyBytes);
  }
  putU32(buf, end, crc);
  return end + 4;
}

export interface WalScanSink {
  /** `offset` is the record's; `frameEnd` is where its frame (the unit of durability) ends. */
  entry(writerId: string, index: number, term: number, payload: Buffer, offset: number, frameEnd: number): void;
}

export interface WalScanResult {
  readonly header: WalHeader | undefined;
  /** Bytes of valid frames; less than the file's length when a tail was cut off. */
  readonly validBytes: number;
  /** The last file ends in bytes that are not a frame of it: torn, or a reused file's old contents. */
  readonly torn: boolean;
  /** The cut-off tail holds intact frames of an earlier file: the old contents of a reused file. */
  readonly stale: boolean;
}

type ParsedFrame = { kind: 'frame'; bodyStart: number; end: number } | { kind: 'bad'; reason: string; short: boolean; stale: boolean };

function parseFrame(buf: Buffer, at: number, checksums: boolean, seq: number): ParsedFrame {
  if (buf[at] !== TAG_FRAME) return { kind: 'bad', reason: `unknown frame tag ${buf[at]}`, short: false, stale: false };
  if (at + FRAME_HEAD_BYTES > buf.length) return { kind: 'bad', reason: 'frame head cut short', short: true, stale: false };
  const bodyBytes = buf.readUInt32LE(at + 5);
  const end = at + FRAME_HEAD_BYTES + bodyBytes + 4;
  if (end > buf.length) return { kind: 'bad', reason: 'frame cut short', short: true, stale: false };
  if (checksums && crc32c(buf.subarray(at, end - 4)) !== buf.readUInt32LE(end - 4)) {
    return { kind: 'bad', reason: 'frame checksum mismatch', short: false, stale: false };
  }
  const frameSeq = buf.readUInt32LE(at + 1);
  if (frameSeq !== seq) return { kind: 'bad', reason: `frame of file ${frameSeq} in file ${seq}`, short: false, stale: true };
  return { kind: 'frame', bodyStart: at + FRAME_HEAD_BYTES, end };
}


/**
 * What lies after damage at `from`: whether a checksummed frame of this file parses
 * cleanly there (then the damage is not a tail), and whether an intact frame of an
 * earlier file does (the old contents of a reused file). A candidate is checksummed
 * only if its head names this file (or, a few times, an earlier one): a reused file's
 * tail is long, and a checksum per tag byte in it would take quadratic time.
 */
function framesAfter(buf: Buffer, from: number, seq: number): { ofThisFile: boolean; ofEarlierFile: boolean } {
  let ofEarlierFile = false;
  let probes = 0;
  for (let p = buf.indexOf(TAG_FRAME, from); p >= 0 && p + FRAME_HEAD_BYTES <= buf.length; p = buf.indexOf(TAG_FRAME, p + 1)) {
    const frameSeq = buf.readUInt32LE(p + 1);
    if (frameSeq === seq) {
      if (parseFrame(buf, p, true, seq).kind === 'frame') return { ofThisFile: true, ofEarlierFile };
    } else if (!ofEarlierFile && frameSeq > 0 && frameSeq < seq && probes < WAL_EARLIER_FRAME_PROBES_MAX) {
      probes++;
      const frame = parseFrame(buf, p, true, seq);
      ofEarlierFile = frame.kind === 'bad' && frame.stale;
    }
  }
  return { ofThisFile: false, ofEarlierFile };
}

/** Reads the records of one frame whose checksum passed; any flaw is corruption. */
function scanFrameBody(buf: Buffer, file: string, bodyStart: number, frameEnd: number, writers: Map<number, string>, sink: WalScanSink): void {
  const bodyEnd = frameEnd - 4;
  let at = bodyStart;
  while (at < bodyEnd) {
    const tag = buf[at];
    if (tag === TAG_WRITER) {
      if (at + WRITER_HEAD_BYTES > bodyEnd) throw new LogCorruptionError(file, at, 'writer record overruns its frame');
      const ref = buf.readUInt32LE(at + 1);
      const idLen = buf.readUInt16LE(at + 5);
      const end = at + WRITER_HEAD_BYTES + idLen;
      if (idLen === 0 || idLen > WRITER_ID_BYTES_MAX || end > bodyEnd) throw new LogCorruptionError(file, at, `writer id length ${idLen}`);
      if (writers.has(ref)) throw new LogCorruptionError(file, at, `writer ref ${ref} defined twice`);
      writers.set(ref, buf.toString('utf8', at + WRITER_HEAD_BYTES, end));
      at = end;
    } else if (tag === TAG_ENTRY) {
      if (at + ENTRY_HEAD_BYTES > bodyEnd) throw new LogCorruptionError(file, at, 'entry record overruns its frame');
      const len = buf.readUInt32LE(at + 21);
      const end = at + ENTRY_HEAD_BYTES + len;
      if (len > ENTRY_PAYLOAD_BYTES_MAX || end > bodyEnd) throw new LogCorruptionError(file, at, `payload length ${len}`);
      const index = readU64(buf, at + 5);
      const term = readU64(buf, at + 13);
      if (index < 1 || index > INDEX_MAX || term > INDEX_MAX) throw new LogCorruptionError(file, at, `entry index ${index} term ${term} out of range`);
      const id = writers.get(buf.readUInt32LE(at + 1));
      if (id === undefined) throw new LogCorruptionError(file, at, `entry refers to undefined writer ref ${buf.readUInt32LE(at + 1)}`);
      sink.entry(id, index, term, buf.subarray(at + ENTRY_HEAD_BYTES, end), at, frameEnd);
      at = end;
    } else {
      throw new LogCorruptionError(file, at, `unknown record tag ${tag}`);
    }
  }
}

export function decodeWalHeader(buf: Buffer, file: string): WalHeader {
  if (buf.length < WAL_HEADER_BYTES) throw new LogCorruptionError(file, 0, 'header cut short');
  if (buf.readUInt32LE(0) !== WAL_MAGIC) throw new LogCorruptionError(file, 0, 'not a WAL file (bad magic)');
  if (crc32c(buf.subarray(0, 12)) !== buf.readUInt32LE(12)) throw new LogCorruptionError(file, 0, 'header checksum mismatch');
  const version = buf.readUInt16LE(4);
  if (version !== WAL_VERSION) throw new LogVersionError(file, version, WAL_VERSION);
  return { version, checksums: (buf.readUInt16LE(6) & WAL_FLAG_CHECKSUMS) !== 0, seq: buf.readUInt32LE(8) };
}

/**
 * Reads every record of one WAL file into `sink`, in file order. A bad frame in the
 * last file with no frame of this file after it is a torn write, or the end of what a
 * reused file holds now: the scan stops there and reports `torn`. Anything else throws
 * LogCorruptionError naming file and offset. `nameSeq`, the sequence number in the
 * file's name, must match its header.
 */
export function scanWal(buf: Buffer, file: string, isLastFile: boolean, sink: WalScanSink, nameSeq?: number): WalScanResult {
  if (buf.length < WAL_HEADER_BYTES && isLastFile) {
    // A crash between creating the file and its first sync.
    return { header: undefined, validBytes: 0, torn: buf.length > 0, stale: false };
  }
  const header = decodeWalHeader(buf, file);
  if (nameSeq !== undefined && header.seq !== nameSeq) throw new LogCorruptionError(file, 0, `the header says file ${header.seq}, the name says ${nameSeq}`);
  const writers = new Map<number, string>();
  let at = WAL_HEADER_BYTES;
  while (at < buf.length) {
    const frame = parseFrame(buf, at, header.checksums, header.seq);
    if (frame.kind === 'bad') {
      const after = header.checksums ? framesAfter(buf, at + 1, header.seq) : { ofThisFile: !frame.short, ofEarlierFile: false };
      if (isLastFile && !after.ofThisFile) return { header, validBytes: at, torn: true, stale: frame.stale || after.ofEarlierFile };
      throw new LogCorruptionError(file, at, frame.reason);
    }
    // Records are parsed only once their whole frame has passed: a torn batch never
    // reaches the sink, so no entry is reported that was not durable as a batch.
    scanFrameBody(buf, file, frame.bodyStart, frame.end, writers, sink);
    at = frame.end;
  }
  return { header, validBytes: at, torn: false, stale: false };
}
