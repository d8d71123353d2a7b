// Payload encoding for disk. Records are off: msgpackr's shared structures would live
// only in this process's memory and make files unreadable after a restart.
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: true });

export function encodeValue(value: unknown): Buffer {
  const bytes = packr.pack(value);
  if (bytes.buffer.byteLength > PACK_BUFFER_BYTES_MAX) packr.useBuffer(Buffer.allocUnsafeSlow(PACK_BUFFER_BYTES));
  return bytes;
}

/**
 * msgpackr packs every value, of every Packr in the process, into one shared buffer, and
 * when it fills takes a new one of the same size. A large value (a snapshot, a batch of
 * configurations) leaves that size large: after a 4 MB value each new buffer is 48 MB,
 * every small value afterwards pays its share of allocating them (about twice the cost
 * of packing it), and a small value kept pins one. So after a large value msgpackr is
 * handed a small buffer of its own again (the large one stays with the values in it).
 */
const PACK_BUFFER_BYTES_MAX = 1 << 20;
/** msgpackr's own first size: larger ones measured slower (64 KiB: 430 ns a small pack, against 260). */
const PACK_BUFFER_BYTES = 8 * 1024;

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
