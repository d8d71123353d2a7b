// WAL file format (pure): header, writer-definition and entry records, and the
// recovery scanner that tells a torn tail from corruption. See docs/internals/log-format.md.
import { crc32c } from './checksum.js';
import { LogCorruptionError, LogVersionError, assert } from './errors.js';
import { ENTRY_PAYLOAD_BYTES_MAX, INDEX_MAX, WRITER_ID_BYTES_MAX } from './limits.js';

export const WAL_MAGIC = 0x4c574652; // "RFWL" little-endian
export const WAL_VERSION = 1;
export const WAL_HEADER_BYTES = 16;
export const WAL_FLAG_CHECKSUMS = 1;

export const TAG_WRITER = 0x57; // 'W'
export const TAG_ENTRY = 0x45; // 'E'
/** tag, ref, index, term, length */
export const ENTRY_HEAD_BYTES = 1 + 4 + 8 + 8 + 4;
export const ENTRY_OVERHEAD_BYTES = ENTRY_HEAD_BYTES + 4;
/** tag, ref, id length; then id bytes and crc */
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

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % 0x1_0000_0000, offset);
  buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 0x1_0000_0000;
}

export function writerRecordBytes(idBytes: number): number {
  return WRITER_HEAD_BYTES + idBytes + 4;
}

/** Writes a writer definition at `offset`; returns the offset after it. */
export function encodeWriterRecord(buf: Buffer, offset: number, ref: number, id: Buffer, checksums: boolean): number {
  assert(id.length > 0 && id.length <= WRITER_ID_BYTES_MAX, `writer id length ${id.length}`);
  buf[offset] = TAG_WRITER;
  buf.writeUInt32LE(ref, offset + 1);
  buf.writeUInt16LE(id.length, offset + 5);
  id.copy(buf, offset + WRITER_HEAD_BYTES);
  const end = offset + WRITER_HEAD_BYTES + id.length;
  buf.writeUInt32LE(checksums ? crc32c(buf.subarray(offset, end)) : 0, end);
  return end + 4;
}

/** Writes an entry record at `offset`; the trailing CRC covers everything before it. */
export function encodeEntryRecord(
  buf: Buffer,
  offset: number,
  ref: number,
  index: number,
  term: number,
  payload: Uint8Array,
  checksums: boolean,
): number {
  assert(Number.isSafeInteger(index) && index > 0, `entry index ${index}`);
  assert(Number.isSafeInteger(term) && term >= 0, `entry term ${term} at index ${index}`);
  buf[offset] = TAG_ENTRY;
  buf.writeUInt32LE(ref, offset + 1);
  writeU64(buf, index, offset + 5);
  writeU64(buf, term, offset + 13);
  buf.writeUInt32LE(payload.byteLength, offset + 21);
  buf.set(payload, offset + ENTRY_HEAD_BYTES);
  const end = offset + ENTRY_HEAD_BYTES + payload.byteLength;
  buf.writeUInt32LE(checksums ? crc32c(buf.subarray(offset, end)) : 0, end);
  return end + 4;
}

export interface WalScanSink {
  entry(writerId: string, index: number, term: number, payload: Buffer, offset: number): void;
}

export interface WalScanResult {
  readonly header: WalHeader | undefined;
  /** Bytes of valid records; less than the file's length when a torn tail was found. */
  readonly validBytes: number;
  readonly torn: boolean;
}

type Parsed =
  | { kind: 'writer'; end: number; ref: number; id: string }
  | { kind: 'entry'; end: number; ref: number; index: number; term: number; payloadStart: number; payloadEnd: number }
  | { kind: 'bad'; reason: string; short: boolean };

function parseRecord(buf: Buffer, at: number, checksums: boolean): Parsed {
  const tag = buf[at];
  if (tag === TAG_WRITER) {
    if (at + WRITER_HEAD_BYTES > buf.length) return { kind: 'bad', reason: 'writer record cut short', short: true };
    const idLen = buf.readUInt16LE(at + 5);
    const end = at + WRITER_HEAD_BYTES + idLen + 4;
    if (end > buf.length) return { kind: 'bad', reason: 'writer record cut short', short: true };
    if (idLen === 0 || idLen > WRITER_ID_BYTES_MAX) return { kind: 'bad', reason: `writer id length ${idLen}`, short: false };
    if (checksums && crc32c(buf.subarray(at, end - 4)) !== buf.readUInt32LE(end - 4)) {
      return { kind: 'bad', reason: 'writer record checksum mismatch', short: false };
    }
    const id = buf.toString('utf8', at + WRITER_HEAD_BYTES, end - 4);
    return { kind: 'writer', end, ref: buf.readUInt32LE(at + 1), id };
  }
  if (tag === TAG_ENTRY) {
    if (at + ENTRY_HEAD_BYTES > buf.length) return { kind: 'bad', reason: 'entry record cut short', short: true };
    const len = buf.readUInt32LE(at + 21);
    const end = at + ENTRY_HEAD_BYTES + len + 4;
    if (len > ENTRY_PAYLOAD_BYTES_MAX) return { kind: 'bad', reason: `payload length ${len}`, short: false };
    if (end > buf.length) return { kind: 'bad', reason: 'entry record cut short', short: true };
    if (checksums && crc32c(buf.subarray(at, end - 4)) !== buf.readUInt32LE(end - 4)) {
      return { kind: 'bad', reason: 'entry record checksum mismatch', short: false };
    }
    const index = readU64(buf, at + 5);
    const term = readU64(buf, at + 13);
    if (index < 1 || index > INDEX_MAX || term > INDEX_MAX) {
      return { kind: 'bad', reason: `entry index ${index} term ${term} out of range`, short: false };
    }
    return { kind: 'entry', end, ref: buf.readUInt32LE(at + 1), index, term, payloadStart: at + ENTRY_HEAD_BYTES, payloadEnd: end - 4 };
  }
  return { kind: 'bad', reason: `unknown record tag ${tag}`, short: false };
}

/** True if a checksummed record parses cleanly anywhere after `from`: the damage is not a tail. */
function validRecordAfter(buf: Buffer, from: number): boolean {
  for (let p = from; p < buf.length; p++) {
    const tag = buf[p];
    if (tag !== TAG_ENTRY && tag !== TAG_WRITER) continue;
    if (parseRecord(buf, p, true).kind !== 'bad') return true;
  }
  return false;
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
 * Reads every record of one WAL file into `sink`, in file order. A bad record in the
 * last file with nothing valid after it is a torn write: the scan stops there and
 * reports `torn`. Anything else throws LogCorruptionError naming file and offset.
 */
export function scanWal(buf: Buffer, file: string, isLastFile: boolean, sink: WalScanSink): WalScanResult {
  if (buf.length < WAL_HEADER_BYTES && isLastFile) {
    // A crash between creating the file and its first sync.
    return { header: undefined, validBytes: 0, torn: buf.length > 0 };
  }
  const header = decodeWalHeader(buf, file);
  const writers = new Map<number, string>();
  let at = WAL_HEADER_BYTES;
  while (at < buf.length) {
    const rec = parseRecord(buf, at, header.checksums);
    if (rec.kind === 'bad') {
      const tail = header.checksums ? !validRecordAfter(buf, at + 1) : rec.short;
      if (isLastFile && tail) return { header, validBytes: at, torn: true };
      throw new LogCorruptionError(file, at, rec.reason);
    }
    if (rec.kind === 'writer') {
      if (writers.has(rec.ref)) throw new LogCorruptionError(file, at, `writer ref ${rec.ref} defined twice`);
      writers.set(rec.ref, rec.id);
    } else {
      const id = writers.get(rec.ref);
      if (id === undefined) throw new LogCorruptionError(file, at, `entry refers to undefined writer ref ${rec.ref}`);
      sink.entry(id, rec.index, rec.term, buf.subarray(rec.payloadStart, rec.payloadEnd), at);
    }
    at = rec.end;
  }
  return { header, validBytes: at, torn: false };
}
