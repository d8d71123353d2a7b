// A machine whose state grows by whole mebibytes from tiny commands, for large snapshots:
// `{ grow: n }` adds n MiB of bytes derived from the entry index (every member makes the
// same), `{ release: true }` releases a cursor there (a snapshot of the whole state).
// Queries: 'bytes' (state size) and 'digest' (a checksum of every byte).

import { type Machine, registerMachine } from '@rafter/raft';

export const BLOB_PIECE_BYTES = 1 << 20;

export interface BlobState {
  readonly pieces: readonly Uint8Array[];
}

export type BlobCommand = { readonly grow: number } | { readonly release: true };

/** Bytes from a xorshift generator seeded by (index, piece): incompressible and reproducible. */
function piece(index: number, n: number): Uint8Array {
  const out = new Uint32Array(BLOB_PIECE_BYTES / 4);
  let x = (index * 2654435761 + n * 40503 + 1) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x >>> 0;
  }
  return new Uint8Array(out.buffer);
}

function digest(state: BlobState): number {
  let h = 0;
  for (const p of state.pieces) {
    // Bytes, not words: a decoded piece may sit at any offset of the snapshot's buffer.
    for (let i = 0; i < p.length; i += 997) h = (Math.imul(h, 31) + (p[i] as number)) >>> 0;
  }
  return h;
}

export const blob: Machine<BlobState, BlobCommand> = {
  init: () => ({ pieces: [] }),
  apply: (meta, command, state) => {
    if ('release' in command) return { state, reply: meta.index, effects: [{ type: 'release_cursor', index: meta.index, state }] };
    const added = Array.from({ length: command.grow }, (_, n) => piece(meta.index, n));
    const next = { pieces: [...state.pieces, ...added] };
    return { state: next, reply: next.pieces.length };
  },
  query: (q: unknown, state) => (q === 'bytes' ? state.pieces.reduce((sum, p) => sum + p.byteLength, 0) : q === 'digest' ? digest(state) : undefined),
};

registerMachine('blob', blob);
