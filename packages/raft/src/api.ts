// Ra's API: functions over server ids ({ name, node }), with Ra's semantics. A call to
// a follower is redirected to the leader; a call given several servers tries the next
// on timeout, noproc or nodedown. Every call validates its arguments and fails with a
// typed error, never hangs past its timeout.

import type { Dest, Pid } from '@rafter/actors';
import { type Caller, defaultCallerOf } from './system/caller.js';
import { errorFromReply, InvalidArgumentError, MessageTooLargeError, NodeDownError, NoProcError, NoSystemError, RafterError, ServerStoppedError, TimeoutError, ClusterNotFormedError } from './errors.js';
import { quorumSize, sameServer } from './internal/core/cluster.js';
import type { Member, MembershipKind, ServerId } from './internal/core/log.js';
import type { Reply, Role } from './internal/core/types.js';
import { encodeValue } from './internal/log/codec.js';
import { ENTRY_PAYLOAD_BYTES_MAX } from './internal/log/limits.js';
import { LogLimitError } from './internal/log/errors.js';
import { checkMachineRef, type MachineRef } from './server/machine.js';
import type { QueryKind, ServerCall, ServerCast } from './server/protocol.js';
import type { ServerConfig } from './system/runtime.js';
import { systemActorName, type RaftSystem, type SystemReply, type SystemRequest } from './system/system.js';


export interface CallerOption {
  /** Where the call is made from; default: the node given to useCaller or the last startSystem on this thread. */
  readonly via?: Caller;
}

export interface TimeoutOption extends CallerOption {
  /** Default 5,000 ms. */
  readonly timeoutMs?: number;
}

export const API_TIMEOUT_MS_DEFAULT = 5_000;

export function callerOf(options: CallerOption | undefined): Caller {
  const caller = options?.via ?? defaultCallerOf();
  if (caller === undefined) throw new InvalidArgumentError('via', 'a node or actor context (or call startSystem or useCaller first)', undefined);
  return caller;
}

/** The node a call is made from: a Node's name, or the node of an actor context. */
function callerNodeOf(caller: Caller): string | undefined {
  const c = caller as { name?: unknown; self?: { node?: unknown } };
  if (typeof c.self?.node === 'string') return c.self.node;
  return typeof c.name === 'string' ? c.name : undefined;
}

export function timeoutOf(options: TimeoutOption | undefined): number {
  const ms = options?.timeoutMs ?? API_TIMEOUT_MS_DEFAULT;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError('timeoutMs', 'a positive number of milliseconds', ms);
  return ms;
}

export function isServerId(value: unknown): value is ServerId {
  const id = value as Partial<ServerId> | undefined;
  return typeof id === 'object' && id !== null && typeof id.name === 'string' && id.name.length > 0 && typeof id.node === 'string' && id.node.length > 0;
}

export function checkServerId(value: unknown, argument = 'server id'): ServerId {
  if (!isServerId(value)) throw new InvalidArgumentError(argument, '{ name, node } with non-empty strings', value);
  return { name: value.name, node: value.node };
}

export function checkServerIds(value: unknown, argument = 'server ids'): ServerId[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InvalidArgumentError(argument, 'at least one server id', value);
  return list.map((v) => checkServerId(v, argument));
}

/** Maps a failed call to our errors: noproc and nodedown become typed, so callers can try the next server. */
export function callError(err: unknown, server: ServerId, timeoutMs: number, leader: ServerId | undefined): RafterError {
  if (err instanceof RafterError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'ACTORS_CALL_EXIT') {
    // A server that stopped for good (its machine threw, its log failed) says why in its exit reason.
    const reason = (err as { reason?: { code?: unknown; message?: unknown; shutdown?: { code?: unknown; message?: unknown } } }).reason;
    const stopped = reason?.shutdown ?? reason;
    if (typeof stopped?.code === 'string' && stopped.code.startsWith('RAFTER_')) return new ServerStoppedError(server, `${stopped.code}: ${String(stopped.message)}`);
    return new NoProcError(server);
  }
  if (code === 'ACTORS_NOPROC' || code === 'ACTORS_UNKNOWN_NAME') return new NoProcError(server);
  if (code === 'ACTORS_NODEDOWN' || code === 'ACTORS_NOCONNECTION' || code === 'ACTORS_CONNECT_FAILED') return new NodeDownError(server);
  if (code === 'ACTORS_TIMEOUT' || code === 'ACTORS_CALL_TIMEOUT') return new TimeoutError(server, timeoutMs, leader);
  // Refused at the sender: no other server would take it either.
  if (code === 'ACTORS_MESSAGE_TOO_LARGE') return new MessageTooLargeError(server, (err as Error).message);
  if (code === 'ACTORS_INVALID_ARGUMENT') return new InvalidArgumentError('request', `plain data that can be sent to node ${server.node}`, (err as Error).message);
  const wrapped = new RafterError('RAFTER_NOPROC', `call to ${server.name}@${server.node} failed: ${String(err)}`, { cause: err });
  return wrapped;
}

function replyError(reply: Reply, server: ServerId): RafterError | undefined {
  if (reply.type !== 'error') return undefined;
  return errorFromReply(reply.code, server, reply.leader);
}

/** A retryable failure: the next server of the list, or the leader, may answer. */
function retryable(err: RafterError): boolean {
  return err.code === 'RAFTER_NOPROC' || err.code === 'RAFTER_NODEDOWN' || err.code === 'RAFTER_TIMEOUT';
}

/** The least time one server of a list is given before the next is tried. */
export const CALL_ATTEMPT_MS_MIN = 100;

function serverKeyOf(server: ServerId): string {
  return `${server.name}@${server.node}`;
}

/**
 * The time one attempt may take: shared with the listed servers still worth trying, so
 * that one hung server (a stopped process answers nothing) cannot take all of it.
 */
function attemptMsOf(leftMs: number, others: number): number {
  if (others <= 0) return leftMs;
  return Math.max(Math.floor(leftMs / (others + 1)), Math.min(leftMs, CALL_ATTEMPT_MS_MIN));
}

/**
 * Calls `request` on the servers in turn, following redirects to the leader, until one
 * answers with something other than "not the leader" or the time is up.
 */
export async function callLeader<T>(caller: Caller, servers: readonly ServerId[], request: ServerCall, timeoutMs: number, accept: (reply: Reply, server: ServerId) => T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  /** Servers that did not answer (timeout, noproc, nodedown): not asked again by this call. */
  const failed = new Set<string>();
  let queue = [...servers];
  let leader: ServerId | undefined;
  let last: RafterError | undefined;
  let stalePauses = 0;
  while (queue.length > 0) {
    const server = queue.shift() as ServerId;
    // A redirect may have queued a server twice; one that did not answer is not asked again.
    if (failed.has(serverKeyOf(server))) {
      if (queue.length === 0) queue = servers.filter((s) => !failed.has(serverKeyOf(s)));
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    const others = servers.filter((s) => !sameServer(s, server) && !failed.has(serverKeyOf(s))).length;
    let reply: Reply;
    try {
      reply = await caller.call<Reply>({ name: server.name, node: server.node }, request, { timeoutMs: attemptMsOf(left, others) });
    } catch (err) {
      last = callError(err, server, timeoutMs, leader);
      if (!retryable(last)) throw last;
      failed.add(serverKeyOf(server));
      // A redirect led here: the members that sent it may know a newer leader by now.
      if (queue.length === 0) queue = servers.filter((s) => !failed.has(serverKeyOf(s)));
      continue;
    }
    if (reply.type === 'error' && reply.code === 'RAFTER_NOT_LEADER') {
      leader = reply.leader;
      last = replyError(reply, server);
      if (leader !== undefined && !sameServer(leader, server) && !failed.has(serverKeyOf(leader))) {
        queue.unshift(leader);
      } else {
        // No leader known yet (an election is under way): the server answers once it knows one.
        const known = await caller.call<ServerId>({ name: server.name, node: server.node }, { op: 'awaitLeader' } satisfies ServerCall, { timeoutMs: Math.max(1, deadline - Date.now()) }).catch(() => undefined);
        if (known !== undefined && !failed.has(serverKeyOf(known))) queue.unshift(known);
        else {
          // It still knows only a leader that did not answer this call (the members have not
          // yet timed it out): pause, or this would ask again and again until the deadline.
          stalePauses++;
          await new Promise((resolve) => setTimeout(resolve, Math.min(10 * stalePauses, 100)));
          queue.push(...servers.filter((s) => !failed.has(serverKeyOf(s)) && !queue.some((q) => sameServer(q, s))));
        }
      }
      continue;
    }
    if (reply.type === 'error') throw replyError(reply, server) as RafterError;
    return accept(reply, server);
  }
  throw last instanceof TimeoutError || last === undefined ? new TimeoutError(servers[0] as ServerId, timeoutMs, leader) : last.code === 'RAFTER_NOT_LEADER' ? new TimeoutError(servers[0] as ServerId, timeoutMs, leader) : last;
}

// ---- commands ----

export interface CommandOptions extends TimeoutOption {
  readonly priority?: 'normal' | 'low';
}

export interface CommandResult<R = unknown> {
  readonly reply: R;
  readonly leader: ServerId;
  readonly index: number;
}

/** A command for a server on this node must fit the log's entry limit; remote ones are checked by the distribution layer. */
function checkCommandSize(command: unknown): void {
  let bytes: number;
  try {
    bytes = encodeValue({ type: 'command', command }).length;
  } catch (err) {
    // A symbol, a circular object...: nothing a log can hold.
    throw new InvalidArgumentError('command', `plain data that can be encoded (${String((err as Error).message ?? err)})`, command);
  }
  if (bytes > ENTRY_PAYLOAD_BYTES_MAX) throw new LogLimitError('the encoded command (bytes)', bytes, ENTRY_PAYLOAD_BYTES_MAX);
}

function checkPriority(priority: unknown): 'normal' | 'low' {
  if (priority === undefined) return 'normal';
  if (priority !== 'normal' && priority !== 'low') throw new InvalidArgumentError('priority', "'normal' or 'low'", priority);
  return priority;
}

/**
 * Proposes `command` and resolves once the leader has applied it, with the machine's
 * reply. Given a list, the next server is tried on timeout, noproc or nodedown.
 */
export async function processCommand<R = unknown>(server: ServerId | readonly ServerId[], command: unknown, options?: CommandOptions): Promise<CommandResult<R>> {
  const servers = checkServerIds(server);
  const timeoutMs = timeoutOf(options);
  const priority = checkPriority(options?.priority);
  const caller = callerOf(options);
  checkCommandSize(command);
  return callLeader(caller, servers, { op: 'command', command, priority }, timeoutMs, (reply) => {
    if (reply.type !== 'ok') throw new InvalidArgumentError('reply', 'an ok reply', reply);
    return { reply: reply.reply as R, leader: reply.leader, index: reply.index };
  });
}

/**
 * Sends `command` without waiting: the caller receives `raft_event` messages (see
 * PipelineEvent): `applied` with `[correlation, reply]` pairs from the leader, or
 * `rejected` with the leader if the server is not the leader. Ra's pipeline_command.
 */
export function pipelineCommand(ctx: { readonly self: Pid; send(dest: Dest, msg: unknown): void }, server: ServerId, command: unknown, correlation?: unknown, priority: 'normal' | 'low' = 'normal'): void {
  const id = checkServerId(server);
  const p = checkPriority(priority);
  if (id.node === ctx.self.node) checkCommandSize(command);
  ctx.send({ name: id.name, node: id.node }, { type: '$pipeline', command, correlation, priority: p, replyTo: ctx.self } satisfies ServerCast);
}

// ---- queries ----

export interface QueryOptions extends TimeoutOption {
  /** localQuery only: answer once the server has applied at least this index. */
  readonly minIndex?: number;
}

export interface QueryResult<T = unknown> {
  readonly result: T;
  readonly index: number;
  readonly leader: ServerId | undefined;
}

/** A query is data for the machine's `query(q, state)`; a function is accepted only for a server on the caller's thread. */
async function query<T>(kind: QueryKind, server: ServerId | readonly ServerId[], q: unknown, options: QueryOptions | undefined): Promise<QueryResult<T>> {
  const servers = checkServerIds(server);
  const timeoutMs = timeoutOf(options);
  const caller = callerOf(options);
  const minIndex = checkMinIndex(options?.minIndex);
  if (minIndex > 0 && kind !== 'local') throw new InvalidArgumentError('minIndex', 'no minIndex: it is for localQuery only', minIndex);
  // A closure does not survive the wire (the distribution would send something else).
  if (typeof q === 'function' && servers.some((s) => s.node !== callerNodeOf(caller))) {
    throw new InvalidArgumentError('query', 'data for the machine\'s query (a function only for a server on the caller\'s node)', q);
  }
  // The server answers a local query with a minIndex once it has applied that far.
  const request: ServerCall = { op: 'query', kind, query: q, ...(minIndex > 0 ? { minIndex } : {}) };
  if (kind === 'local') {
    return firstAnswering(servers, timeoutMs, async (s, left) => {
      const reply = await caller.call<Reply>({ name: s.name, node: s.node }, request, { timeoutMs: left });
      const err = replyError(reply, s);
      if (err !== undefined) throw err;
      if (reply.type !== 'query') throw new InvalidArgumentError('reply', 'a query reply', reply);
      return { result: reply.result as T, index: reply.index, leader: reply.leader };
    });
  }
  return callLeader(caller, servers, request, timeoutMs, (reply) => {
    if (reply.type !== 'query') throw new InvalidArgumentError('reply', 'a query reply', reply);
    return { result: reply.result as T, index: reply.index, leader: reply.leader };
  });
}

function checkMinIndex(minIndex: unknown): number {
  if (minIndex === undefined) return 0;
  if (typeof minIndex !== 'number' || !Number.isSafeInteger(minIndex) || minIndex < 0) throw new InvalidArgumentError('minIndex', 'a log index (an integer ≥ 0)', minIndex);
  return minIndex;
}

/** Tries each server in turn on timeout, noproc or nodedown. */
async function firstAnswering<T>(servers: readonly ServerId[], timeoutMs: number, attempt: (server: ServerId, leftMs: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: RafterError | undefined;
  for (const [i, s] of servers.entries()) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await attempt(s, attemptMsOf(left, servers.length - i - 1));
    } catch (err) {
      last = callError(err, s, timeoutMs, undefined);
      if (!retryable(last)) throw last;
    }
  }
  throw last ?? new TimeoutError(servers[0] as ServerId, timeoutMs, undefined);
}

/** The server's own machine state, possibly stale. */
export function localQuery<T = unknown>(server: ServerId | readonly ServerId[], q: unknown, options?: QueryOptions): Promise<QueryResult<T>> {
  return query<T>('local', server, q, options);
}

/** The leader's machine state (it may be deposed without knowing: use consistentQuery for linearizable reads). */
export function leaderQuery<T = unknown>(server: ServerId | readonly ServerId[], q: unknown, options?: QueryOptions): Promise<QueryResult<T>> {
  return query<T>('leader', server, q, options);
}

/** A linearizable read: the leader confirms its leadership with a quorum (read index) before answering. */
export function consistentQuery<T = unknown>(server: ServerId | readonly ServerId[], q: unknown, options?: QueryOptions): Promise<QueryResult<T>> {
  return query<T>('consistent', server, q, options);
}

// ---- membership ----

export interface MembersResult {
  readonly members: readonly ServerId[];
  readonly memberships: readonly Member[];
  readonly leader: ServerId | undefined;
}

/** The cluster's members as the server knows them, and the leader it knows. */
export async function members(server: ServerId | readonly ServerId[], options?: TimeoutOption): Promise<MembersResult> {
  const servers = checkServerIds(server);
  const timeoutMs = timeoutOf(options);
  const caller = callerOf(options);
  return firstAnswering(servers, timeoutMs, async (s, left) => {
    const reply = await caller.call<{ members: Member[]; leader: ServerId | undefined }>({ name: s.name, node: s.node }, { op: 'members' } satisfies ServerCall, { timeoutMs: left });
    return { members: reply.members.map((m) => m.id), memberships: reply.members, leader: reply.leader };
  });
}

function toMember(value: ServerId | Member): Member {
  if (typeof value === 'object' && value !== null && 'id' in value) {
    const m = value as Member;
    const kinds: readonly MembershipKind[] = ['voter', 'promotable', 'non_voter'];
    if (!kinds.includes(m.membership)) throw new InvalidArgumentError('membership', "'voter', 'promotable' or 'non_voter'", m.membership);
    return { id: checkServerId(m.id, 'member id'), membership: m.membership };
  }
  return { id: checkServerId(value, 'member id'), membership: 'voter' };
}

export interface MembershipChangeOptions extends TimeoutOption {
  /** Apply only if the cluster's members are exactly these (any order); else PeersChangedError (zraft_lib's peersChanged). */
  readonly expectedMembers?: readonly ServerId[];
}

function expectedOf(options: MembershipChangeOptions | undefined): { expected?: ServerId[] } {
  if (options?.expectedMembers === undefined) return {};
  if (!Array.isArray(options.expectedMembers)) throw new InvalidArgumentError('expectedMembers', 'an array of server ids', options.expectedMembers);
  return { expected: options.expectedMembers.map((id) => checkServerId(id, 'expectedMembers')) };
}

/** Adds a member (start its server with startServer, given the existing members). Through the leader. */
export async function addMember(server: ServerId | readonly ServerId[], member: ServerId | Member, options?: MembershipChangeOptions): Promise<{ index: number; leader: ServerId }> {
  const servers = checkServerIds(server);
  const m = toMember(member);
  return callLeader(callerOf(options), servers, { op: 'addMember', member: m, ...expectedOf(options) }, timeoutOf(options), (reply) => okIndex(reply));
}

/** Removes a member through the leader; the removed server stops once it applies its removal. */
export async function removeMember(server: ServerId | readonly ServerId[], member: ServerId, options?: MembershipChangeOptions): Promise<{ index: number; leader: ServerId }> {
  const servers = checkServerIds(server);
  const id = checkServerId(member, 'member id');
  return callLeader(callerOf(options), servers, { op: 'removeMember', id, ...expectedOf(options) }, timeoutOf(options), (reply) => okIndex(reply));
}

function okIndex(reply: Reply): { index: number; leader: ServerId } {
  if (reply.type !== 'ok') throw new InvalidArgumentError('reply', 'an ok reply', reply);
  return { index: reply.index, leader: reply.leader };
}

/** Hands leadership to `target`; resolves when the leader has started the transfer. */
export async function transferLeadership(server: ServerId | readonly ServerId[], target: ServerId, options?: TimeoutOption): Promise<void> {
  const servers = checkServerIds(server);
  const to = checkServerId(target, 'target');
  await callLeader(callerOf(options), servers, { op: 'transferLeadership', to }, timeoutOf(options), () => undefined);
}

/** Asks the server to start an election now. */
export async function triggerElection(server: ServerId, options?: TimeoutOption): Promise<void> {
  const id = checkServerId(server);
  const timeoutMs = timeoutOf(options);
  try {
    await callerOf(options).call({ name: id.name, node: id.node }, { op: 'triggerElection' } satisfies ServerCall, { timeoutMs });
  } catch (err) {
    throw callError(err, id, timeoutMs, undefined);
  }
}

export interface ServerStatus {
  readonly role: Role;
  readonly term: number;
  readonly leader: ServerId | undefined;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly clusterName: string;
  /** The server's actor, to link to or send exit signals to (a restarted server has a new one). */
  readonly pid: Pid;
  /** The machine version in force on this member. */
  readonly machineVersion: number;
  /** The machine's `overview(state)`, if it has one. */
  readonly machineOverview: unknown;
}

/** The server's role, term, leader and indexes, and its pid, from the server itself. */
export async function serverStatus(server: ServerId, options?: TimeoutOption): Promise<ServerStatus> {
  const id = checkServerId(server);
  const timeoutMs = timeoutOf(options);
  try {
    return await callerOf(options).call<ServerStatus>({ name: id.name, node: id.node }, { op: 'status' } satisfies ServerCall, { timeoutMs });
  } catch (err) {
    throw callError(err, id, timeoutMs, undefined);
  }
}

// ---- servers and clusters, through the system actor of each node ----

type SystemRef = RaftSystem | string;

function systemName(system: SystemRef): string {
  const name = typeof system === 'string' ? system : system?.name;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('system', 'a system or its name', system);
  return name;
}

/** A request to a node's system actor; a node without the system is RAFTER_NO_SYSTEM. */
export async function systemCall(caller: Caller, system: string, node: string, request: SystemRequest, timeoutMs: number): Promise<SystemReply & { ok: true }> {
  let reply: SystemReply;
  try {
    reply = await caller.call<SystemReply>({ name: systemActorName(system), node }, request, { timeoutMs });
  } catch (err) {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (code === 'ACTORS_NOPROC' || code === 'ACTORS_UNKNOWN_NAME') throw new NoSystemError(system, node);
    throw callError(err, { name: systemActorName(system), node }, timeoutMs, undefined);
  }
  if (!reply.ok) throw new RafterError(reply.code, reply.message);
  return reply;
}

export interface StartServerOptions extends TimeoutOption {
  readonly machineConfig?: unknown;
  /** Default: the server's name and a random suffix (as Ra makes uids). */
  readonly uid?: string;
  /** The membership this server starts with in its initial cluster (default voter). */
  readonly membership?: MembershipKind;
  /**
   * Snapshot every this many applied entries, for machines that return no release cursor
   * (zraft_lib's snapshot_every). The system's snapshotPolicy still spaces snapshots.
   */
  readonly snapshotEvery?: number;
  /** Keep replaced snapshots in a backup folder of the server (the newest few) rather than delete them. */
  readonly snapshotBackup?: boolean;
}

function snapshotOptions(options: StartServerOptions | undefined): Pick<ServerConfig, 'snapshotEvery' | 'snapshotBackup'> {
  const every = options?.snapshotEvery;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) throw new InvalidArgumentError('snapshotEvery', 'a whole number of entries ≥ 1', every);
  const backup = options?.snapshotBackup;
  if (backup !== undefined && typeof backup !== 'boolean') throw new InvalidArgumentError('snapshotBackup', 'true or false', backup);
  return { ...(every !== undefined ? { snapshotEvery: every } : {}), ...(backup !== undefined ? { snapshotBackup: backup } : {}) };
}

function newUid(name: string): string {
  return `${name}_${Date.now().toString(36)}${Math.floor(Math.random() * 0xffffffff).toString(36)}`;
}

/**
 * Starts one member on its node: `members` is the cluster it joins (itself included, or
 * the existing members when it is added with addMember).
 */
export async function startServer(system: SystemRef, clusterName: string, server: ServerId, machine: MachineRef, members: readonly (ServerId | Member)[], options?: StartServerOptions): Promise<void> {
  const name = systemName(system);
  const id = checkServerId(server);
  if (typeof clusterName !== 'string' || clusterName.length === 0) throw new InvalidArgumentError('cluster name', 'a non-empty string', clusterName);
  checkMachineRef(machine);
  if (!Array.isArray(members)) throw new InvalidArgumentError('members', 'an array of server ids', members);
  const initialMembers = members.map(toMember);
  if (!initialMembers.some((m) => sameServer(m.id, id))) initialMembers.push({ id, membership: options?.membership ?? 'voter' });
  const config: ServerConfig = {
    name: id.name,
    uid: options?.uid ?? newUid(id.name),
    clusterName,
    machine,
    ...(options?.machineConfig !== undefined ? { machineConfig: options.machineConfig } : {}),
    initialMembers,
    ...snapshotOptions(options),
  };
  await systemCall(callerOf(options), name, id.node, { op: 'startServer', config }, timeoutOf(options));
}

/** Starts a stopped server again from its persisted configuration; it recovers from its log. */
export async function restartServer(system: SystemRef, server: ServerId, options?: TimeoutOption): Promise<void> {
  const id = checkServerId(server);
  await systemCall(callerOf(options), systemName(system), id.node, { op: 'restartServer', name: id.name }, timeoutOf(options));
}

/** Stops a server; its data stays, and restartServer brings it back. */
export async function stopServer(system: SystemRef, server: ServerId, options?: TimeoutOption): Promise<void> {
  const id = checkServerId(server);
  await systemCall(callerOf(options), systemName(system), id.node, { op: 'stopServer', name: id.name }, timeoutOf(options));
}

/** Stops a server and deletes its data and configuration for good, without telling its cluster. */
export async function forceDeleteServer(system: SystemRef, server: ServerId, options?: TimeoutOption): Promise<void> {
  const id = checkServerId(server);
  await systemCall(callerOf(options), systemName(system), id.node, { op: 'deleteServer', name: id.name }, timeoutOf(options));
}

/** Removes `member` from the cluster through `server` (or the leader), then deletes it. */
export async function leaveAndTerminate(system: SystemRef, server: ServerId | readonly ServerId[], member: ServerId, options?: TimeoutOption): Promise<void> {
  await removeMember(server, member, options);
  await forceDeleteServer(system, member, options).catch((err: unknown) => {
    // The removed member may already have stopped itself; its data must still go.
    if (!(err instanceof RafterError) || err.code !== 'RAFTER_UNKNOWN_SERVER') throw err;
  });
}

export interface StartClusterResult {
  readonly started: readonly ServerId[];
  readonly notStarted: readonly ServerId[];
  readonly leader: ServerId | undefined;
}

export interface StartClusterOptions extends StartServerOptions {
  /** How long to wait for the first leader. Default: the call's timeout. */
  readonly electionTimeoutMs?: number;
}

/**
 * Starts every member in parallel, triggers an election and waits for a leader. If too
 * few start for a quorum, or no leader is elected in time, what was started is deleted
 * and ClusterNotFormedError is thrown.
 */
export async function startCluster(system: SystemRef, clusterName: string, machine: MachineRef, servers: readonly ServerId[], options?: StartClusterOptions): Promise<StartClusterResult> {
  const name = systemName(system);
  if (typeof clusterName !== 'string' || clusterName.length === 0) throw new InvalidArgumentError('cluster name', 'a non-empty string', clusterName);
  checkMachineRef(machine);
  const ids = checkServerIds(servers);
  const keys = new Set(ids.map((s) => `${s.name}@${s.node}`));
  if (keys.size !== ids.length) throw new InvalidArgumentError('server ids', 'distinct server ids', servers);
  const { uid: _uid, ...perServer } = options ?? {};
  void _uid;
  const results = await Promise.allSettled(ids.map((id) => startServer(name, clusterName, id, machine, ids, perServer)));
  const started = ids.filter((_, i) => results[i]?.status === 'fulfilled');
  const notStarted = ids.filter((_, i) => results[i]?.status === 'rejected');
  const cleanUp = () => Promise.allSettled(started.map((id) => forceDeleteServer(name, id, perServer)));
  if (started.length < quorumSize(ids.length)) {
    await cleanUp();
    const why = results.map((r, i) => (r.status === 'rejected' ? `${ids[i]?.name}: ${String((r.reason as Error).message ?? r.reason)}` : undefined)).filter(Boolean);
    throw new ClusterNotFormedError(clusterName, `only ${started.length} of ${ids.length} members started (${why.join('; ')})`);
  }
  const first = started[0] as ServerId;
  try {
    await triggerElection(first, perServer);
    const leader = await awaitLeader(started, options?.electionTimeoutMs ?? timeoutOf(options), perServer);
    return { started, notStarted, leader };
  } catch (err) {
    await cleanUp();
    throw new ClusterNotFormedError(clusterName, `no leader was elected: ${String((err as Error).message ?? err)}`);
  }
}

/** Resolves with the first leader any of the members reports (each answers once it knows one). */
async function awaitLeader(servers: readonly ServerId[], timeoutMs: number, options: CallerOption): Promise<ServerId> {
  const caller = callerOf(options);
  const asks = servers.map((s) => caller.call<ServerId>({ name: s.name, node: s.node }, { op: 'awaitLeader' } satisfies ServerCall, { timeoutMs }));
  try {
    return await Promise.any(asks);
  } catch {
    throw new TimeoutError(servers[0] as ServerId, timeoutMs, undefined);
  }
}

