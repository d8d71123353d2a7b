// A replicated key/value store: the machine of docs/guide/state-machine.md and of
// `pnpm demo`. Importing this module registers it as 'kv' on the importing thread.

import type { Pid } from '@rafter/actors';
import { type Machine, type MachineEffect, type MachineMeta, registerMachine } from '@rafter/raft';

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
    const effects: MachineEffect[] = [];
    const { state: changed, reply } = change(meta, command, state, effects);
    const count = changed.sinceSnapshot + 1;
    if (count < changed.snapshotEvery) return { state: { ...changed, sinceSnapshot: count }, reply, effects };
    // A snapshot point: the log up to meta.index may be replaced by this state.
    const next = { ...changed, sinceSnapshot: 0 };
    effects.push({ type: 'release_cursor', index: meta.index, state: next });
    return { state: next, reply, effects };
  },

  query(q: KvQuery, state) {
    if (q === 'size') return Object.keys(state.entries).length;
    return state.entries[q.get]?.value ?? null;
  },
};

/** A new state object for every change, never an edit of `state`: see the guide on snapshots. */
function change(meta: MachineMeta, command: KvCommand, state: KvState, effects: MachineEffect[]): { state: KvState; reply: unknown } {
  if ('timeout' in command) {
    // `expire:<index>:<key>`: only the write that set the timer is removed.
    const { index, key } = parseExpiry(command.timeout);
    if (state.entries[key]?.index !== index) return { state, reply: 'ok' };
    notify(state, key, null, effects);
    return { state: without(state, key), reply: 'ok' };
  }
  switch (command.type) {
    case 'put': {
      if (command.ttlMs !== undefined) effects.push({ type: 'timer', name: `expire:${meta.index}:${command.key}`, afterMs: command.ttlMs });
      notify(state, command.key, command.value, effects);
      const entries = { ...state.entries, [command.key]: { value: command.value, index: meta.index } };
      return { state: { ...state, entries }, reply: state.entries[command.key]?.value ?? null };
    }
    case 'delete':
      notify(state, command.key, null, effects);
      return { state: without(state, command.key), reply: state.entries[command.key]?.value ?? null };
    case 'watch': {
      const watchers = { ...state.watchers, [command.key]: [...(state.watchers[command.key] ?? []), command.pid] };
      return { state: { ...state, watchers }, reply: 'ok' };
    }
  }
}

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
