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
