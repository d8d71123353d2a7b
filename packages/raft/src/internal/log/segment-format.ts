// Segment file format (pure): a header, a fixed index region of `capacity` slots and a
// data region. The header's count says how many slots are committed; it is written
// (and synced) only after the slots and data it covers. See docs/internals/log-format.md.
import { crc32c } from './checksum.js';
import { LogCorruptionError, LogVersionError, assert } from './errors.js';
import { readU64, writeU64 } from './wal-format.js';

export const SEGMENT_MAGIC = 0x47534652; // "RFSG" little-endian
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;
export const SLOT_BYTES = 32;

export interface SegmentHeader {
  readonly capacity: number;
  readonly count: number;
  readonly dataEnd: number;
}

export function dataStart(capacity: number): number {
  return SEGMENT_HEADER_BYTES + capacity * SLOT_BYTES;
}

export function encodeSegmentHeader(h: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt16LE(SEGMENT_VERSION, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeUInt32LE(h.capacity, 8);
  buf.writeUInt32LE(h.count, 12);
  buf.writeUInt32LE(h.dataEnd, 16);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 28)), 28);
  return buf;
}

export function decodeSegmentHeader(buf: Buffer, file: string): SegmentHeader {
  if (buf.length < SEGMENT_HEADER_BYTES) throw new LogCorruptionError(file, 0, 'segment header cut short');
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC) throw new LogCorruptionError(file, 0, 'not a segment file (bad magic)');
  if (crc32c(buf.subarray(0, 28)) !== buf.readUInt32LE(28)) throw new LogCorruptionError(file, 0, 'segment header checksum mismatch');
  const version = buf.readUInt16LE(4);
  if (version !== SEGMENT_VERSION) throw new LogVersionError(file, version, SEGMENT_VERSION);
  const capacity = buf.readUInt32LE(8);
  const count = buf.readUInt32LE(12);
  const dataEnd = buf.readUInt32LE(16);
  if (count > capacity || dataEnd < dataStart(capacity)) {
    throw new LogCorruptionError(file, 0, `segment header count ${count} capacity ${capacity} data end ${dataEnd}`);
  }
  return { capacity, count, dataEnd };
}

/** Fills slot `i` of `slots` for an entry whose payload sits at `offset`. */
export function encodeSlot(slots: Buffer, i: number, index: number, term: number, offset: number, payload: Uint8Array): void {
  const at = i * SLOT_BYTES;
  writeU64(slots, index, at);
  writeU64(slots, term, at + 8);
  slots.writeUInt32LE(offset, at + 16);
  slots.writeUInt32LE(payload.byteLength, at + 20);
  slots.writeUInt32LE(0, at + 24);
  slots.writeUInt32LE(crc32c(payload, crc32c(slots.subarray(at, at + 28))), at + 28);
}

export interface Slot {
  index: number;
  term: number;
  offset: number;
  length: number;
  crc: number;
}

export function readSlot(slots: Buffer, i: number): Slot {
  const at = i * SLOT_BYTES;
  assert(at + SLOT_BYTES <= slots.length, `slot ${i} outside index region`);
  return {
    index: readU64(slots, at),
    term: readU64(slots, at + 8),
    offset: slots.readUInt32LE(at + 16),
    length: slots.readUInt32LE(at + 20),
    crc: slots.readUInt32LE(at + 28),
  };
}

export function slotChecksumOk(slots: Buffer, i: number, payload: Uint8Array): boolean {
  const at = i * SLOT_BYTES;
  return crc32c(payload, crc32c(slots.subarray(at, at + 28))) === slots.readUInt32LE(at + 28);
}

/**
 * Checks a whole segment file: header, every committed slot (consecutive indexes,
 * data inside the data region, checksum over slot and payload). Returns the committed
 * slots; throws LogCorruptionError naming the offset of the first bad part.
 */
export function verifySegment(buf: Buffer, file: string): { header: SegmentHeader; slots: Buffer } {
  const header = decodeSegmentHeader(buf, file);
  const start = dataStart(header.capacity);
  if (buf.length < header.dataEnd) throw new LogCorruptionError(file, buf.length, `file ends before its data end ${header.dataEnd}`);
  const slots = Buffer.from(buf.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + header.count * SLOT_BYTES));
  let expectOffset = start;
  let prevIndex = 0;
  for (let i = 0; i < header.count; i++) {
    const at = SEGMENT_HEADER_BYTES + i * SLOT_BYTES;
    const s = readSlot(slots, i);
    if (s.offset !== expectOffset || s.offset + s.length > header.dataEnd) {
      throw new LogCorruptionError(file, at, `slot ${i} points at ${s.offset}+${s.length}, expected ${expectOffset}`);
    }
    if (!slotChecksumOk(slots, i, buf.subarray(s.offset, s.offset + s.length))) {
      throw new LogCorruptionError(file, at, `entry checksum mismatch in slot ${i}`);
    }
    if (i > 0 && s.index !== prevIndex + 1) throw new LogCorruptionError(file, at, `slot ${i} index ${s.index} after ${prevIndex}`);
    if (s.index < 1) throw new LogCorruptionError(file, at, `slot ${i} index ${s.index}`);
    prevIndex = s.index;
    expectOffset = s.offset + s.length;
  }
  if (expectOffset !== header.dataEnd) throw new LogCorruptionError(file, 0, `data end ${header.dataEnd} but entries end at ${expectOffset}`);
  return { header, slots };
}
