// An actor for a worker scheduler of the metrics test: it reads counters and the
// leaderboard from its own thread's copy of the index, over the shared buffers.

import { threadId } from 'node:worker_threads';
import type { Behaviour } from '@rafter/actors';
import { type KeyMetrics, keyMetrics, type LeaderboardEntry, leaderboard, lookupLeader, type ServerId } from '../../src/index.js';

export type ReaderRequest = { readonly op: 'read'; readonly id: ServerId; readonly cluster: string } | { readonly op: 'leaderboard' };
export type ReaderReply = { readonly metrics: KeyMetrics; readonly leader: ServerId | null; readonly thread: number };

/** Turns of this thread's event loop to wait for the index to arrive (it comes one turn after the import). */
const INDEX_WAIT_TURNS_MAX = 10_000;

export const reader: Behaviour<undefined, undefined> = {
  init: () => undefined,
  async handleCall(request: ReaderRequest, _from, state) {
    // This thread's leaderboard as it stands, without waiting.
    if (request.op === 'leaderboard') return { reply: leaderboard() satisfies LeaderboardEntry[], state };
    for (let turn = 0; ; turn++) {
      try {
        const reply: ReaderReply = { metrics: keyMetrics(request.id), leader: lookupLeader(request.cluster) ?? null, thread: threadId };
        return { reply, state };
      } catch (err) {
        if (turn >= INDEX_WAIT_TURNS_MAX) throw err;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  },
};
