// Machines the process-cluster tests and benchmarks register in every node process.

import { type Machine, registerMachine } from '@rafter/raft';

/** A counter: `{ add: n }` adds and replies the new value; queries `'value'`. */
export const counter: Machine<number, { add: number }> = {
  init: () => 0,
  apply: (_meta, command, state) => {
    const next = state + command.add;
    return { state: next, reply: next };
  },
  query: (q: unknown, state) => (q === 'value' ? state : undefined),
};

registerMachine('counter', counter);
