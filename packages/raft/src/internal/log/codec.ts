// Payload encoding for disk. Records are off: msgpackr's shared structures would live
// only in this process's memory and make files unreadable after a restart.
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: true });

export function encodeValue(value: unknown): Buffer {
  return packr.pack(value);
}

export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * Bytes of their own, not a view into a larger buffer: msgpackr packs into views of one
 * shared buffer of 64 KiB and more, and a view kept for long (the memory table of an
 * idle member holds its few entries until the next segment flush) would keep all of it.
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength * 2 > bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}
