// A machine that asks for every leader effect, for the machine-effect tests: it watches
// processes and nodes (re-watching from stateEnter('leader'), as Ra machines do), sets
// named timers, proposes commands, keeps only the indexes of stored blobs and reads them
// back with logRead, and records every notice the server proposes for it. Importing it
// registers 'effects'; in a node process, `nodeStarted` also starts an idle actor named
// `fx_victim` for monitors to watch.

import type { ActorContext, Node } from '@rafter/actors';
import { type Machine, type MachineEffect, type MachineRole, registerMachine } from '@rafter/raft';

export const VICTIM_NAME = 'fx_victim';

export type EffectsCommand =
  | { readonly watch: unknown }
  | { readonly unwatch: unknown }
  | { readonly watchNode: string }
  | { readonly unwatchNode: string }
  | { readonly timer: string; readonly afterMs: number }
  | { readonly cancelTimer: string }
  /** The leader proposes `command` itself (an append effect). */
  | { readonly propose: unknown }
  /** Keeps only the index of this entry; `fetch` reads the blobs back from the log. */
  | { readonly store: unknown }
  | { readonly fetch: unknown }
  /** `tick` sends `{ type: 'fx_tick', timeMs }` here from the leader. */
  | { readonly tickTo: unknown }
  | { readonly stamp: true }
  | { readonly note: string }
  // Notices the server proposes.
  | { readonly down: unknown; readonly reason: unknown }
  | { readonly nodeup: string }
  | { readonly nodedown: string }
  | { readonly timeout: string };

export interface EffectsState {
  /** Watched processes by key, as the machine was given them. */
  readonly watched: Readonly<Record<string, unknown>>;
  readonly nodes: readonly string[];
  /** Notices applied, in log order, as `down:<key>:<reason>`, `nodedown:<node>`, `timeout:<name>`, `note:<text>`. */
  readonly events: readonly string[];
  readonly stored: readonly number[];
  readonly tickTo: unknown;
}

/** What a `fetch` sends: the stored commands, as logRead gave them. */
export interface Fetched {
  readonly type: 'fx_fetched';
  readonly entries: ReadonlyArray<{ readonly index: number; readonly command: unknown }>;
}

export function targetKey(target: unknown): string {
  const named = target as { name?: unknown; node?: unknown };
  if (typeof named === 'object' && named !== null && typeof named.name === 'string' && typeof named.node === 'string') return `${named.name}@${named.node}`;
  return JSON.stringify(target);
}

function reasonText(reason: unknown): string {
  return typeof reason === 'string' ? reason : JSON.stringify(reason);
}

export const effects: Machine<EffectsState, EffectsCommand> = {
  init: () => ({ watched: {}, nodes: [], events: [], stored: [], tickTo: null }),

  apply(meta, command, state) {
    const record = (event: string): EffectsState => ({ ...state, events: [...state.events, event] });
    if ('watch' in command) return { state: { ...state, watched: { ...state.watched, [targetKey(command.watch)]: command.watch } }, reply: 'ok', effects: [{ type: 'monitor', process: command.watch }] };
    if ('unwatch' in command) {
      const { [targetKey(command.unwatch)]: _gone, ...watched } = state.watched;
      return { state: { ...state, watched }, reply: 'ok', effects: [{ type: 'demonitor', process: command.unwatch }] };
    }
    if ('watchNode' in command) return { state: { ...state, nodes: [...state.nodes, command.watchNode] }, reply: 'ok', effects: [{ type: 'monitor', node: command.watchNode }] };
    if ('unwatchNode' in command) return { state: { ...state, nodes: state.nodes.filter((n) => n !== command.unwatchNode) }, reply: 'ok', effects: [{ type: 'demonitor', node: command.unwatchNode }] };
    if ('timer' in command) return { state, reply: 'ok', effects: [{ type: 'timer', name: command.timer, afterMs: command.afterMs }] };
    if ('cancelTimer' in command) return { state, reply: 'ok', effects: [{ type: 'timer', name: command.cancelTimer, afterMs: Number.POSITIVE_INFINITY }] };
    if ('propose' in command) return { state, reply: 'ok', effects: [{ type: 'append', command: command.propose }] };
    if ('store' in command) return { state: { ...state, stored: [...state.stored, meta.index] }, reply: meta.index };
    if ('fetch' in command) {
      const to = command.fetch;
      const read: MachineEffect = {
        type: 'logRead',
        indexes: state.stored,
        onEntries: (entries) => [{ type: 'send', to, msg: { type: 'fx_fetched', entries: entries.map((e) => ({ index: e.index, command: e.command })) } satisfies Fetched }],
      };
      return { state, reply: 'ok', effects: [read] };
    }
    if ('tickTo' in command) return { state: { ...state, tickTo: command.tickTo }, reply: 'ok' };
    if ('stamp' in command) return { state, reply: meta.systemTime };
    if ('note' in command) return { state: record(`note:${command.note}`), reply: 'ok' };
    if ('down' in command) {
      const key = targetKey(command.down);
      const { [key]: _gone, ...watched } = state.watched;
      return { state: { ...record(`down:${key}:${reasonText(command.reason)}`), watched }, reply: 'ok' };
    }
    if ('nodedown' in command) return { state: record(`nodedown:${command.nodedown}`), reply: 'ok' };
    if ('nodeup' in command) return { state: record(`nodeup:${command.nodeup}`), reply: 'ok' };
    if ('timeout' in command) return { state: record(`timeout:${command.timeout}`), reply: 'ok' };
    return { state, reply: { error: 'unknown command' } };
  },

  // A new leader watches again what the machine watches (Ra's pattern).
  stateEnter(role: MachineRole, state) {
    if (role !== 'leader') return [];
    return [...Object.values(state.watched).map((process): MachineEffect => ({ type: 'monitor', process })), ...state.nodes.map((node): MachineEffect => ({ type: 'monitor', node }))];
  },

  tick(timeMs, state) {
    return state.tickTo === null ? [] : [{ type: 'send', to: state.tickTo, msg: { type: 'fx_tick', timeMs } }];
  },

  overview: (state) => ({ watched: Object.keys(state.watched).length, events: state.events.length }),

  query: (q: 'events' | 'watched', state) => (q === 'events' ? state.events : Object.keys(state.watched)),
};

registerMachine('effects', effects);

/** In a node process: an idle actor under a known name, for monitors to watch. */
export function nodeStarted({ node }: { node: Node }): void {
  node.spawn(
    async (ctx: ActorContext) => {
      await ctx.receive((m: { type?: string }) => m.type === 'fx_stop');
    },
    undefined,
    { name: VICTIM_NAME },
  );
}
