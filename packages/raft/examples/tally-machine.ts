// Two versions of a machine, for the versions section of docs/guide/state-machine.md.
// Version 0 keeps a total; version 1 also counts the commands, migrates the state when
// it takes over, and runs version 0's apply for entries written before that.

import type { Machine, MachineVersionChange } from '@rafter/raft';

export type TallyCommand = { readonly add: number };

export interface TallyV0 {
  readonly total: number;
}

export interface TallyV1 {
  readonly total: number;
  /** Commands applied since version 1 took over. */
  readonly count: number;
}

export const tallyV0: Machine<TallyV0, TallyCommand> = {
  init: () => ({ total: 0 }),
  apply: (_meta, command, state) => ({ state: { total: state.total + command.add }, reply: state.total + command.add }),
  query: (_q: 'state', state) => state,
};

export const tallyV1: Machine<TallyV0 | TallyV1, TallyCommand | MachineVersionChange> = {
  version: 1,
  // Entries before the switch are applied as version 0 applied them.
  whichVersion: (v) => (v === 0 ? tallyV0 : undefined),
  init: tallyV0.init,
  apply(_meta, command, state) {
    // The switch itself: the state of version 0 becomes the state of version 1.
    if ('machineVersion' in command) return { state: { total: state.total, count: 0 }, reply: 'ok' };
    const { total, count } = state as TallyV1;
    return { state: { total: total + command.add, count: count + 1 }, reply: total + command.add };
  },
  query: (_q: 'state', state) => state,
};
