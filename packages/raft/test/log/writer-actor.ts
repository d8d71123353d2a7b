// A stand-in for a Raft server on the actor path, shared by the storage-actor tests:
// appends `count` entries per request (payloads tagged `<tag>:<index>`), applies and
// records every WAL notice, and reports its log's state when called.
import type { ActorContext, Behaviour } from '@rafter/actors';
import { type LogSystemHandle, type WalNotice, applyWalNotice, isWalNotice, openServerLog } from '../../src/internal/log/log-actors.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';
import { cmd } from './helpers.js';

export interface WriterArgs {
  handle: LogSystemHandle;
  uid: string;
  /** Payload tag; the uid when absent. */
  tag?: string;
  notices: WalNotice[];
  /** Told after each notice, with the log. */
  onNotice: (log: ServerLog, notice: WalNotice) => void;
}

export interface WriterReport {
  held: boolean;
  unsent: number;
  last: number;
  written: number;
}

/** Appends one entry carrying `command`; the reply is the append's error, if it threw. */
export interface AppendCommand {
  appendCommand: unknown;
}

export const writer: Behaviour<{ args: WriterArgs; log: ServerLog }, WriterArgs> = {
  async init(ctx: ActorContext, args) {
    return { args, log: await openServerLog(ctx, args.handle, args.uid) };
  },
  handle(msg: WalNotice | { type: 'append'; count: number }, state) {
    if (isWalNotice(msg)) {
      state.args.notices.push(msg);
      applyWalNotice(state.log, msg);
      state.args.onNotice(state.log, msg);
      return state;
    }
    const from = state.log.last().index + 1;
    const tag = state.args.tag ?? state.args.uid;
    state.log.append(Array.from({ length: msg.count }, (_, k) => ({ index: from + k, term: 1, payload: cmd(`${tag}:${from + k}`) })));
    return state;
  },
  handleCall(req: 'report' | AppendCommand, _from, state) {
    if (req !== 'report') {
      const index = state.log.last().index + 1;
      try {
        state.log.append([{ index, term: 1, payload: cmd(req.appendCommand) }]);
        return { reply: undefined, state };
      } catch (err) {
        return { reply: err, state };
      }
    }
    const log = state.log;
    const report: WriterReport = { held: log.walHeld(), unsent: log.unsentEntries(), last: log.last().index, written: log.lastWritten().index };
    return { reply: report, state };
  },
};
