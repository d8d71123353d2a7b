// A key/value register: `{ put, value }` sets a key and replies the previous value,
// `{ delete }` removes it; queries `{ get: key }` and `'size'`.

import { type Machine, registerMachine } from '@rafter/raft';

export type KvCommand = { readonly put: string; readonly value: unknown } | { readonly delete: string };
export type KvQuery = { readonly get: string } | 'size';
export type KvState = Readonly<Record<string, unknown>>;

export const kv: Machine<KvState, KvCommand> = {
  init: () => ({}),
  apply: (_meta, command, state) => {
    if ('put' in command) return { state: { ...state, [command.put]: command.value }, reply: state[command.put] };
    const { [command.delete]: previous, ...rest } = state;
    return { state: rest, reply: previous };
  },
  query: (q: KvQuery, state) => (q === 'size' ? Object.keys(state).length : state[q.get]),
};

registerMachine('kv', kv);
