// A replicated key/value store: the machine of docs/guide/state-machine.md and of
// `pnpm demo`. Importing this module registers it as 'kv' on the importing thread.

import type { Pid } from '@rafter/actors';
import { type Machine, type MachineEffect, registerMachine } from '@rafter/raft';

export type KvCommand =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown; readonly ttlMs?: number }
  | { readonly type: 'delete'; readonly key: string }
  | { readonly type: 'watch'; readonly key: string; readonly pid: Pid }
  /** Proposed by the server when a timer effect named `name` fires. */
  | { readonly timeout: string };

export type KvQuery = { readonly get: string } | 'size';

/** What a watcher receives after a change to its key. */
export interface KvChanged {
  readonly type: 'kv_changed';
  readonly key: string;
  readonly value: unknown;
}

export interface KvState {
  /** Values with the log index that wrote them (a TTL timer names that index). */
  readonly entries: Readonly<Record<string, { readonly value: unknown; readonly index: number }>>;
  readonly watchers: Readonly<Record<string, readonly Pid[]>>;
  /** Commands applied since the last release_cursor, and how many make a snapshot point. */
  readonly sinceSnapshot: number;
  readonly snapshotEvery: number;
}

/** The `machineConfig` of startCluster: the same on every member, so init is too. */
export interface KvConfig {
  readonly snapshotEvery?: number;
}

export const kv: Machine<KvState, KvCommand> = {
  init: ({ config }) => ({ entries: {}, watchers: {}, sinceSnapshot: 0, snapshotEvery: (config as KvConfig | undefined)?.snapshotEvery ?? 1_000 }),

  apply(meta, command, state) {
    let next: KvState;
    let reply: unknown = 'ok';
    const effects: MachineEffect[] = [];
    if ('timeout' in command) {
      // `expire:<index>:<key>`: only the write that set the timer is removed.
      const { index, key } = parseExpiry(command.timeout);
      next = state.entries[key]?.index === index ? without(state, key) : state;
    } else if (command.type === 'put') {
      reply = state.entries[command.key]?.value ?? null;
      next = { ...state, entries: { ...state.entries, [command.key]: { value: command.value, index: meta.index } } };
      if (command.ttlMs !== undefined) effects.push({ type: 'timer', name: `expire:${meta.index}:${command.key}`, afterMs: command.ttlMs });
      notify(state, command.key, command.value, effects);
    } else if (command.type === 'delete') {
      reply = state.entries[command.key]?.value ?? null;
      next = without(state, command.key);
      notify(state, command.key, null, effects);
    } else {
      next = { ...state, watchers: { ...state.watchers, [command.key]: [...(state.watchers[command.key] ?? []), command.pid] } };
    }
    // The state is a new object at every change, so the one handed over here is
    // exactly the state at meta.index, however late the snapshot is written.
    next = { ...next, sinceSnapshot: next.sinceSnapshot + 1 };
    if (next.sinceSnapshot >= next.snapshotEvery) {
      next = { ...next, sinceSnapshot: 0 };
      effects.push({ type: 'release_cursor', index: meta.index, state: next });
    }
    return { state: next, reply, effects };
  },

  query(q: KvQuery, state) {
    if (q === 'size') return Object.keys(state.entries).length;
    return state.entries[q.get]?.value ?? null;
  },
};

function parseExpiry(name: string): { index: number; key: string } {
  const rest = name.slice('expire:'.length);
  const colon = rest.indexOf(':');
  return { index: Number(rest.slice(0, colon)), key: rest.slice(colon + 1) };
}

function without(state: KvState, key: string): KvState {
  const { [key]: _removed, ...entries } = state.entries;
  return { ...state, entries };
}

function notify(state: KvState, key: string, value: unknown, effects: MachineEffect[]): void {
  for (const pid of state.watchers[key] ?? []) effects.push({ type: 'send', to: pid, msg: { type: 'kv_changed', key, value } satisfies KvChanged });
}

registerMachine('kv', kv);
