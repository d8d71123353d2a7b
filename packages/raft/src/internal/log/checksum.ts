// CRC32C (Castagnoli) over byte ranges; hardware-accelerated in @node-rs/crc32.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(bytes: Uint8Array, seed = 0): number {
  const buf = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return nativeCrc32c(buf, seed) >>> 0;
}
