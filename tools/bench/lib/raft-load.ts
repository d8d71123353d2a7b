// Pipelined load for the raft benchmark: client actors that keep a window of commands in
// flight with pipelineCommand and count the applied replies in this thread's counters.

import type { ActorContext, Behaviour } from '@rafter/actors';
import { isPipelineEvent, pipelineCommand, type PipelineEvent, type ServerId } from '@rafter/raft';

/** Applied replies received by this thread's clients. */
export const loadCounters = { applied: 0, rejected: 0 };

export interface LoadClientArgs {
  /** The leader first, then the other members (where to go when no leader is known). */
  readonly servers: readonly ServerId[];
  /** Commands kept in flight. */
  readonly window: number;
}

interface ClientState {
  readonly servers: readonly ServerId[];
  leader: ServerId;
  next: number;
  stopped: boolean;
}

const COMMAND = { add: 1 };
const RETRY_MS = 10;

/** A counter command per correlation; `{ type: 'stop' }` stops refilling the window. */
export const loadClient: Behaviour<ClientState, LoadClientArgs> = {
  init(ctx, { servers, window }) {
    const state: ClientState = { servers, leader: servers[0] as ServerId, next: 0, stopped: false };
    for (let i = 0; i < window; i++) propose(ctx, state);
    return state;
  },
  handle(msg: PipelineEvent | { type: 'stop' } | { type: 'retry'; count: number }, state, ctx) {
    if (isPipelineEvent(msg)) {
      const event = msg.event;
      if (event.type === 'applied') {
        const n = event.replies.length;
        loadCounters.applied += n;
        state.leader = msg.from;
        if (!state.stopped) for (let i = 0; i < n; i++) propose(ctx, state);
        return state;
      }
      loadCounters.rejected++;
      if (event.leader !== undefined) {
        state.leader = event.leader;
        if (!state.stopped) propose(ctx, state);
      } else {
        // No leader known: try the next member a little later.
        const at = state.servers.findIndex((s) => s.name === state.leader.name && s.node === state.leader.node);
        state.leader = state.servers[(at + 1) % state.servers.length] as ServerId;
        ctx.sendAfter(RETRY_MS, { type: 'retry', count: 1 });
      }
      return state;
    }
    if (msg.type === 'stop') state.stopped = true;
    else if (msg.type === 'retry' && !state.stopped) for (let i = 0; i < msg.count; i++) propose(ctx, state);
    return state;
  },
};

function propose(ctx: ActorContext, state: ClientState): void {
  pipelineCommand(ctx, state.leader, COMMAND, state.next++);
}
