// A machine for the operations tests: a total that commands add to, stateEnter('eol')
// that reports to a watcher actor, and an aux handler (Ra's aux machine) that counts its
// calls, reads the machine state and the log, compacts, and returns send effects.

import { type AuxContext, type AuxResult, type Machine, type ServerId, registerMachine } from '@rafter/raft';

export interface OpsState {
  readonly total: number;
  /** Where stateEnter('eol') reports (from the machine config). */
  readonly watcher: ServerId | undefined;
  /** Not replicated: the member whose init made the first state (for the eol report). */
  readonly me: string;
}

export interface OpsAux {
  readonly name: string;
  readonly calls: number;
}

export type OpsAuxCommand =
  | { readonly op: 'count' }
  | { readonly op: 'state' }
  | { readonly op: 'read'; readonly from: number; readonly to: number }
  | { readonly op: 'compact' }
  | { readonly op: 'send'; readonly to: ServerId; readonly msg: unknown }
  | { readonly op: 'boom' };

export const opsMachine: Machine<OpsState, { add: number }, OpsAux> = {
  init: ({ config, serverId }) => ({ total: 0, watcher: (config as { watcher?: ServerId } | undefined)?.watcher, me: serverId.name }),
  apply: (meta, command, state) => {
    const total = state.total + command.add;
    return { state: { ...state, total }, reply: { total, index: meta.index } };
  },
  stateEnter: (role, state) => (role === 'eol' && state.watcher !== undefined ? [{ type: 'send', to: state.watcher, msg: { type: 'eol', total: state.total, me: state.me } }] : []),
  query: (q: unknown, state) => (q === 'total' ? state.total : undefined),
  initAux: (name) => ({ name, calls: 0 }),
  handleAux: async (role, kind, command, aux, ctx: AuxContext<OpsState>): Promise<AuxResult<OpsAux>> => {
    const cmd = command as OpsAuxCommand;
    const auxState = { ...aux, calls: aux.calls + 1 };
    switch (cmd.op) {
      case 'count':
        return { auxState, reply: { name: aux.name, calls: auxState.calls, role, kind } };
      case 'state':
        return { auxState, reply: { total: ctx.machineState().total, lastApplied: ctx.lastApplied, firstIndex: ctx.firstIndex, lastIndex: ctx.lastIndex, members: ctx.members().length } };
      case 'read': {
        const entries = await ctx.readLog(cmd.from, cmd.to);
        return { auxState, reply: entries.map((e) => ({ index: e.index, type: e.payload.type, command: e.payload.type === 'command' ? e.payload.command : undefined })) };
      }
      case 'compact':
        ctx.compact();
        return { auxState, reply: ctx.lastApplied };
      case 'send':
        return { auxState, reply: 'sent', effects: [{ type: 'send', to: cmd.to, msg: cmd.msg }] };
      case 'boom':
        throw new Error('aux boom');
    }
  },
};

registerMachine('ops', opsMachine);
