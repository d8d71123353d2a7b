// A register per key, the model tools/check's registerModel checks: put, compare-and-swap
// and get, as commands; get also as a query (`{ get: key }`) for consistent and local reads.

import { type Machine, registerMachine } from '@rafter/raft';

export type RegisterCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: unknown }
  | { readonly op: 'cas'; readonly key: string; readonly from: unknown; readonly to: unknown }
  | { readonly op: 'get'; readonly key: string };

export type RegisterQuery = { readonly get: string };

/** Values by key; a missing key reads as null. Replaced, never mutated, on each write. */
export type RegisterMachineState = Readonly<Record<string, unknown>>;

function read(state: RegisterMachineState, key: string): unknown {
  return Object.hasOwn(state, key) ? state[key] : null;
}

// Values are compared as JSON, as the checker compares them.
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export const register: Machine<RegisterMachineState, RegisterCommand> = {
  init: () => ({}),
  apply: (_meta, command, state) => {
    switch (command.op) {
      case 'put':
        return { state: { ...state, [command.key]: command.value }, reply: 'ok' };
      case 'cas':
        if (!same(read(state, command.key), command.from)) return { state, reply: false };
        return { state: { ...state, [command.key]: command.to }, reply: true };
      case 'get':
        return { state, reply: read(state, command.key) };
      default:
        return { state, reply: { error: `unknown register op ${String((command as { op?: unknown }).op)}` } };
    }
  },
  query: (q: RegisterQuery, state) => read(state, q.get),
  overview: (state) => ({ keys: Object.keys(state).length }),
};

registerMachine('register', register);
