// A RaSystem: the log storage of startLogSystem, a supervisor of servers, and a system
// actor under a well-known name that starts, restarts, stops and deletes servers on
// request from any node (nothing is spawned over the wire: the request is data).

import {
  ActorExitedError,
  type ActorContext,
  type ActorSpec,
  type Behaviour,
  type CallOptions,
  type CallResult,
  type ChildSpec,
  type RestartPolicy,
  type Dest,
  type From,
  type Pid,
  type Ref,
  type SpawnOptions,
  deleteChild,
  startChild,
  startSupervisor,
  supervisor,
  type SupervisorSpec,
  supervisorChild,
  subscribeFailureDetector,
  terminateChild,
} from '@rafter/actors';
import type { ServerId } from '../internal/core/log.js';
import { DEFAULT_TIMEOUTS } from '../internal/core/core.js';
import type { CoreTimeouts } from '../internal/core/types.js';
import { joinPath, type LogFs, NodeFs } from '../internal/log/fs.js';
import { deleteServerLog, startLogSystem, type StartLogSystemOptions } from '../internal/log/log-actors.js';
import { AlreadyStartedError, InvalidArgumentError, MachineNotFoundError, RafterError, type RafterErrorCode, UnknownServerError } from '../errors.js';
import { serverBehaviour, type ServerArgs } from '../server/server-actor.js';
import { checkMachineRef, resolveMachine } from '../server/machine.js';
import type { ServerCast } from '../server/protocol.js';
import type { ServerDeleted } from '../server/server-ops.js';
import { defaultCallerOf, useCaller } from './caller.js';
import { ConfigStore, type LeaderWait, type ServerConfig, SystemRuntime } from './runtime.js';
import { withOwnStrings } from './config-strings.js';
import { SystemMetrics } from '../metrics/system-metrics.js';
import { watchSystemMetrics } from '../metrics/metrics-actor.js';

/** What starts actors: a node (scheduler 0) or an actor's context (its scheduler). */
export interface Starter {
  start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid>;
  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R>;
  send(dest: Dest, msg: unknown): void;
  exit(pid: Pid, reason: unknown): void;
}

export interface SystemConfig {
  /** Unique per node; the same name on every node of a cluster. Default 'default'. */
  readonly name?: string;
  /** The system's own data directory (log storage and server configurations). */
  readonly dataDir: string;
  /** The servers' slow tick. Default 1,000 ms. */
  readonly tickMs?: number;
  readonly timeouts?: Partial<CoreTimeouts>;
  /**
   * Added election delay per other election pending on this system, so that thousands of
   * followers losing their leader at once start their elections spread out. Default 0.5 ms.
   */
  readonly electionSpreadMsPerPending?: number;
  readonly snapshotChunkBytes?: number;
  readonly wal?: StartLogSystemOptions['wal'];
  readonly snapshotPolicy?: StartLogSystemOptions['snapshotPolicy'];
  /** The file system of the storage and configurations; default NodeFs (tests wrap it to inject faults). */
  readonly fs?: LogFs;
  /** Told how far the restart of the servers a previous run had has got (also logged at info level). */
  readonly onRecoveryProgress?: (progress: RecoveryProgress) => void;
}

/** How far a system's start has got with restarting its servers. */
export interface RecoveryProgress {
  readonly system: string;
  readonly started: number;
  readonly failed: number;
  readonly total: number;
  readonly elapsedMs: number;
}

/** Servers restarted at once when a system starts; progress is reported at most this often. */
export const RECOVERY_CONCURRENCY = 256;
export const RECOVERY_PROGRESS_MS = 1_000;

export interface RaftSystem {
  readonly name: string;
  readonly node: string;
  readonly dataDir: string;
  /** The system actor (registered as systemActorName(name)). */
  readonly pid: Pid;
  /** Servers that failed to restart when the system started, with why. */
  readonly restartFailures: ReadonlyMap<string, Error>;
  /** Stops every server, then the storage. */
  stop(): Promise<void>;
}

export const SYSTEM_TICK_MS_DEFAULT = 1_000;
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1 << 20;
/**
 * The servers' election delays. The core's defaults (Ra's 100-600 ms after a leader's
 * DOWN) suit a simulated network; a DOWN from the runtime is certain (the actor exited or
 * its connection closed), so servers elect within tens of milliseconds, spread enough
 * for one pre-vote to win. A suspicion from the failure detector waits longer.
 */
export const SERVER_TIMEOUTS_DEFAULT: Partial<CoreTimeouts> = {
  leaderDownDelayMsMin: 10,
  leaderDownDelayMsMax: 100,
  maybeDownDelayMsMin: 200,
  maybeDownDelayMsMax: 800,
  // Both followers see a DOWN at once and may split the vote; the retry comes soon.
  electionTimeoutMsMin: 150,
  electionTimeoutMsMax: 450,
};

/** Server ticks between two flushes of the applied indexes to the meta store. */
export const META_FLUSH_TICKS = 5;

/** Restarts of one server within the period before it is left stopped. */
export const SERVER_RESTARTS_MAX = 3;
export const SERVER_RESTARTS_PERIOD_MS = 10_000;

export function systemActorName(system: string): string {
  return `rafter_system_${system}`;
}

/** Systems running on this thread, by name. */
const systems = new Map<string, SystemRuntime>();

/** Requests the system actor answers; every answer is `{ ok: true, ... }` or an error as data. */
export type SystemRequest =
  | { readonly op: 'startServer'; readonly config: ServerConfig }
  | { readonly op: 'restartServer'; readonly name: string }
  | { readonly op: 'stopServer'; readonly name: string }
  | { readonly op: 'deleteServer'; readonly name: string }
  | { readonly op: 'serverConfig'; readonly name: string }
  /** Starts many servers in one request: their configurations are saved with one atomic write. */
  | { readonly op: 'startServers'; readonly configs: readonly ServerConfig[] }
  | { readonly op: 'triggerElections'; readonly names: readonly string[] }
  /** Answers once every named server knows a leader, or after `timeoutMs`: the leader each knows (null: none yet). */
  | { readonly op: 'awaitLeaders'; readonly names: readonly string[]; readonly timeoutMs: number };

/** A server of a batch that did not start, with why. */
export type StartFailure = readonly [name: string, code: RafterErrorCode, message: string];

export type SystemReply =
  | { readonly ok: true; readonly pid?: Pid; readonly config?: ServerConfig; readonly failed?: readonly StartFailure[]; readonly leaders?: readonly (ServerId | null)[] }
  | { readonly ok: false; readonly code: RafterErrorCode; readonly message: string };

/** Servers a startServers request may carry; a client splits bigger batches. */
export const START_SERVERS_BATCH_MAX = 250;

function failure(err: unknown): SystemReply {
  if (err instanceof RafterError) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: 'RAFTER_INVALID_ARGUMENT', message: String(err instanceof Error ? err.message : err) };
}

/** Starts a system's storage, its server supervisor and its system actor, then restarts the servers it had. */
export async function startSystem(starter: Starter, config: SystemConfig): Promise<RaftSystem> {
  const name = config.name ?? 'default';
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('system name', 'a non-empty string', name);
  if (typeof config.dataDir !== 'string' || config.dataDir.length === 0) throw new InvalidArgumentError('dataDir', 'a directory path', config.dataDir);
  if (systems.has(name)) throw new InvalidArgumentError('system name', 'a name not already started on this thread', name);
  const tickMs = config.tickMs ?? SYSTEM_TICK_MS_DEFAULT;
  if (!Number.isFinite(tickMs) || tickMs < 10) throw new InvalidArgumentError('tickMs', 'a number of milliseconds ≥ 10', tickMs);
  if (defaultCallerOf() === undefined) useCaller(starter);
  const fs = config.fs ?? new NodeFs();
  const metrics = new SystemMetrics(name);
  const storage = await startLogSystem(starter, {
    dir: joinPath(config.dataDir, 'log'),
    fs,
    counters: { wal: metrics.wal, segmentWriter: metrics.segmentWriter },
    ...(config.wal !== undefined ? { wal: config.wal } : {}),
    ...(config.snapshotPolicy !== undefined ? { snapshotPolicy: config.snapshotPolicy } : {}),
  });
  const home = storage.handle.home;
  if (home === undefined) throw new Error('log system has no home scheduler');
  const runtime = new SystemRuntime(name, home.node, storage.handle, new ConfigStore(fs, joinPath(config.dataDir, 'configs')), {
    tickMs,
    timeouts: { ...DEFAULT_TIMEOUTS, ...SERVER_TIMEOUTS_DEFAULT, ...config.timeouts },
    snapshotChunkBytes: config.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES_DEFAULT,
    ...(config.electionSpreadMsPerPending !== undefined ? { electionSpreadMsPerPending: config.electionSpreadMsPerPending } : {}),
  }, metrics);
  metrics.publish(home.node);
  await runtime.loadConfigs();
  const node = starter as Partial<{ connectionInfo(node: string): { queuedBytes: number } | undefined }>;
  if (typeof node.connectionInfo === 'function') runtime.queuedBytes = (to) => node.connectionInfo?.(to)?.queuedBytes;
  systems.set(name, runtime);
  try {
    runtime.serverSup = await startSupervisor(starter, { strategy: 'one_for_one', intensity: 10, periodMs: 10_000, children: serverShardSpecs(name) });
    const pid = await starter.start(systemBehaviour, runtime, { name: systemActorName(name) });
    // Remote keyMetrics, and the other threads told if this one dies.
    await watchSystemMetrics(starter, metrics.identity(), pid);
    const restartFailures = await restartAll(starter, runtime, config.onRecoveryProgress);
    return {
      name,
      node: home.node,
      dataDir: config.dataDir,
      pid,
      restartFailures,
      stop: async () => {
        systems.delete(name);
        // Log deletions call the storage actors through the system actor.
        await Promise.allSettled([...logDeletions(runtime)]);
        starter.exit(pid, 'shutdown');
        if (runtime.serverSup !== undefined) await stopAndWait(starter, runtime.serverSup);
        await stopAndWait(starter, storage.supervisor);
        await storage.system.close();
        metrics.close();
      },
    };
  } catch (err) {
    systems.delete(name);
    metrics.close();
    throw err;
  }
}

/**
 * Restarts every server of a previous run, many at a time (the supervisor still starts
 * them one by one, but no server waits for the previous one's reply to be asked for),
 * reporting progress now and then.
 */
async function restartAll(starter: Starter, runtime: SystemRuntime, onProgress: SystemConfig['onRecoveryProgress']): Promise<Map<string, Error>> {
  const failures = new Map<string, Error>();
  const configs = [...runtime.configs.values()];
  if (configs.length === 0) return failures;
  const begun = Date.now();
  let started = 0;
  let reportedAt = begun;
  const logger = (starter as Partial<{ logger: { info(obj: object, msg: string): void } }>).logger;
  const report = (): void => {
    const progress: RecoveryProgress = { system: runtime.name, started, failed: failures.size, total: configs.length, elapsedMs: Date.now() - begun };
    logger?.info({ ...progress }, 'restarting servers');
    onProgress?.(progress);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < configs.length) {
      const server = configs[next++] as ServerConfig;
      try {
        await startServerChild(starter, runtime, server, true);
        started++;
      } catch (err) {
        failures.set(server.name, err as Error);
      }
      if (Date.now() - reportedAt >= RECOVERY_PROGRESS_MS) {
        reportedAt = Date.now();
        report();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RECOVERY_CONCURRENCY, configs.length) }, worker));
  report();
  return failures;
}

async function stopAndWait(starter: Starter, pid: Pid): Promise<void> {
  const monitorable = starter as Partial<{ monitor(dest: Dest): Promise<unknown> }>;
  const down = typeof monitorable.monitor === 'function' ? monitorable.monitor(pid) : undefined;
  starter.exit(pid, 'shutdown');
  await down;
}

/** The system of that name on this thread (undefined if none). */
export function localSystem(name: string): SystemRuntime | undefined {
  return systems.get(name);
}

function childSpecOf(runtime: SystemRuntime, config: ServerConfig, restart: RestartPolicy = 'transient'): ChildSpec {
  return {
    id: config.name,
    start: { spec: serverBehaviour, args: { system: runtime, config } satisfies ServerArgs, name: config.name },
    restart,
    shutdown: 5_000,
  };
}

/**
 * The servers' supervisors: a system's servers are spread by name over this many, so
 * that none holds thousands of children (a supervisor finds a child by a scan).
 */
export const SERVER_SUPERVISOR_SHARDS = 32;

function serverShardSpecs(system: string): ChildSpec[] {
  return Array.from({ length: SERVER_SUPERVISOR_SHARDS }, (_, i) => ({
    id: `servers_${i}`,
    start: { spec: supervisor, args: { strategy: 'one_for_one', intensity: 10, periodMs: 10_000, children: [] } satisfies SupervisorSpec, name: serverShardName(system, i) },
    type: 'supervisor',
    shutdown: 'infinity',
  }));
}

function serverShardName(system: string, shard: number): string {
  return `rafter_servers_${system}_${shard}`;
}

/** The supervisor of a server's shard, by its registered name (it survives a restart of the shard). */
function serverShardOf(system: string, server: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < server.length; i++) hash = Math.imul(hash ^ server.charCodeAt(i), 0x01000193);
  return serverShardName(system, (hash >>> 0) % SERVER_SUPERVISOR_SHARDS);
}

async function startServerChild(caller: Starter | ActorContext, runtime: SystemRuntime, config: ServerConfig, fresh = false): Promise<Pid> {
  if (SystemRuntime.missingSimple(config)) {
    throw new MachineNotFoundError(`simple machine of server ${config.name}`, 'simple machines are not persisted; start the server again with its machine');
  }
  if (runtime.serverSup === undefined) throw new Error('the server supervisor is not running');
  const sup = serverShardOf(runtime.name, config.name);
  // A child that exited for good leaves its spec behind (none can when the supervisor is new, or the server never ran).
  if (!fresh) await deleteChild(caller, sup, config.name).catch(() => undefined);
  // Each server under its own supervisor, as in Ra: a member that keeps crashing (a
  // failing machine, a broken disk) exhausts its own restart intensity, not that of
  // every server of the system.
  const own = supervisorChild(config.name, { strategy: 'one_for_one', intensity: SERVER_RESTARTS_MAX, periodMs: SERVER_RESTARTS_PERIOD_MS, children: [childSpecOf(runtime, config)] }, 'temporary');
  const supPid = await startChild(caller, sup, own);
  return runtime.directory.get(config.name)?.pid ?? supPid;
}

function checkServerConfig(config: ServerConfig): void {
  if (typeof config !== 'object' || config === null) throw new InvalidArgumentError('server config', 'an object', config);
  if (typeof config.name !== 'string' || config.name.length === 0 || config.name.startsWith('rafter_')) {
    throw new InvalidArgumentError('server name', "a non-empty string not starting with 'rafter_'", config.name);
  }
  if (typeof config.uid !== 'string' || config.uid.length === 0) throw new InvalidArgumentError('server uid', 'a non-empty string', config.uid);
  if (typeof config.clusterName !== 'string' || config.clusterName.length === 0) throw new InvalidArgumentError('cluster name', 'a non-empty string', config.clusterName);
  checkMachineRef(config.machine);
  if (!Array.isArray(config.initialMembers)) throw new InvalidArgumentError('initial members', 'an array of members', config.initialMembers);
}

const systemBehaviour: Behaviour<SystemRuntime, SystemRuntime> = {
  async init(ctx, runtime) {
    // Node events for the servers: one subscription per system rather than per server.
    await subscribeFailureDetector(ctx, ctx.self).catch(() => undefined);
    ctx.sendAfter(runtime.tuning.tickMs, { type: '$tick' });
    return runtime;
  },

  async handle(msg: { type?: string; node?: string; wait?: LeaderWait }, runtime, ctx) {
    if (msg.type === '$serverDeleted') {
      await deleteDeletedServer(ctx, runtime, msg as ServerDeleted);
      return runtime;
    }
    if (msg.type === '$tick') {
      // One timer for all servers: only those with work for a tick get one (server/tick.ts).
      ctx.sendAfter(runtime.tuning.tickMs, { type: '$tick' });
      tickServers(ctx, runtime);
      if (runtime.ticks % META_FLUSH_TICKS !== 0) return runtime;
      // The servers' applied indexes reach the disk now and then, not only with a vote,
      // so a restart re-applies its log up to a recent point without waiting for a leader.
      await runtime.handle.system.meta.flush().catch((err: unknown) => ctx.log.warn({ system: runtime.name, reason: String(err) }, 'storing applied indexes failed'));
      return runtime;
    }
    if (msg.type === '$leadersTimeout' && msg.wait !== undefined) {
      msg.wait.done(true);
      return runtime;
    }
    if ((msg.type === 'node-maybe-down' || msg.type === 'node-up') && typeof msg.node === 'string') {
      const event = { type: '$node', node: msg.node, up: msg.type === 'node-up' } satisfies ServerCast;
      for (const entry of runtime.directory.values()) if (entry.pid !== undefined) ctx.send(entry.pid, event);
    }
    return runtime;
  },

  async handleCall(request: SystemRequest, from, runtime, ctx) {
    if (request?.op === 'awaitLeaders') return awaitLeaders(ctx, runtime, request, from);
    if (request?.op === 'deleteServer') return deleteServer(ctx, runtime, request.name, from);
    try {
      return { reply: await systemCall(ctx, runtime, request), state: runtime };
    } catch (err) {
      return { reply: failure(err), state: runtime };
    }
  },
};

async function systemCall(ctx: ActorContext, runtime: SystemRuntime, request: SystemRequest): Promise<SystemReply> {
  switch (request.op) {
    case 'startServer': {
      checkServerConfig(request.config);
      const config = withOwnStrings(request.config);
      const id: ServerId = { name: config.name, node: runtime.nodeName };
      const running = runtime.directory.get(config.name);
      if (running?.pid !== undefined || ctx.whereis(config.name) !== undefined) throw new AlreadyStartedError(id);
      const known = runtime.configs.get(config.name);
      if (known !== undefined && known.uid !== config.uid) throw new AlreadyStartedError(id);
      // Found now, the machine fails with its own error rather than as a child that would not start.
      await resolveMachine(config.machine);
      await runtime.configStore.save(config);
      runtime.configs.set(config.name, config);
      try {
        return { ok: true, pid: await startServerChild(ctx, runtime, config) };
      } catch (err) {
        // A server that never ran leaves no configuration for restartServer or the next node start.
        if (known === undefined) {
          await runtime.configStore.remove(config.name);
          runtime.configs.delete(config.name);
        }
        throw err;
      }
    }
    case 'restartServer': {
      const config = knownConfig(runtime, request.name);
      if (runtime.directory.get(config.name)?.pid !== undefined) throw new AlreadyStartedError({ name: config.name, node: runtime.nodeName });
      return { ok: true, pid: await startServerChild(ctx, runtime, config) };
    }
    case 'stopServer': {
      knownConfig(runtime, request.name);
      await stopServerChild(ctx, runtime, request.name);
      return { ok: true };
    }
    case 'serverConfig':
      return { ok: true, config: knownConfig(runtime, request.name) };
    case 'startServers':
      return { ok: true, failed: await startServers(ctx, runtime, request.configs) };
    case 'triggerElections': {
      if (!Array.isArray(request.names)) throw new InvalidArgumentError('server names', 'an array', request.names);
      const event = { type: '$event', event: { type: 'trigger_election' } } satisfies ServerCast;
      for (const name of request.names) {
        const pid = runtime.directory.get(name)?.pid;
        if (pid !== undefined) ctx.send(pid, event);
      }
      return { ok: true };
    }
    default:
      throw new InvalidArgumentError('system request', 'a known op', (request as { op?: unknown }).op);
  }
}

/** forceDeleteServer: replies once the server's log is gone, without holding the system's other requests meanwhile. */
async function deleteServer(ctx: ActorContext, runtime: SystemRuntime, name: string, from: From): Promise<CallResult<SystemRuntime>> {
  let deletion: Promise<void>;
  try {
    ({ deletion } = await forgetServer(ctx, runtime, knownConfig(runtime, name)));
  } catch (err) {
    return { reply: failure(err), state: runtime };
  }
  deletion.then(
    () => replyUnlessStopped(ctx, from, { ok: true }),
    (err: unknown) => replyUnlessStopped(ctx, from, failure(err)),
  );
  return { noreply: true, state: runtime };
}

/** A server whose cluster was deleted. */
async function deleteDeletedServer(ctx: ActorContext, runtime: SystemRuntime, msg: ServerDeleted): Promise<void> {
  const config = runtime.configs.get(msg.name);
  if (config === undefined || config.uid !== msg.uid) return;
  try {
    const { deletion } = await forgetServer(ctx, runtime, config);
    deletion.catch((err: unknown) => logDeletionFailure(ctx, runtime, config.name, err));
  } catch (err) {
    logDeletionFailure(ctx, runtime, config.name, err);
  }
}

/**
 * Deletes a server from the system in this turn: its configuration first (so that no
 * restart brings it back, even if a later step fails), the server stopped, its entry and
 * metrics. Returns the deletion of its log (wrapped: awaiting this does not wait for it),
 * which runs outside the system's turns: it waits for the WAL to roll over and for the
 * segment writer to flush what it had queued (other servers' entries too), seconds on a
 * loaded machine, and every request to the system would wait behind it. A server opened
 * meanwhile with the same uid waits for it (LogSystem.deleteServer).
 */
async function forgetServer(ctx: ActorContext, runtime: SystemRuntime, config: ServerConfig): Promise<{ deletion: Promise<void> }> {
  await runtime.configStore.remove(config.name);
  runtime.configs.delete(config.name);
  await stopServerChild(ctx, runtime, config.name);
  runtime.directory.delete(config.name);
  runtime.metrics.deleteServer(config.name);
  const deletion = deleteServerLog(ctx, runtime.handle, config.uid);
  const pending = logDeletions(runtime);
  pending.add(deletion);
  const forget = (): void => void pending.delete(deletion);
  deletion.then(forget, forget);
  return { deletion };
}

/** Log deletions under way, by system: its stop waits for them. */
const pendingLogDeletions = new WeakMap<SystemRuntime, Set<Promise<void>>>();

function logDeletions(runtime: SystemRuntime): Set<Promise<void>> {
  let pending = pendingLogDeletions.get(runtime);
  if (pending === undefined) pendingLogDeletions.set(runtime, (pending = new Set()));
  return pending;
}

function logDeletionFailure(ctx: ActorContext, runtime: SystemRuntime, server: string, err: unknown): void {
  if (err instanceof ActorExitedError) return;
  ctx.log.error({ system: runtime.name, server, reason: String(err) }, 'deleting the data of a deleted member failed');
}

/** A reply from outside the system's turns: the system may have stopped meanwhile (its caller then sees the DOWN). */
function replyUnlessStopped(ctx: ActorContext, from: From, reply: SystemReply): void {
  try {
    ctx.reply(from, reply);
  } catch (err) {
    if (!(err instanceof ActorExitedError)) throw err;
  }
}

function tickServers(ctx: ActorContext, runtime: SystemRuntime): void {
  runtime.ticks++;
  const tick = { type: '$tick' } satisfies ServerCast;
  for (const ticker of runtime.wantingTick) {
    if (!ticker.wantsTick()) {
      runtime.wantingTick.delete(ticker);
      continue;
    }
    ctx.send(ticker.pid, tick);
    runtime.ticksDelivered++;
  }
}

/**
 * Starts a batch of servers: each is checked as startServer checks it, the new
 * configurations are saved with one atomic write, and the servers start without one
 * round trip each through this actor. Returns the servers that did not start.
 */
async function startServers(ctx: ActorContext, runtime: SystemRuntime, configs: readonly ServerConfig[]): Promise<StartFailure[]> {
  if (!Array.isArray(configs) || configs.length > START_SERVERS_BATCH_MAX) throw new InvalidArgumentError('server configs', `an array of at most ${START_SERVERS_BATCH_MAX}`, configs);
  const failed: StartFailure[] = [];
  const fail = (name: unknown, err: unknown): void => {
    const reply = failure(err) as { code: RafterErrorCode; message: string };
    failed.push([String(name), reply.code, reply.message]);
  };
  const accepted: ServerConfig[] = [];
  const names = new Set<string>();
  const machines = new Map<unknown, Promise<unknown>>();
  for (const given of configs) {
    try {
      checkServerConfig(given);
      const config = withOwnStrings(given);
      const id: ServerId = { name: config.name, node: runtime.nodeName };
      if (names.has(config.name) || runtime.directory.get(config.name)?.pid !== undefined || ctx.whereis(config.name) !== undefined) throw new AlreadyStartedError(id);
      const known = runtime.configs.get(config.name);
      if (known !== undefined && known.uid !== config.uid) throw new AlreadyStartedError(id);
      let resolving = machines.get(config.machine);
      if (resolving === undefined) machines.set(config.machine, (resolving = resolveMachine(config.machine)));
      await resolving;
      names.add(config.name);
      accepted.push(config);
    } catch (err) {
      fail(given?.name, err);
    }
  }
  const fresh = accepted.filter((c) => !runtime.configs.has(c.name));
  await runtime.configStore.saveBatch(fresh);
  // Their logs' directories in one go, so that each server's start finds its log open.
  await runtime.handle.system.openServers(accepted.map((c) => c.uid));
  for (const config of fresh) runtime.configs.set(config.name, config);
  const started = await Promise.allSettled(accepted.map((config) => startServerChild(ctx, runtime, config, fresh.includes(config))));
  for (let i = 0; i < accepted.length; i++) {
    const result = started[i] as PromiseSettledResult<Pid>;
    if (result.status === 'fulfilled') continue;
    const config = accepted[i] as ServerConfig;
    fail(config.name, result.reason);
    if (fresh.includes(config)) {
      await runtime.configStore.remove(config.name);
      runtime.configs.delete(config.name);
    }
  }
  return failed;
}

/** The leader a running server knows (it leads, or follows one). */
function leaderOf(runtime: SystemRuntime, name: string): ServerId | undefined {
  const entry = runtime.directory.get(name);
  if (entry?.pid === undefined || (entry.role !== 'leader' && entry.role !== 'follower')) return undefined;
  return entry.leader;
}

/**
 * Replies once every named server knows a leader (its directory entry says so) at the
 * same moment, or at the timeout, with the leader each knows then. A server that learned
 * a leader and lost it again (another election) is waited for again.
 */
function awaitLeaders(ctx: ActorContext, runtime: SystemRuntime, request: Extract<SystemRequest, { op: 'awaitLeaders' }>, from: From): { noreply: true; state: SystemRuntime } | { reply: SystemReply; state: SystemRuntime } {
  if (!Array.isArray(request.names) || !(request.timeoutMs > 0)) return { reply: failure(new InvalidArgumentError('awaitLeaders', 'names and a timeout', request)), state: runtime };
  const answer = (): SystemReply => ({ ok: true, leaders: request.names.map((name) => leaderOf(runtime, name) ?? null) });
  const leaderless = (): string[] => request.names.filter((name) => leaderOf(runtime, name) === undefined);
  const first = leaderless();
  if (first.length === 0) return { reply: answer(), state: runtime };
  let answered = false;
  let timer: Ref | undefined;
  const wait: LeaderWait = {
    missing: new Set(),
    done: (timedOut = false) => {
      if (answered) return;
      const again = timedOut ? [] : leaderless();
      if (again.length > 0) return watch(again);
      answered = true;
      if (timer !== undefined) ctx.cancelTimer(timer);
      for (const name of wait.missing) {
        const waits = runtime.leaderWaits.get(name);
        waits?.delete(wait);
        if (waits?.size === 0) runtime.leaderWaits.delete(name);
      }
      ctx.reply(from, answer());
    },
  };
  const watch = (names: readonly string[]): void => {
    for (const name of names) {
      wait.missing.add(name);
      let waits = runtime.leaderWaits.get(name);
      if (waits === undefined) runtime.leaderWaits.set(name, (waits = new Set()));
      waits.add(wait);
    }
  };
  watch(first);
  timer = ctx.sendAfter(request.timeoutMs, { type: '$leadersTimeout', wait });
  return { noreply: true, state: runtime };
}

function knownConfig(runtime: SystemRuntime, name: unknown): ServerConfig {
  if (typeof name !== 'string') throw new InvalidArgumentError('server name', 'a string', name);
  const config = runtime.configs.get(name);
  if (config === undefined) throw new UnknownServerError({ name, node: runtime.nodeName }, runtime.name);
  return config;
}

async function stopServerChild(ctx: ActorContext, runtime: SystemRuntime, name: string): Promise<void> {
  if (runtime.serverSup === undefined) return;
  const sup = serverShardOf(runtime.name, name);
  await terminateChild(ctx, sup, name).catch(() => undefined);
  await deleteChild(ctx, sup, name).catch(() => undefined);
  const entry = runtime.directory.get(name);
  if (entry !== undefined) {
    entry.pid = undefined;
    entry.role = 'stopped';
  }
}

/** A child spec for an application's own supervisor: the member restarts and recovers from its log. */
export function serverChildSpec(system: RaftSystem | string, config: ServerConfig): ChildSpec {
  const runtime = systems.get(typeof system === 'string' ? system : system.name);
  if (runtime === undefined) throw new InvalidArgumentError('system', 'a system started on this thread', typeof system === 'string' ? system : system.name);
  checkServerConfig(config);
  runtime.configs.set(config.name, config);
  return childSpecOf(runtime, config, 'permanent');
}
