// A session registry: the machine of the effects section of docs/guide/state-machine.md.
// A session belongs to an owner process, which the machine monitors: when the owner
// exits (or its node is lost), the `{ down }` notice closes its sessions. A session may
// have a lease, a named timer. The machine keeps only the log index of each `open`
// command and reads them back with `logRead` for an audit. Importing this module
// registers it as 'sessions'.

import { type Pid, pidEquals } from '@rafter/actors';
import { type Machine, type MachineEffect, type MachineNotice, type MachineRole, registerMachine } from '@rafter/raft';

export type SessionsCommand =
  | { readonly type: 'open'; readonly name: string; readonly owner: Pid; readonly leaseMs?: number }
  | { readonly type: 'close'; readonly name: string }
  /** Sends every `open` command applied so far to `to`, read back from the log. */
  | { readonly type: 'audit'; readonly to: Pid }
  | MachineNotice;

export interface Session {
  readonly owner: Pid;
  /** The leader's clock when the open was proposed (meta.systemTime). */
  readonly openedAt: number;
  readonly index: number;
}

export interface SessionsState {
  readonly sessions: Readonly<Record<string, Session>>;
  /** Log indexes of the `open` commands: the commands themselves stay in the log. */
  readonly opens: readonly number[];
}

/** What an audit sends. */
export interface Audit {
  readonly type: 'sessions_audit';
  readonly opens: ReadonlyArray<{ readonly index: number; readonly name: string }>;
}

export const sessions: Machine<SessionsState, SessionsCommand> = {
  init: () => ({ sessions: {}, opens: [] }),

  apply(meta, command, state) {
    if ('down' in command) {
      // The owner exited or its node was lost: close its sessions.
      const owner = command.down as Pid;
      const kept = Object.entries(state.sessions).filter(([, s]) => !pidEquals(s.owner, owner));
      return { state: { ...state, sessions: Object.fromEntries(kept) }, reply: 'ok' };
    }
    if ('timeout' in command) {
      // `lease:<index>:<name>`: only the open that set the timer is closed.
      const [, index, name] = command.timeout.split(':') as [string, string, string];
      if (state.sessions[name]?.index !== Number(index)) return { state, reply: 'ok' };
      return close(state, name);
    }
    if ('nodeup' in command || 'nodedown' in command) return { state, reply: 'ok' };
    switch (command.type) {
      case 'open': {
        const session: Session = { owner: command.owner, openedAt: meta.systemTime, index: meta.index };
        const effects: MachineEffect[] = [{ type: 'monitor', process: command.owner }];
        if (command.leaseMs !== undefined) effects.push({ type: 'timer', name: `lease:${meta.index}:${command.name}`, afterMs: command.leaseMs });
        const next = { sessions: { ...state.sessions, [command.name]: session }, opens: [...state.opens, meta.index] };
        return { state: next, reply: 'ok', effects };
      }
      case 'close':
        return close(state, command.name);
      case 'audit': {
        const to = command.to;
        const audit: MachineEffect = {
          type: 'logRead',
          indexes: state.opens,
          // Runs on the leader with the commands at those indexes; returns more effects.
          onEntries: (entries) => [{ type: 'send', to, msg: { type: 'sessions_audit', opens: entries.map((e) => ({ index: e.index, name: (e.command as { name: string }).name })) } satisfies Audit }],
        };
        return { state, reply: 'ok', effects: [audit] };
      }
    }
  },

  // A new leader watches the owners again: monitors belong to the leader that set them.
  stateEnter(role: MachineRole, state) {
    if (role !== 'leader') return [];
    return Object.values(state.sessions).map((s): MachineEffect => ({ type: 'monitor', process: s.owner }));
  },

  overview: (state) => ({ sessions: Object.keys(state.sessions).length }),

  query: (q: 'names', state) => (q === 'names' ? Object.keys(state.sessions).sort() : undefined),
};

function close(state: SessionsState, name: string): { state: SessionsState; reply: unknown; effects: MachineEffect[] } {
  const session = state.sessions[name];
  if (session === undefined) return { state, reply: 'not_found', effects: [] };
  const { [name]: _closed, ...rest } = state.sessions;
  // Stop watching an owner that holds no other session.
  const stillOwns = Object.values(rest).some((s) => pidEquals(s.owner, session.owner));
  return { state: { ...state, sessions: rest }, reply: 'ok', effects: stillOwns ? [] : [{ type: 'demonitor', process: session.owner }] };
}

registerMachine('sessions', sessions);
