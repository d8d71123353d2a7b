// The server actor: a thin wrapper that feeds its mailbox to a ServerInterpreter. It
// batches commands (every command waiting in the mailbox is one step, as Ra's leader
// drains its mailbox), monitors the leader, and batches pipeline replies per caller.

import { type ActorContext, type Behaviour, type CallResult, type DownMessage, type From, type Logger, type Pid, type Ref, pidEquals } from '@rafter/actors';
import { RaftCore } from '../internal/core/core.js';
import { COMMANDS_BATCH_MAX } from '../internal/core/limits.js';
import { sameServer } from '../internal/core/cluster.js';
import type { ServerId } from '../internal/core/log.js';
import type { CommandRequest, Event, RaftMessage, Reply, ReplyTo, Role, TimerName } from '../internal/core/types.js';
import { applyWalNotice, isWalNotice, openServerLog } from '../internal/log/log-actors.js';
import type { ServerLog } from '../internal/log/server-log.js';
import { MachineNotFoundError, RafterError } from '../errors.js';
import type { DirectoryEntry, ServerConfig, SystemRuntime, Ticker } from '../system/runtime.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import { withBindings } from '../logging.js';
import { ServerInterpreter, type ServerHost, type ServerStorage, type ServerTimers, type ServerTransport } from './interpreter.js';
import { wantsTick } from './tick.js';
import { coreMachine, machineForVersion, resolveMachine, type Machine } from './machine.js';
import { ActorMachinePort, type MachinePortOwner } from './machine-port.js';
import type { PipelineEvent, ServerCall, ServerCast } from './protocol.js';
import { type AuxSlot, deleted, endOfLife, initAux, membersInfoReply, runAux } from './server-ops.js';

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
  /** This server's counters in the system's shared memory, and its leaderboard line. */
  readonly metrics: ServerMetrics;
  readonly config: ServerConfig;
  readonly system: SystemRuntime;
  readonly machine: Machine;
  readonly log: ServerLog;
  readonly shell: ServerInterpreter;
  /** The core's timers (election, condition), made on first use: an idle follower has none. */
  timers: Map<TimerName, Ref> | undefined;
  /** Commands waiting for this turn's flush (undefined when none: the arrays below too). */
  pending: PendingCommand[] | undefined;
  flushQueued: boolean;
  leaderMonitor: { readonly ref: Ref; readonly leader: ServerId } | undefined;
  /** Pipeline replies of the current turn, per caller, sent at its end (made on first use). */
  applied: Map<Pid, { leader: ServerId; replies: Array<[unknown, unknown]> }> | undefined;
  lastWritten: number;
  /** Callers of `awaitLeader` waiting for a leader to be known. */
  leaderWaiters: From[] | undefined;
  /** A machine's sends, timers, monitors and appends (leader only). */
  readonly machinePort: ActorMachinePort;
  /** Local queries waiting for this member to apply up to an index. */
  waitingQueries: Array<{ readonly minIndex: number; readonly event: Event }> | undefined;
  /** The machine's aux state (handleAux), and whether the member has reached `eol`. */
  readonly aux: AuxSlot;
}

/** Above this many bytes queued for a node, entries for it wait for the leader's next tick. */
export const SEND_QUEUED_BYTES_MAX = 8 << 20;

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
    // The newest intact checkpoint past the snapshot: only the entries after it are replayed.
    const checkpoint = await log.recoveryCheckpoint();
    for (const warning of log.snapshots.takeWarnings()) ctx.log.warn({ system: system.name, server: config.name, cluster: config.clusterName }, warning);
    log.setSnapshotBackup(config.snapshotBackup === true);
    const core = new RaftCore({
      id,
      log,
      machine: coreMachine(machine, { clusterName: config.clusterName, serverId: id, config: config.machineConfig }),
      random,
      persisted: { term: stored.currentTerm, votedFor: stored.votedFor ?? undefined, lastApplied: stored.lastApplied },
      initialMembers: config.initialMembers,
      ...(snapshot !== undefined ? { machineState: snapshot.state } : {}),
      ...(checkpoint !== undefined ? { checkpoint } : {}),
      ...(config.snapshotEvery !== undefined ? { snapshotEvery: config.snapshotEvery } : {}),
      timeouts: system.tuning.timeouts,
      // Ra 3's default: a new machine version takes effect once every member runs it.
      machineUpgradeStrategy: 'all',
    });
    const state: ServerState = {
      id,
      entry: { uid: config.uid, clusterName: config.clusterName, pid: ctx.self, role: 'recover', term: core.currentTerm, leader: undefined },
      metrics: system.metrics.server(config.name, config.clusterName, config.uid),
      config,
      system,
      machine,
      log,
      shell: undefined as unknown as ServerInterpreter,
      timers: undefined,
      pending: undefined,
      flushQueued: false,
      leaderMonitor: undefined,
      applied: undefined,
      lastWritten: log.lastWritten().index,
      leaderWaiters: undefined,
      waitingQueries: undefined,
      aux: initAux(machine, config.name),
      machinePort: undefined as unknown as ActorMachinePort,
    };
    // One object serves as the interpreter's storage, transport, timers and host, as the
    // machine port's owner and as the system's ticker: its methods are shared, where
    // closures would cost every server.
    const ports = new ServerPorts(ctx, state);
    (state as { machinePort: ActorMachinePort }).machinePort = new ActorMachinePort(ctx, ports);
    (state as { shell: ServerInterpreter }).shell = new ServerInterpreter({
      core,
      storage: ports,
      transport: ports,
      timers: ports,
      machine: state.machinePort,
      host: ports,
      snapshotChunkBytes: system.tuning.snapshotChunkBytes,
    });
    system.directory.set(config.name, state.entry);
    state.metrics.setMachineOverview(() => overviewOf(state));
    await state.shell.start();
    endTurn(ctx, state);
    logOf(ctx, state).debug({ term: core.currentTerm, lastApplied: core.lastApplied }, 'raft server started');
    // No timer of its own: the system ticks the servers that need it (tick.ts).
    system.tickers.set(config.name, ports);
    noteWantsTick(ctx, state);
    return state;
  },

  handle(msg: ServerCast | DownMessage | { type: 'EXIT'; from: Pid; reason: unknown }, state, ctx) {
    return stopOnFailure(ctx, state, state, () => {
      const turn = then(onMessage(msg, state, ctx), () => answerWaitingQueries(state));
      if (turn === undefined) {
        endTurn(ctx, state);
        return state;
      }
      return turn.then(() => {
        endTurn(ctx, state);
        return state;
      });
    });
  },

  handleCall(request: ServerCall, from, state, ctx) {
    return stopOnFailure(ctx, state, { noreply: true as const, state }, () => onCall(request, from, state, ctx));
  },

  async terminate(reason, state, ctx) {
    logOf(ctx, state).debug({ reason }, 'raft server stopped');
    state.shell.storeApplied();
    state.metrics.stopped();
    state.system.elections.disarmed(state.config.name);
    const ticker = state.system.tickers.get(state.config.name);
    if (ticker !== undefined && pidEquals(ticker.pid, ctx.self)) {
      state.system.tickers.delete(state.config.name);
      state.system.wantingTick.delete(ticker);
    }
    const entry = state.system.directory.get(state.config.name);
    if (entry !== undefined && entry.pid !== undefined && entry.uid === state.config.uid) {
      entry.pid = undefined;
      entry.role = 'stopped';
    }
    await checkpointAtStop(state);
  },
};

/** What the interpreter and the system's tick call on a server (see init). */
class ServerPorts implements ServerStorage, ServerTransport, ServerTimers, ServerHost, MachinePortOwner, Ticker {
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
    return wantsTick(this.state.shell, effectiveMachine(this.state));
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

  set(timer: TimerName, afterMs: number, generation: number): void {
    const { ctx, state } = this;
    const old = state.timers?.get(timer);
    if (old !== undefined) ctx.cancelTimer(old);
    if (timer === 'election') state.system.elections.armed(state.config.name);
    (state.timers ??= new Map()).set(timer, ctx.sendAfter(afterMs, { type: '$timer', timer, generation } satisfies ServerCast));
  }

  cancel(timer: TimerName): void {
    if (timer === 'election') this.state.system.elections.disarmed(this.state.config.name);
    const timers = this.state.timers;
    if (timers === undefined) return;
    const old = timers.get(timer);
    if (old !== undefined) this.ctx.cancelTimer(old);
    timers.delete(timer);
    if (timers.size === 0) this.state.timers = undefined;
  }

  proposeNotice(command: unknown, priority: 'normal' | 'low'): void {
    enqueue(this.ctx, this.state, { command, priority, from: undefined });
  }

  post(event: Event): void {
    countPosted(this.state, event);
    this.ctx.send(this.ctx.self, { type: '$event', event } satisfies ServerCast);
  }

  roleChanged(role: Role, term: number, leader: ServerId | undefined): void {
    onRoleChanged(this.ctx, this.state, role, term, leader);
  }

  removed(): void {
    this.ctx.stop('normal');
  }

  endOfLife(machineState: unknown): void {
    endOfLife(this.state, machineState);
  }

  deleted(): void {
    deleted(this.ctx, this.state);
  }

  warn(message: string): void {
    logOf(this.ctx, this.state).warn({}, message);
  }
}

/**
 * An election whose delay ended waits longer while many are pending on this system
 * (election-spread.ts). True if it waits: the same timeout comes back later.
 */
function electionSpread(ctx: ActorContext, state: ServerState, generation: number): boolean {
  if (generation !== state.shell.core.timerGeneration('election')) return false;
  const waitMs = state.system.elections.fired(state.config.name);
  if (waitMs === 0) return false;
  (state.timers ??= new Map()).set('election', ctx.sendAfter(waitMs, { type: '$timer', timer: 'election', generation } satisfies ServerCast));
  return true;
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
  logOf(ctx, state).error({ code }, err.message);
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
      const event: Event = { type: 'query', kind: request.kind, fn: queryFn(effectiveMachine(state), request.query), from: caller };
      const minIndex = request.minIndex ?? 0;
      if (request.kind === 'local' && minIndex > state.shell.core.lastApplied) {
        // Answered once this member has applied that far (or never: the caller times out).
        (state.waitingQueries ??= []).push({ minIndex, event });
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
      const machineOverview = overviewOf(state);
      return { reply: { role: core.role, term: core.currentTerm, leader: core.leaderId, commitIndex: core.commitIndex, lastApplied: core.lastApplied, clusterName: state.config.clusterName, pid: ctx.self, machineVersion: core.machineVersion, machineOverview }, state };
    }
    case 'addMember':
      turn = flushThen(ctx, state, { type: 'add_member', member: request.member, from: caller, ...(request.expected !== undefined ? { expected: request.expected } : {}) });
      break;
    case 'removeMember':
      turn = flushThen(ctx, state, { type: 'remove_member', id: request.id, from: caller, ...(request.expected !== undefined ? { expected: request.expected } : {}) });
      break;
    case 'deleteCluster':
      turn = flushThen(ctx, state, { type: 'delete_cluster', from: caller });
      break;
    case 'forceShrink':
      logOf(ctx, state).warn({}, 'raft server: forced shrink to this member alone (disaster recovery)');
      turn = flushThen(ctx, state, { type: 'force_shrink', from: caller });
      break;
    case 'membersInfo':
      return { reply: membersInfoReply(state.shell.core), state };
    case 'aux':
      return runAux(ctx, state, 'call', request.command).then((reply) => ({ reply, state }));
    case 'transferLeadership':
      turn = flushThen(ctx, state, { type: 'transfer_leadership', to: request.to, from: caller });
      break;
    case 'awaitLeader': {
      const leader = knownLeader(state);
      if (leader !== undefined) return { reply: leader, state };
      (state.leaderWaiters ??= []).push(from);
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
    endTurn(ctx, state);
    return { noreply: true, state };
  }
  return turn.then(() => {
    endTurn(ctx, state);
    return { noreply: true as const, state };
  });
}

function onMessage(msg: ServerCast | DownMessage | { type: 'EXIT'; from: Pid; reason: unknown }, state: ServerState, ctx: ActorContext): void | Promise<void> {
  if (isWalNotice(msg)) return onWalNotice(msg, state, ctx);
  if (state.machinePort.handle(msg, state.shell.core.role === 'leader')) return;
  switch (msg.type) {
    case '$raft':
      state.metrics.messageReceived();
      return flushThen(ctx, state, { type: 'message', from: msg.from, msg: msg.msg as RaftMessage });
    case '$pipeline':
      enqueue(ctx, state, { command: msg.command, priority: msg.priority, from: { pipe: msg.replyTo, correlation: msg.correlation } satisfies Caller });
      return;
    case '$flush':
      state.flushQueued = false;
      return flush(ctx, state);
    case '$timer':
      if (msg.timer === 'election' && electionSpread(ctx, state, msg.generation)) return;
      return flushThen(ctx, state, { type: 'timeout', timer: msg.timer, generation: msg.generation });
    case '$event':
      return flushThen(ctx, state, msg.event);
    case '$node':
      return flushThen(ctx, state, msg.up ? { type: 'node_up', node: msg.node } : { type: 'node_maybe_down', node: msg.node });
    case '$aux':
      return runAux(ctx, state, 'cast', msg.command).then(() => undefined);
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
      logOf(ctx, state).warn({ type: String((msg as { type?: unknown }).type) }, 'raft server: unexpected message dropped');
      return;
  }
}

function onWalNotice(msg: Parameters<typeof applyWalNotice>[1], state: ServerState, ctx: ActorContext): void | Promise<void> {
  const failed = applyWalNotice(state.log, msg);
  if (failed !== undefined) return state.shell.handle({ type: 'write_failed', index: failed.fromIndex, reason: failed.message });
  const written = state.log.lastWritten();
  let turn: void | Promise<void> = undefined;
  if (written.index !== state.lastWritten) {
    state.metrics.entriesWritten(written.index - state.lastWritten, written.index);
    state.lastWritten = written.index;
    turn = state.shell.handle({ type: 'written', index: written.index, term: written.term });
  }
  // A hold on the WAL ended: the commands that waited go now.
  if (state.pending !== undefined && !state.log.walHeld()) return then(turn, () => flush(ctx, state));
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
      state.metrics.appendHeld();
      return;
    }
  }
  try {
    ctx.send({ name: to.name, node: to.node }, { type: '$raft', from: state.id, msg } satisfies ServerCast);
    state.metrics.messageSent();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ACTORS_UNKNOWN_NAME') throw err;
  }
}

function enqueue(ctx: ActorContext, state: ServerState, command: PendingCommand): void {
  (state.pending ??= []).push(command);
  if (state.flushQueued) return;
  state.flushQueued = true;
  // Behind every message already queued: the commands among them join this batch.
  ctx.send(ctx.self, { type: '$flush' } satisfies ServerCast);
}

/** Steps the core with the waiting commands, unless the WAL asked us to hold. */
function flush(ctx: ActorContext, state: ServerState): void | Promise<void> {
  const batch = state.pending;
  if (batch === undefined || state.log.walHeld()) return;
  state.pending = undefined;
  return feed(ctx, state, batch, 0);
}

function feed(ctx: ActorContext, state: ServerState, batch: readonly PendingCommand[], from: number): void | Promise<void> {
  // One step per batch: one append, one AppendEntries per follower (cut at the core's bound).
  for (let i = from; i < batch.length; i += COMMANDS_BATCH_MAX) {
    const commands = i === 0 && batch.length <= COMMANDS_BATCH_MAX ? batch : batch.slice(i, i + COMMANDS_BATCH_MAX);
    // The node's clock, stamped into proposed commands (MachineMeta.systemTime).
    const turn = state.shell.handle({ type: 'commands', commands, systemTime: ctx.now() });
    // Counted where they are taken: a follower only redirects them.
    if (state.shell.core.role === 'leader') state.metrics.commands(commands.length, state.shell.core.log.last().index, performance.now());
    if (turn !== undefined) return turn.then(() => feed(ctx, state, batch, i + COMMANDS_BATCH_MAX));
  }
}

/** Commands taken before another event keep their order relative to it. */
function flushThen(ctx: ActorContext, state: ServerState, event: Event): void | Promise<void> {
  return then(flush(ctx, state), () => state.shell.handle(event));
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
    const applied = (state.applied ??= new Map());
    let batch = applied.get(to.pipe);
    if (batch === undefined) {
      batch = { leader: reply.leader, replies: [] };
      applied.set(to.pipe, batch);
    }
    batch.replies.push([to.correlation, reply.reply]);
    return;
  }
  if (reply.type === 'error') {
    ctx.send(to.pipe, { type: 'raft_event', from: state.id, event: { type: 'rejected', reason: reply.code, leader: reply.leader, correlation: to.correlation } } satisfies PipelineEvent);
  }
}

/** The end of a turn that stepped the core: pipeline replies go out, the counters' gauges catch up. */
function endTurn(ctx: ActorContext, state: ServerState): void {
  sendApplied(ctx, state);
  const core = state.shell.core;
  state.metrics.endTurn(core, core.log.last().index, performance.now());
  noteWantsTick(ctx, state);
}

/** Tells the system's tick whether this server has work for it (it changes only in our turns). */
function noteWantsTick(ctx: ActorContext, state: ServerState): void {
  const ticker = state.system.tickers.get(state.config.name);
  if (ticker === undefined || !pidEquals(ticker.pid, ctx.self)) return;
  if (ticker.wantsTick()) state.system.wantingTick.add(ticker);
  else state.system.wantingTick.delete(ticker);
}

/** Events the interpreter posts to this actor that say a snapshot was written or installed. */
function countPosted(state: ServerState, event: Event): void {
  if (event.type === 'snapshot_written' && event.outcome === 'written') state.metrics.snapshotWritten(event.meta.index);
  else if (event.type === 'snapshot_installed') state.metrics.snapshotInstalled(event.meta.index);
}

function sendApplied(ctx: ActorContext, state: ServerState): void {
  const applied = state.applied;
  if (applied === undefined) return;
  state.applied = undefined;
  for (const [pid, batch] of applied) {
    ctx.send(pid, { type: 'raft_event', from: batch.leader, event: { type: 'applied', replies: batch.replies } } satisfies PipelineEvent);
  }
}

function answerWaitingQueries(state: ServerState): void | Promise<void> {
  const waiting = state.waitingQueries;
  if (waiting === undefined) return;
  const applied = state.shell.core.lastApplied;
  const ready = waiting.filter((q) => q.minIndex <= applied);
  if (ready.length === 0) return;
  const rest = waiting.filter((q) => q.minIndex > applied);
  state.waitingQueries = rest.length > 0 ? rest : undefined;
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

/** The implementation of the machine version in force (Ra's effective machine module). */
function effectiveMachine(state: ServerState): Machine {
  return machineForVersion(state.machine, state.shell.core.machineVersion);
}

/** The machine's `overview(state)` for serverStatus; one that throws is reported, not fatal. */
function overviewOf(state: ServerState): unknown {
  const machine = effectiveMachine(state);
  if (machine.overview === undefined) return undefined;
  try {
    return machine.overview(state.shell.core.machineState);
  } catch (err) {
    return { error: String(err) };
  }
}

/** The machine's `tick`, on the leader at the server's tick (as Ra's). */
function machineTick(ctx: ActorContext, state: ServerState): void {
  const core = state.shell.core;
  const machine = effectiveMachine(state);
  if (core.role !== 'leader' || machine.tick === undefined) return;
  state.shell.machineEffectsOutsideApply(machine.tick(ctx.now(), core.machineState));
}

/** Every line a server writes says which system, cluster and server. */
function logOf(ctx: ActorContext, state: ServerState): Logger {
  // Made per use, not kept: a server logs seldom, and thousands of them would each hold one.
  return withBindings(ctx.log, { system: state.system.name, cluster: state.config.clusterName, server: state.config.name });
}

function onRoleChanged(ctx: ActorContext, state: ServerState, role: Role, term: number, leader: ServerId | undefined): void {
  // A leader's monitors and timers end with its leadership; the next leader re-issues them.
  if (state.entry.role === 'leader' && role !== 'leader') state.machinePort.clear();
  if (role === 'leader' && state.entry.role !== 'leader') logOf(ctx, state).info({ term }, 'raft server: elected leader');
  // The machine's `stateEnter`, on every member, for a change of role (as Ra's); none after `eol`.
  const machine = state.shell === undefined ? undefined : effectiveMachine(state);
  if (role !== state.entry.role && machine?.stateEnter !== undefined && state.aux.ended !== true) {
    state.shell.machineEffectsOutsideApply(machine.stateEnter(role, state.shell.core.machineState));
  }
  if (leader !== undefined && (role === 'leader' || role === 'follower') && state.leaderWaiters !== undefined) {
    for (const waiter of state.leaderWaiters) ctx.reply(waiter, leader);
    state.leaderWaiters = undefined;
  }
  state.entry.role = role;
  state.entry.term = term;
  state.entry.leader = leader;
  state.metrics.roleChanged(role, term, leader, state.shell?.core.cluster.current());
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

/**
 * A clean stop leaves a checkpoint at the applied index, so the restart replays nothing
 * (Ra writes one at shutdown too). Only a state whose entries are all written here, and
 * not after a failure: a failed machine or log stops without one.
 */
async function checkpointAtStop(state: ServerState): Promise<void> {
  const core = state.shell.core;
  if (core.failure !== undefined || state.log.failure() !== undefined || core.role === 'recover') return;
  // A member of a deleted cluster is going away with its data.
  if (state.aux.ended) return;
  if (core.lastApplied > state.log.lastWritten().index) return;
  await state.shell.checkpoint(core.lastApplied, core.machineState);
}
