// A key/value register: `{ put, value }` sets a key and replies the previous value,
// `{ delete }` removes it; queries `{ get: key }` and `'size'`. A put with `notify` (a
// pid or { name, node }) has the leader send `{ type: 'kv_put', key, value, index }` there.
// `{ fail: message }` throws, as a machine with a bug would.

import { type Machine, registerMachine } from '@rafter/raft';

export type KvCommand = { readonly put: string; readonly value: unknown; readonly notify?: unknown } | { readonly delete: string } | { readonly fail: string };
export type KvQuery = { readonly get: string } | 'size';
export type KvState = Readonly<Record<string, unknown>>;

export const kv: Machine<KvState, KvCommand> = {
  init: () => ({}),
  apply: (meta, command, state) => {
    if ('fail' in command) throw new Error(command.fail);
    if ('put' in command) {
      const effects = command.notify === undefined ? [] : [{ type: 'send' as const, to: command.notify, msg: { type: 'kv_put', key: command.put, value: command.value, index: meta.index } }];
      return { state: { ...state, [command.put]: command.value }, reply: state[command.put], effects };
    }
    const { [command.delete]: previous, ...rest } = state;
    return { state: rest, reply: previous };
  },
  query: (q: KvQuery, state) => (q === 'size' ? Object.keys(state).length : state[q.get]),
};

registerMachine('kv', kv);
