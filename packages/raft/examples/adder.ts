// The machine of Ra's README examples, `{simple, fun erlang:'+'/2, 0}`: the state is a
// number, a command adds to it, and the reply is the new state. A simple machine (a
// closure) cannot travel to other node processes, so this one is named by module and
// export, which any node can load.

import type { Machine } from '../src/index.js';

export const adder: Machine<number, number> = {
  init: () => 0,
  apply: (_meta, command, state) => ({ state: state + command, reply: state + command }),
  // Ra's query funs are closures; across nodes a query is data: 'value' reads the state.
  query: (q: 'value', state) => (q === 'value' ? state : undefined),
};
