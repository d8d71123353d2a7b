// The machine of Ra's README quick start, `{simple, fun erlang:'+'/2, 0}`, as an
// application module: named by module and export so that every node process can load it.

import type { Machine } from '@rafter/raft';

export const adder: Machine<number, number> = {
  init: () => 0,
  apply: (_meta, command, state) => ({ state: state + command, reply: state + command }),
  // Across nodes a query is data: 'value' reads the state.
  query: (q: 'value', state) => (q === 'value' ? state : undefined),
};
