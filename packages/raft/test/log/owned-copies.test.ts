// Entry bytes kept in the memory table must not pin msgpackr's shared buffer, and one
// append's entries share a single buffer of their own (not one each).

import { describe, expect, it } from 'vitest';
import { encodeValue, ownedCopies } from '../../src/internal/log/codec.js';

describe('ownedCopies', () => {
  it('copies small views of a large buffer into one exact buffer, bytes unchanged', () => {
    const views = [1, 'two', { three: 3 }].map((value) => encodeValue(value));
    const before = views.map((view) => [...view]);
    expect(views[0]!.buffer.byteLength).toBeGreaterThan(1_000); // msgpackr's shared buffer
    const owned = ownedCopies(views);
    expect(owned.map((view) => [...view])).toEqual(before);
    const total = before.reduce((n, bytes) => n + bytes.length, 0);
    for (const view of owned) expect(view.buffer.byteLength).toBe(total);
    expect(new Set(owned.map((view) => view.buffer)).size).toBe(1);
  });

  it('leaves views that fill most of their buffer as they are', () => {
    const big = new Uint8Array(1_000).subarray(0, 900);
    expect(ownedCopies([big])[0]).toBe(big);
  });
});

describe('encodeValue after a large value', () => {
  it('packs small values into a small buffer again, and leaves the large value intact', () => {
    const large = encodeValue({ state: 'x'.repeat(4_000_000) });
    const copy = Buffer.from(large);
    const small = encodeValue({ type: 'command', command: 1 });
    // msgpackr alone would pack it into a shared buffer of the large one's size (48 MB).
    expect(small.buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
    for (let i = 0; i < 10_000; i++) encodeValue({ i, filler: 'y'.repeat(100) });
    expect(large.equals(copy)).toBe(true);
  });
});
