// Two versions of one machine, for the rolling-upgrade test: a ledger of `{ add, id }`
// commands that records which version's apply ran each one. Version 1 counts double
// and keeps the index where it took over; it runs version 0's apply for older entries
// (whichVersion). ledger-v0.ts and ledger-v1.ts register them as 'ledger', so a node
// process loads one or the other, as old or new code.

import type { Machine, MachineVersionChange } from '@rafter/raft';

export type LedgerCommand = { readonly add: number; readonly id: string } | MachineVersionChange;

export interface LedgerState {
  readonly total: number;
  /** `[id, version, index]` per command, in apply order. */
  readonly applied: ReadonlyArray<readonly [string, number, number]>;
  /** Version 1 only: the index of the entry that switched to it. */
  readonly upgradedAt?: number;
}

export type LedgerQuery = 'state';

export const ledgerV0: Machine<LedgerState, LedgerCommand> = {
  init: () => ({ total: 0, applied: [] }),
  apply: (meta, command, state) => {
    if (!('add' in command)) return { state, reply: 'ok' };
    const next = { total: state.total + command.add, applied: [...state.applied, [command.id, 0, meta.index] as const] };
    return { state: next, reply: { total: next.total, version: 0 } };
  },
  query: (_q: LedgerQuery, state) => state,
};

export const ledgerV1: Machine<LedgerState, LedgerCommand> = {
  version: 1,
  whichVersion: (v) => (v === 0 ? ledgerV0 : undefined),
  init: ledgerV0.init,
  apply: (meta, command, state) => {
    if ('machineVersion' in command) return { state: { ...state, upgradedAt: meta.index }, reply: 'ok' };
    const next = { ...state, total: state.total + 2 * command.add, applied: [...state.applied, [command.id, 1, meta.index] as const] };
    return { state: next, reply: { total: next.total, version: 1 } };
  },
  query: (_q: LedgerQuery, state) => state,
};
