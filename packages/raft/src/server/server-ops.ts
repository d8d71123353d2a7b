// The server's operations outside the log: the machine's aux handler (Ra's aux machine),
// the leader's view of its members (membersInfo), and the end of a member whose cluster
// was deleted (stateEnter('eol'), then its data is deleted by the system actor).

import type { ActorContext } from '@rafter/actors';
import type { RaftCore } from '../internal/core/core.js';
import { serverKey } from '../internal/core/cluster.js';
import type { LogEntry, MembershipKind, ServerId } from '../internal/core/log.js';
import type { Reply } from '../internal/core/types.js';
import { machineForVersion, type AuxContext, type AuxResult, type Machine } from './machine.js';
import type { ServerState } from './server-actor.js';
import { systemActorName } from '../system/system.js';

/** The most entries one readLog of an aux handler returns. */
export const AUX_READ_ENTRIES_MAX = 1_000;

export interface AuxSlot {
  state: unknown;
  /** The member applied its cluster's deletion: no stateEnter or aux after `eol`. */
  ended: boolean;
}

/** What an aux call answers: the handler's reply, or why there was none. */
export type AuxCallReply = { readonly ok: true; readonly reply: unknown } | { readonly ok: false; readonly code: 'RAFTER_AUX_FAILED' | 'RAFTER_CLUSTER_DELETED'; readonly message: string };

export function initAux(machine: Machine, serverName: string): AuxSlot {
  return { state: machine.initAux?.(serverName), ended: false };
}

/**
 * Runs the machine's handleAux for a call or a cast, one at a time (the actor awaits it).
 * A handler that throws leaves its aux state as it was and the server running; a call
 * gets RAFTER_AUX_FAILED.
 */
export async function runAux(ctx: ActorContext, state: ServerState, kind: 'call' | 'cast', command: unknown): Promise<AuxCallReply> {
  const machine = state.machine;
  if (state.aux.ended) return { ok: false, code: 'RAFTER_CLUSTER_DELETED', message: `server ${state.config.name} is being deleted` };
  if (machine.handleAux === undefined) return { ok: false, code: 'RAFTER_AUX_FAILED', message: `the machine of ${state.config.name} has no handleAux` };
  const core = state.shell.core;
  let compact = false;
  const auxCtx: AuxContext = {
    serverId: state.id,
    clusterName: state.config.clusterName,
    term: core.currentTerm,
    leader: core.leaderId,
    commitIndex: core.commitIndex,
    lastApplied: core.lastApplied,
    firstIndex: core.log.first(),
    lastIndex: core.log.last().index,
    machineState: () => core.machineState,
    members: () => core.cluster.current().members,
    readLog: (from, to) => readLog(state, from, to),
    compact: () => {
      compact = true;
    },
  };
  let result: AuxResult;
  try {
    result = await machine.handleAux(core.role, kind, command, state.aux.state, auxCtx);
  } catch (err) {
    ctx.log.warn({ server: state.config.name, cluster: state.config.clusterName, reason: String(err) }, 'raft server: the machine\'s handleAux threw');
    return { ok: false, code: 'RAFTER_AUX_FAILED', message: `handleAux of ${state.config.name} threw: ${String(err)}` };
  }
  state.aux.state = result.auxState;
  state.shell.machineEffectsOutsideApply(result.effects);
  if (compact) await state.shell.handle({ type: 'compact' });
  return { ok: true, reply: result.reply };
}

async function readLog(state: ServerState, from: number, to: number): Promise<readonly LogEntry[]> {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw new TypeError(`readLog(${from}, ${to}): indexes must be integers`);
  const lo = Math.max(from, state.log.first());
  const hi = Math.min(to, state.log.last().index, lo + AUX_READ_ENTRIES_MAX - 1);
  const out: LogEntry[] = [];
  if (lo > hi) return out;
  for await (const slice of state.log.readEntries(lo, hi)) out.push(...slice);
  return out;
}

export interface MemberInfo {
  readonly id: ServerId;
  readonly membership: MembershipKind;
  /** As the leader knows it. */
  readonly role: 'leader' | 'follower';
  /** The highest index known to be written on the member (the leader's own: its written index). */
  readonly matchIndex: number;
  readonly nextIndex: number;
  /** The highest commit index the leader has sent it. */
  readonly commitIndexSent: number;
  /** The machine version its code runs (0 until it replied). */
  readonly machineVersion: number;
  /** Receiving a snapshot from the leader. */
  readonly snapshotting: boolean;
}

/** The leader's view of each member, as an `ok` reply; a follower answers not-leader. */
export function membersInfoReply(core: RaftCore): Reply {
  if (core.role !== 'leader') return { type: 'error', code: 'RAFTER_NOT_LEADER', leader: core.role === 'await_condition' ? undefined : core.leaderId };
  const info: MemberInfo[] = core.cluster.current().members.map((member) => {
    const peer = core.lead.peers.get(serverKey(member.id));
    if (peer === undefined) {
      const written = core.log.lastWritten().index;
      return { id: member.id, membership: member.membership, role: 'leader', matchIndex: written, nextIndex: core.log.last().index + 1, commitIndexSent: core.commitIndex, machineVersion: core.machine.version, snapshotting: false };
    }
    return { id: member.id, membership: member.membership, role: 'follower', matchIndex: peer.matchIndex, nextIndex: peer.nextIndex, commitIndexSent: peer.commitIndexSent, machineVersion: peer.machineVersion, snapshotting: peer.snapshot !== undefined };
  });
  return { type: 'ok', index: core.commitIndex, term: core.currentTerm, reply: info, leader: core.id };
}

/** The member applied its cluster's deletion: the machine's stateEnter('eol'), on every member (as Ra). */
export function endOfLife(state: ServerState, machineState: unknown): void {
  state.aux.ended = true;
  const machine = machineForVersion(state.machine, state.shell.core.machineVersion);
  if (machine.stateEnter === undefined) return;
  state.shell.machineEffectsOutsideApply(machine.stateEnter('eol', machineState));
}

/** What a server sends its system actor once it must go: the system deletes its data. */
export interface ServerDeleted {
  readonly type: '$serverDeleted';
  readonly name: string;
  readonly uid: string;
}

/**
 * The deletion is done here. The system actor deletes the configuration first (so no
 * restart brings the member back), then the log, snapshots and meta; the server stops
 * now with `normal`, which its supervisor does not restart.
 */
export function deleted(ctx: ActorContext, state: ServerState): void {
  ctx.log.info({ server: state.config.name, cluster: state.config.clusterName }, 'raft server: cluster deleted, deleting this member');
  ctx.send({ name: systemActorName(state.system.name), node: ctx.self.node }, { type: '$serverDeleted', name: state.config.name, uid: state.config.uid } satisfies ServerDeleted);
  ctx.stop('normal');
}
