// Goal: whatever a peer sends, in any field of any frame kind, before or after the
// handshake, the node handles it or closes that one connection; it never dies. The
// node runs in a child process (see fuzz/harness.ts); `pnpm fuzz --cases N` runs more.

import { describe, expect, it } from 'vitest';
import { runFuzz } from './fuzz/harness.js';

describe('fuzz', () => {
  it('a node in a child process survives thousands of hostile inputs and still serves', async () => {
    const stats = await runFuzz({ cases: 5_000, seed: 20_261_130 });
    expect(stats.cases).toBe(5_000);
    // Both paths were taken: inputs an authenticated peer may send are served, others close.
    expect(stats.handled).toBeGreaterThan(50);
    expect(stats.closed).toBeGreaterThan(2_000);
  }, 120_000);
});
