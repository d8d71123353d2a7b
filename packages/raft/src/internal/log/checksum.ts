// CRC32C (Castagnoli) over byte ranges; hardware-accelerated in @node-rs/crc32.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(bytes: Uint8Array, seed = 0): number {
  const buf = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return nativeCrc32c(buf, seed) >>> 0;
}

// CRC32C polynomial, bit-reflected. In the reflected form bit 31 stands for x^0.
const POLY_REFLECTED = 0x82f63b78;
const X0 = 0x8000_0000;

/** a(x) * b(x) mod P(x), both reflected. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = X0; bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) product ^= b;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLY_REFLECTED : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) mod P for k = 0..31: squaring steps for x^(8n) mod P. */
const X_POW_2K: number[] = [];
for (let k = 0, p = X0 >>> 1; k < 32; k++, p = multiplyModP(p, p)) X_POW_2K.push(p);

/** x^(8 * bytes) mod P: the effect of appending `bytes` zero bytes to a CRC's register. */
function shiftByBytes(bytes: number): number {
  let power = X0;
  // 8 * bytes = bytes * 2^3: start at k = 3. Lengths are below 2^32 (a frame's body).
  for (let k = 3, n = bytes; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) power = multiplyModP(X_POW_2K[k % 32] as number, power);
  }
  return power;
}

/**
 * The CRC32C of A followed by B, from crc32c(A), crc32c(B) and B's length, without
 * reading either: lets a frame's body be hashed in pieces while it is filled and its
 * head (which holds the body's length) be hashed last though it comes first.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModP(shiftByBytes(lengthB), crcA) ^ crcB) >>> 0;
}
