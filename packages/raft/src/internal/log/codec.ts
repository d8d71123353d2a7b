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
 * The same bytes in a buffer of their own, one for the whole list: msgpackr packs into
 * views of a shared buffer of 64 KiB and more, and a view kept for long (the memory table
 * of an idle member holds its few entries until the next segment flush) would keep all
 * of it. One copy per list rather than per entry: a buffer per entry would cost an
 * allocation each, and the segment flush's worker message one buffer each.
 */
export function ownedCopies(views: Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (const view of views) total += view.byteLength;
  const first = views[0];
  if (first === undefined || total * 2 > first.buffer.byteLength) return views;
  const owned = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < views.length; i++) {
    const view = views[i]!;
    owned.set(view, at);
    views[i] = owned.subarray(at, at + view.byteLength);
    at += view.byteLength;
  }
  return views;
}
