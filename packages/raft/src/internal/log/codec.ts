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
