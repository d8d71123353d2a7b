// A machine that records how often each command id was applied, so a duplicate apply
// shows in its state. With `{ releaseEvery: n }` as machine config it emits a release
// cursor every n commands, so its servers snapshot and far-behind members catch up by
// snapshot installation. `origin` names the member whose `init` began the state: a
// member that holds another's name got its state from that member's snapshot.

import { type Machine, type MachineEffect, registerMachine } from '@rafter/raft';

export interface RecorderCommand {
  /** Unique per logical command; a retry of the same command reuses it. */
  readonly id: string;
  /** Optional bulk, to make entries (and snapshots) bigger. */
  readonly pad?: string;
}

export interface RecorderState {
  /** Commands applied, duplicates included. */
  readonly applied: number;
  /** Times each id was applied. */
  readonly counts: Readonly<Record<string, number>>;
  readonly releaseEvery: number;
  /** Not replicated: the member whose init made the first state of this lineage. */
  readonly origin: string;
}

/** Queries: 'applied', 'ids' (distinct ids applied), 'duplicates' (ids applied more than once), 'counts', 'origin'. */
export type RecorderQuery = 'applied' | 'ids' | 'duplicates' | 'counts' | 'origin';

export const recorder: Machine<RecorderState, RecorderCommand> = {
  init: ({ config, serverId }) => {
    const releaseEvery = (config as { releaseEvery?: number } | undefined)?.releaseEvery ?? 0;
    return { applied: 0, counts: {}, releaseEvery, origin: serverId.name };
  },
  apply: (meta, command, state) => {
    // A released state is written to disk later and must not change meanwhile, so a
    // machine that releases copies; one that never does updates in place (copying
    // thousands of ids per command would make the pipelining tests slow).
    const counts = state.releaseEvery > 0 ? { ...state.counts } : (state.counts as Record<string, number>);
    counts[command.id] = (counts[command.id] ?? 0) + 1;
    const next: RecorderState = { ...state, applied: state.applied + 1, counts };
    const effects: MachineEffect[] = [];
    if (state.releaseEvery > 0 && next.applied % state.releaseEvery === 0) effects.push({ type: 'release_cursor', index: meta.index, state: next });
    return { state: next, reply: counts[command.id], effects };
  },
  query: (q: RecorderQuery, state) => {
    switch (q) {
      case 'applied':
        return state.applied;
      case 'ids':
        return Object.keys(state.counts).length;
      case 'duplicates':
        return Object.entries(state.counts)
          .filter(([, n]) => n > 1)
          .map(([id]) => id);
      case 'counts':
        return state.counts;
      case 'origin':
        return state.origin;
      default:
        return undefined;
    }
  },
};

registerMachine('recorder', recorder);
