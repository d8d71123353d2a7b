// The server actor: a thin wrapper that feeds its mailbox to a ServerInterpreter. It
// batches commands (every command waiting in the mailbox is one step, as Ra's leader
// drains its mailbox), monitors the leader, and batches pipeline replies per caller.

import { type ActorContext, type Behaviour, type CallResult, type DownMessage, type From, type Pid, type Ref, pidEquals } from '@rafter/actors';
import { RaftCore } from '../internal/core/core.js';
import { COMMANDS_BATCH_MAX } from '../internal/core/limits.js';
import { sameServer } from '../internal/core/cluster.js';
import type { ServerId } from '../internal/core/log.js';
import type { CommandRequest, Event, RaftMessage, Reply, ReplyTo, Role, TimerName } from '../internal/core/types.js';
import { applyWalNotice, isWalNotice, openServerLog } from '../internal/log/log-actors.js';
import type { ServerLog } from '../internal/log/server-log.js';
import { MachineNotFoundError, RafterError } from '../errors.js';
import type { DirectoryEntry, ServerConfig, SystemRuntime, Ticker } from '../system/runtime.js';
import { ServerInterpreter, type ServerHost, type ServerStorage, type ServerTimers, type ServerTransport } from './interpreter.js';
import { wantsTick } from './tick.js';
import { coreMachine, resolveMachine, type Machine } from './machine.js';
import type { PipelineEvent, ServerCall, ServerCast } from './protocol.js';

export interface ServerArgs {
  readonly system: SystemRuntime;
  readonly config: ServerConfig;
}

/** Who gets a reply: a caller waiting in `call`, or a pipelining actor with its correlation. */
type Caller = { readonly call: From } | { readonly pipe: Pid; readonly correlation: unknown };

type PendingCommand = CommandRequest;

export interface ServerState {
  readonly id: ServerId;
  /** This server's line in the system's directory (role, leader, counters). */
  readonly entry: DirectoryEntry;
  readonly config: ServerConfig;
  readonly system: SystemRuntime;
  readonly machine: Machine;
  readonly log: ServerLog;
  readonly shell: ServerInterpreter;
  readonly timers: Map<TimerName, Ref>;
  pending: PendingCommand[];
  flushQueued: boolean;
  leaderMonitor: { readonly ref: Ref; readonly leader: ServerId } | undefined;
  /** Pipeline replies of the current turn, per caller, sent at its end. */
  readonly applied: Map<Pid, { leader: ServerId; replies: Array<[unknown, unknown]> }>;
  lastWritten: number;
  /** Callers of `awaitLeader` waiting for a leader to be known. */
  leaderWaiters: From[];
  /** A machine's named timers that have not fired. */
  readonly machineTimers: Map<string, Ref>;
  /** Local queries waiting for this member to apply up to an index. */
  waitingQueries: Array<{ readonly minIndex: number; readonly event: Event }>;
}

/** Above this many bytes queued for a node, entries for it wait for the leader's next tick. */
export const SEND_QUEUED_BYTES_MAX = 8 << 20;

/** Counters of this thread's servers, for benchmarks: Raft messages sent to peers. */
export const serverCounters = { raftSent: 0 };

const random = { intBetween: (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1)) };

export const serverBehaviour: Behaviour<ServerState, ServerArgs> = {
  async init(ctx, { system, config }) {
    // A stop from the supervisor runs terminate, which stores the applied index.
    ctx.trapExit(true);
    const id: ServerId = { name: config.name, node: ctx.self.node };
    const log = await openServerLog(ctx, system.handle, config.uid);
    const stored = system.handle.system.meta.get(config.uid);
    const machine = await resolveMachine(config.machine).catch((err: unknown) => {
      throw err instanceof MachineNotFoundError ? err : new MachineNotFoundError(String(config.machine), String(err));
    });
    const snapshot = log.snapshot() === undefined ? undefined : await log.readSnapshot();
    const core = new RaftCore({
      id,
      log,
      machine: coreMachine(machine, { clusterName: config.clusterName, serverId: id, config: config.machineConfig }),
      random,
      persisted: { term: stored.currentTerm, votedFor: stored.votedFor ?? undefined, lastApplied: stored.lastApplied },
      initialMembers: config.initialMembers,
      ...(snapshot !== undefined ? { machineState: snapshot.state } : {}),
      timeouts: system.tuning.timeouts,
    });
    const state: ServerState = {
      id,
      entry: { uid: config.uid, clusterName: config.clusterName, pid: ctx.self, role: 'recover', term: core.currentTerm, leader: undefined, messagesSent: 0, messagesReceived: 0, appendsHeld: 0 },
      config,
      system,
      machine,
      log,
      shell: undefined as unknown as ServerInterpreter,
      timers: new Map(),
      pending: [],
      flushQueued: false,
      leaderMonitor: undefined,
      applied: new Map(),
      lastWritten: log.lastWritten().index,
      leaderWaiters: [],
      waitingQueries: [],
      machineTimers: new Map(),
    };
    // One object serves as the interpreter's storage, transport, timers and host, and as
    // the system's ticker: its methods are shared, where closures would cost every server.
    const ports = new ServerPorts(ctx, state);
    (state as { shell: ServerInterpreter }).shell = new ServerInterpreter({
      core,
      storage: ports,
      transport: ports,
      timers: ports,
      host: ports,
      snapshotChunkBytes: system.tuning.snapshotChunkBytes,
    });
    system.directory.set(config.name, state.entry);
    await state.shell.start();
    // No timer of its own: the system ticks the servers that need it (tick.ts).
    system.tickers.set(config.name, ports);
    return state;
  },

  handle(msg: ServerCast | DownMessage | { type: 'EXIT'; from: Pid; reason: unknown }, state, ctx) {
    return stopOnFailure(ctx, state, state, () => {
      const turn = then(onMessage(msg, state, ctx), () => answerWaitingQueries(state));
      if (turn === undefined) {
        sendApplied(ctx, state);
        return state;
      }
      return turn.then(() => {
        sendApplied(ctx, state);
        return state;
      });
    });
  },

  handleCall(request: ServerCall, from, state, ctx) {
    return stopOnFailure(ctx, state, { noreply: true as const, state }, () => onCall(request, from, state, ctx));
  },

  terminate(_reason, state, ctx) {
    state.shell.storeApplied();
    const ticker = state.system.tickers.get(state.config.name);
    if (ticker !== undefined && pidEquals(ticker.pid, ctx.self)) state.system.tickers.delete(state.config.name);
    const entry = state.system.directory.get(state.config.name);
    if (entry !== undefined && entry.pid !== undefined && entry.uid === state.config.uid) {
      entry.pid = undefined;
      entry.role = 'stopped';
    }
  },
};

/** What the interpreter and the system's tick call on a server (see init). */
class ServerPorts implements ServerStorage, ServerTransport, ServerTimers, ServerHost, Ticker {
  constructor(
    private readonly ctx: ActorContext,
    private readonly state: ServerState,
  ) {}

  get log(): ServerLog {
    return this.state.log;
  }

  get pid(): Pid {
    return this.ctx.self;
  }

  wantsTick(): boolean {
    return wantsTick(this.state.shell, this.state.machine);
  }

  storeTermAndVote(term: number, votedFor: ServerId | undefined): Promise<void> {
    return this.state.system.handle.system.meta.storeTermAndVote(this.state.config.uid, term, votedFor ?? null);
  }

  storeLastApplied(index: number): void {
    this.state.system.handle.system.meta.storeLastApplied(this.state.config.uid, index);
  }

  send(to: ServerId, msg: RaftMessage): void {
    sendToPeer(this.ctx, this.state, to, msg);
  }

  reply(to: ReplyTo, reply: Reply): void {
    deliver(this.ctx, this.state, to as Caller | undefined, reply);
  }

  machineSend(to: unknown, msg: unknown): void {
    machineSend(this.ctx, this.state, to, msg);
  }

  set(timer: TimerName, afterMs: number, generation: number): void {
    const { ctx, state } = this;
    const old = state.timers.get(timer);
    if (old !== undefined) ctx.cancelTimer(old);
    state.timers.set(timer, ctx.sendAfter(afterMs, { type: '$timer', timer, generation } satisfies ServerCast));
  }

  cancel(timer: TimerName): void {
    const old = this.state.timers.get(timer);
    if (old !== undefined) this.ctx.cancelTimer(old);
    this.state.timers.delete(timer);
  }

  machineTimer(name: string, afterMs: number): void {
    const { ctx, state } = this;
    // A timer of the same name replaces the earlier one, as in Ra.
    const old = state.machineTimers.get(name);
    if (old !== undefined) ctx.cancelTimer(old);
    state.machineTimers.set(name, ctx.sendAfter(afterMs, { type: '$machineTimer', name } satisfies ServerCast));
  }

  post(event: Event): void {
    this.ctx.send(this.ctx.self, { type: '$event', event } satisfies ServerCast);
  }

  roleChanged(role: Role, term: number, leader: ServerId | undefined): void {
    onRoleChanged(this.ctx, this.state, role, term, leader);
  }

  removed(): void {
    this.ctx.stop('normal');
  }

  warn(message: string): void {
    this.ctx.log.warn({ server: this.state.config.name, cluster: this.state.config.clusterName }, message);
  }
}

/** Failures that recur on every restart: the same entry is applied or written again. */
const STOPPING_CODES: ReadonlySet<string> = new Set(['RAFTER_MACHINE_FAILED', 'RAFTER_WRITE_FAILED']);

/**
 * A machine that throws, or a log that cannot be written, stops the server for good
 * (errors.ts: fix it, then restartServer). A crash instead would be restarted into the
 * same failure until the system's server supervisor gave up, taking every server of
 * the system down with it. The exit reason is a shutdown, which no supervisor restarts.
 */
function stopOnFailure<R>(ctx: ActorContext, state: ServerState, stopped: R, body: () => R | Promise<R>): R | Promise<R> {
  // No closure for the failure unless the turn is async: this runs for every message.
  try {
    const out = body();
    return out instanceof Promise ? out.catch((err: unknown) => stopWith(ctx, state, stopped, err)) : out;
  } catch (err) {
    return stopWith(ctx, state, stopped, err);
  }
}

function stopWith<R>(ctx: ActorContext, state: ServerState, stopped: R, err: unknown): R {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (!(err instanceof RafterError) || typeof code !== 'string' || !STOPPING_CODES.has(code)) throw err;
  ctx.log.error({ server: state.config.name, cluster: state.config.clusterName, code }, err.message);
  ctx.stop({ shutdown: { code, message: err.message } });
  return stopped;
}

function onCall(request: ServerCall, from: From, state: ServerState, ctx: ActorContext): CallResult<ServerState> | Promise<CallResult<ServerState>> {
  const caller: Caller = { call: from };
  let turn: void | Promise<void>;
  switch (request.op) {
    case 'command':
      enqueue(ctx, state, { command: request.command, priority: request.priority, from: caller });
      return { noreply: true, state };
    case 'query': {
      const event: Event = { type: 'query', kind: request.kind, fn: queryFn(state.machine, request.query), from: caller };
      const minIndex = request.minIndex ?? 0;
      if (request.kind === 'local' && minIndex > state.shell.core.lastApplied) {
        // Answered once this member has applied that far (or never: the caller times out).
        state.waitingQueries.push({ minIndex, event });
        return { noreply: true, state };
      }
      turn = flushThen(ctx, state, event);
      break;
    }
    case 'members': {
      const core = state.shell.core;
      return { reply: { members: core.cluster.current().members, leader: core.leaderId }, state };
    }
    case 'status': {
      const core = state.shell.core;
      return { reply: { role: core.role, term: core.currentTerm, leader: core.leaderId, commitIndex: core.commitIndex, lastApplied: core.lastApplied, clusterName: state.config.clusterName, pid: ctx.self }, state };
    }
    case 'addMember':
      turn = flushThen(ctx, state, { type: 'add_member', member: request.member, from: caller });
      break;
    case 'removeMember':
      turn = flushThen(ctx, state, { type: 'remove_member', id: request.id, from: caller });
      break;
    case 'transferLeadership':
      turn = flushThen(ctx, state, { type: 'transfer_leadership', to: request.to, from: caller });
      break;
    case 'awaitLeader': {
      const leader = knownLeader(state);
      if (leader !== undefined) return { reply: leader, state };
      state.leaderWaiters.push(from);
      return { noreply: true, state };
    }
    case 'triggerElection':
      turn = flushThen(ctx, state, { type: 'trigger_election' });
      if (turn === undefined) return { reply: 'ok', state };
      return turn.then(() => ({ reply: 'ok', state }));
    default:
      return { reply: { error: 'RAFTER_INVALID_ARGUMENT', message: `unknown server request ${JSON.stringify((request as { op?: unknown }).op)}` }, state };
  }
  if (turn === undefined) {
    sendApplied(ctx, state);
    return { noreply: true, state };
  }
  return turn.then(() => {
    sendApplied(ctx, state);
    return { noreply: true as const, state };
  });
}

function onMessage(msg: ServerCast | DownMessage | { type: 'EXIT'; from: Pid; reason: unknown }, state: ServerState, ctx: ActorContext): void | Promise<void> {
  if (isWalNotice(msg)) return onWalNotice(msg, state, ctx);
  switch (msg.type) {
    case '$raft':
      state.entry.messagesReceived++;
      return flushThen(ctx, state, { type: 'message', from: msg.from, msg: msg.msg as RaftMessage });
    case '$pipeline':
      enqueue(ctx, state, { command: msg.command, priority: msg.priority, from: { pipe: msg.replyTo, correlation: msg.correlation } satisfies Caller });
      return;
    case '$flush':
      state.flushQueued = false;
      return flush(state);
    case '$timer':
      return flushThen(ctx, state, { type: 'timeout', timer: msg.timer, generation: msg.generation });
    case '$machineTimer':
      state.machineTimers.delete(msg.name);
      return flushThen(ctx, state, { type: 'command', command: { timeout: msg.name }, priority: 'normal', from: undefined });
    case '$event':
      return flushThen(ctx, state, msg.event);
    case '$node':
      return flushThen(ctx, state, msg.up ? { type: 'node_up', node: msg.node } : { type: 'node_maybe_down', node: msg.node });
    case '$tick':
      state.shell.storeApplied();
      return then(flushThen(ctx, state, { type: 'tick' }), () => machineTick(ctx, state));
    case 'DOWN':
      if (state.leaderMonitor?.ref !== msg.ref) return;
      {
        const leader = state.leaderMonitor.leader;
        state.leaderMonitor = undefined;
        return flushThen(ctx, state, { type: 'leader_down', id: leader });
      }
    case 'EXIT':
      // A linked actor or the supervisor: exit as OTP workers do on a parent's shutdown.
      if (msg.reason !== 'normal') ctx.stop(msg.reason);
      return;
    default:
      ctx.log.warn({ server: state.config.name, type: String((msg as { type?: unknown }).type) }, 'raft server: unexpected message dropped');
      return;
  }
}

function onWalNotice(msg: Parameters<typeof applyWalNotice>[1], state: ServerState, ctx: ActorContext): void | Promise<void> {
  const failed = applyWalNotice(state.log, msg);
  if (failed !== undefined) return state.shell.handle({ type: 'write_failed', index: failed.fromIndex, reason: failed.message });
  const written = state.log.lastWritten();
  let turn: void | Promise<void> = undefined;
  if (written.index !== state.lastWritten) {
    state.lastWritten = written.index;
    turn = state.shell.handle({ type: 'written', index: written.index, term: written.term });
  }
  // A hold on the WAL ended: the commands that waited go now.
  if (state.pending.length > 0 && !state.log.walHeld()) return then(turn, () => flush(state));
  void ctx;
  return turn;
}

/**
 * A peer that is not running loses the message, as on a network: Raft resends. So do
 * entries for a node whose connection has too much queued (it reads slower than we
 * write): the leader resends on its tick, rather than the connection closing as
 * overloaded under every cluster that shares it.
 */
function sendToPeer(ctx: ActorContext, state: ServerState, to: ServerId, msg: RaftMessage): void {
  if (msg.type === 'append_entries' && msg.entries.length > 0 && to.node !== state.id.node) {
    const queued = state.system.queuedBytes(to.node);
    if (queued !== undefined && queued > SEND_QUEUED_BYTES_MAX) {
      state.entry.appendsHeld++;
      return;
    }
  }
  serverCounters.raftSent++;
  try {
    ctx.send({ name: to.name, node: to.node }, { type: '$raft', from: state.id, msg } satisfies ServerCast);
    state.entry.messagesSent++;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ACTORS_UNKNOWN_NAME') throw err;
  }
}

/** A machine's `send`: to a name not registered here, or a bad destination, it is dropped and logged (Erlang's send to a dead pid is silent too). */
function machineSend(ctx: ActorContext, state: ServerState, to: unknown, msg: unknown): void {
  try {
    ctx.send(to as Pid, msg);
  } catch (err) {
    ctx.log.warn({ server: state.config.name, cluster: state.config.clusterName, reason: String(err) }, 'raft server: a machine send effect was dropped');
  }
}

function enqueue(ctx: ActorContext, state: ServerState, command: PendingCommand): void {
  state.pending.push(command);
  if (state.flushQueued) return;
  state.flushQueued = true;
  // Behind every message already queued: the commands among them join this batch.
  ctx.send(ctx.self, { type: '$flush' } satisfies ServerCast);
}

/** Steps the core with the waiting commands, unless the WAL asked us to hold. */
function flush(state: ServerState): void | Promise<void> {
  if (state.pending.length === 0 || state.log.walHeld()) return;
  const batch = state.pending;
  state.pending = [];
  return feed(state, batch, 0);
}

function feed(state: ServerState, batch: readonly PendingCommand[], from: number): void | Promise<void> {
  // One step per batch: one append, one AppendEntries per follower (cut at the core's bound).
  for (let i = from; i < batch.length; i += COMMANDS_BATCH_MAX) {
    const commands = i === 0 && batch.length <= COMMANDS_BATCH_MAX ? batch : batch.slice(i, i + COMMANDS_BATCH_MAX);
    const turn = state.shell.handle({ type: 'commands', commands });
    if (turn !== undefined) return turn.then(() => feed(state, batch, i + COMMANDS_BATCH_MAX));
  }
}

/** Commands taken before another event keep their order relative to it. */
function flushThen(ctx: ActorContext, state: ServerState, event: Event): void | Promise<void> {
  void ctx;
  return then(flush(state), () => state.shell.handle(event));
}

function then(turn: void | Promise<void>, next: () => void | Promise<void>): void | Promise<void> {
  if (turn === undefined) return next();
  return turn.then(next);
}

function queryFn(machine: Machine, query: unknown): (state: unknown) => unknown {
  if (typeof query === 'function') return query as (state: unknown) => unknown;
  return (state) => {
    if (machine.query === undefined) throw new Error('the machine has no query function');
    return machine.query(query, state);
  };
}

function deliver(ctx: ActorContext, state: ServerState, to: Caller | undefined, reply: Reply): void {
  if (to === undefined) return;
  if ('call' in to) return ctx.reply(to.call, reply);
  if (reply.type === 'ok') {
    let batch = state.applied.get(to.pipe);
    if (batch === undefined) {
      batch = { leader: reply.leader, replies: [] };
      state.applied.set(to.pipe, batch);
    }
    batch.replies.push([to.correlation, reply.reply]);
    return;
  }
  if (reply.type === 'error') {
    ctx.send(to.pipe, { type: 'raft_event', from: state.id, event: { type: 'rejected', reason: reply.code, leader: reply.leader, correlation: to.correlation } } satisfies PipelineEvent);
  }
}

function sendApplied(ctx: ActorContext, state: ServerState): void {
  if (state.applied.size === 0) return;
  for (const [pid, batch] of state.applied) {
    ctx.send(pid, { type: 'raft_event', from: batch.leader, event: { type: 'applied', replies: batch.replies } } satisfies PipelineEvent);
  }
  state.applied.clear();
}

function answerWaitingQueries(state: ServerState): void | Promise<void> {
  if (state.waitingQueries.length === 0) return;
  const applied = state.shell.core.lastApplied;
  const ready = state.waitingQueries.filter((q) => q.minIndex <= applied);
  if (ready.length === 0) return;
  state.waitingQueries = state.waitingQueries.filter((q) => q.minIndex > applied);
  return feedEvents(state, ready.map((q) => q.event), 0);
}

function feedEvents(state: ServerState, events: readonly Event[], from: number): void | Promise<void> {
  for (let i = from; i < events.length; i++) {
    const turn = state.shell.handle(events[i] as Event);
    if (turn !== undefined) return turn.then(() => feedEvents(state, events, i + 1));
  }
}

/** The leader, once this member follows one or leads. */
function knownLeader(state: ServerState): ServerId | undefined {
  const core = state.shell.core;
  return core.role === 'leader' || core.role === 'follower' ? core.leaderId : undefined;
}

/** The machine's `tick`, on the leader at the server's tick (as Ra's). */
function machineTick(ctx: ActorContext, state: ServerState): void {
  const core = state.shell.core;
  if (core.role !== 'leader' || state.machine.tick === undefined) return;
  state.shell.machineEffectsOutsideApply(state.machine.tick(ctx.now(), core.machineState));
}

function onRoleChanged(ctx: ActorContext, state: ServerState, role: Role, term: number, leader: ServerId | undefined): void {
  // The machine's `stateEnter`, on every member, for a change of role (as Ra's).
  if (role !== state.entry.role && state.machine.stateEnter !== undefined && state.shell !== undefined) {
    state.shell.machineEffectsOutsideApply(state.machine.stateEnter(role, state.shell.core.machineState));
  }
  if (leader !== undefined && (role === 'leader' || role === 'follower') && state.leaderWaiters.length > 0) {
    for (const waiter of state.leaderWaiters) ctx.reply(waiter, leader);
    state.leaderWaiters = [];
  }
  state.entry.role = role;
  state.entry.term = term;
  state.entry.leader = leader;
  if (leader !== undefined && (role === 'leader' || role === 'follower')) state.system.leaderKnown(state.config.name);
  const watch = role !== 'leader' && leader !== undefined && !sameServer(leader, state.id) ? leader : undefined;
  const current = state.leaderMonitor;
  if (current !== undefined && (watch === undefined || !sameServer(current.leader, watch))) {
    ctx.demonitor(current.ref);
    state.leaderMonitor = undefined;
  }
  if (watch !== undefined && state.leaderMonitor === undefined) {
    state.leaderMonitor = { ref: ctx.monitor({ name: watch.name, node: watch.node }), leader: watch };
  }
}
