// A node: one per OS process. It hosts scheduler 0 on the main thread and
// schedulers 1..N-1 on worker threads, the node-wide name table, the dirty pool,
// and (when distributed) the connections to other nodes.

import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { TlsOptions } from 'node:tls';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { NodeDistribution, type ConnectionInfo } from './distribution/distribution.js';
import { startFailureDetector, type FailureDetectorOptions } from './distribution/failure-detector.js';
import { FRAME_BYTES_MAX_DEFAULT, NET_TICK_MS_DEFAULT, QUEUED_BYTES_MAX_DEFAULT } from './distribution/limits.js';
import { Piscina } from 'piscina';
import { systemClock, type Clock } from './clock.js';
import { DirtyJobError, encodeError, InvalidArgumentError, NodeNotRunningError, SpawnError } from './errors.js';
import { WORKER_STOP_MS_MAX } from './limits.js';
import { stderrLogger, type Logger } from './logger.js';
import { isPid, newCreation, type Dest, type Pid } from './pid.js';
import { isControl, PortMesh, type Control } from './internal/mesh.js';
import { bounce, loadActorModule, refuseUncloneable } from './internal/routing.js';
import { Scheduler, type SchedulerHost } from './internal/scheduler.js';
import { isModuleRef } from './internal/scheduler-helpers.js';
import { isByName, NOCONNECTION, NOPROC, SCHEDULER_PID_ID, type Signal } from './internal/signals.js';
import type { NameDecision, WorkerData } from './internal/worker-host.js';
import { NameTable } from './internal/name-table.js';
import { isolateActorCallbacks, withoutOwner } from './internal/callback-owners.js';
import type { ActorContext, ActorInfo, ActorSpec, Behaviour, CallOptions, DirtyOptions, DownMessage, ModuleRef, ProcessFn, SchedulerExitedReason, SpawnOptions } from './types.js';

export interface NodeOptions {
  /** Short name; the full node name is `name@host:port` once distributed, `name@local` otherwise. */
  name?: string;
  /** Total schedulers: 1 (default) runs everything on the main thread; N adds N-1 worker threads. */
  schedulers?: number;
  /** Threads of the dirty pool for blocking CPU work; default: cores - 1, at least 1. */
  dirtyThreads?: number;
  /** Time source of the main scheduler's timers (worker schedulers use the system clock). */
  clock?: Clock;
  logger?: Logger;
  /** Distribution: set `port` (0 picks a free one) to listen; the node is then `name@host:port`. */
  port?: number;
  /** Interface to listen on and to put in the node name; default 127.0.0.1. */
  host?: string;
  /** Shared secret of the nodes that may connect; never sent on the wire. */
  cookie?: string;
  /** A connection silent this long is closed (Erlang's net_ticktime); default 15,000 ms. */
  netTickMs?: number;
  /** Largest frame accepted or sent; default 64 MiB. */
  maxFrameBytes?: number;
  /** Bytes that may wait for a slow peer before its connection is closed; default 64 MiB. */
  maxQueuedBytes?: number;
  /** TLS options (key, cert, ca...) to run distribution over TLS. */
  tls?: TlsOptions;
  /** Settings of the phi-accrual failure detector of a distributed node, or false for none. */
  failureDetector?: FailureDetectorOptions | false;
}

/**
 * The connections to other nodes, plugged in by the distribution layer. Signals for
 * actors of other nodes go through `forward`; without it they fail as `noconnection`.
 */
export interface Distribution {
  forward(signal: Signal): void;
  monitorNode(pid: Pid, node: string): void;
  demonitorNode(pid: Pid, node: string): void;
  /** A thread of this node ended: fire the monitors and links peers hold on its actors. */
  schedulerLost(index: number, creation: number, reason: SchedulerExitedReason): void;
  stop(): Promise<void>;
}

/** Ref seeds are random below this (randomInt's limit), so refs of different starts differ. */
const REF_SEED_MAX = 2 ** 48 - 1;

export class Node {
  readonly name: string;
  readonly schedulerCount: number;
  /** This incarnation's creation, in every pid it hands out (see Pid). */
  readonly creation: number;
  /** The creation of each scheduler's pids: the node's, or a replacement thread's own. */
  private readonly creations: number[];
  readonly logger: Logger;
  /** Scheduler 0, on the main thread. */
  readonly scheduler: Scheduler;
  private readonly names = new NameTable();
  /** Per worker: the port scheduler 0 answers its registrations on, and the flag it raises after each. */
  private readonly decisions = new Map<number, { port: MessagePort; flag: Int32Array }>();
  /** Worker scheduler i's thread at i - 1. */
  private readonly workers: Worker[] = [];
  private mesh: PortMesh | undefined;
  private pool: Piscina | undefined;
  private readonly dirtyThreads: number;
  private distribution: Distribution | undefined;
  private dist: NodeDistribution | undefined;
  private readonly workerEvents = new Map<number, { ready?: () => void; stopped?: () => void }>();
  private running = true;

  private constructor(name: string, creation: number, options: NodeOptions) {
    this.name = name;
    this.creation = creation;
    this.schedulerCount = options.schedulers ?? 1;
    this.creations = new Array<number>(this.schedulerCount).fill(creation);
    this.logger = options.logger ?? stderrLogger('warn', { node: name });
    this.dirtyThreads = options.dirtyThreads ?? Math.max(1, availableParallelism() - 1);
    const host: SchedulerHost = {
      schedulerCount: this.schedulerCount,
      schedulerPid: (index) => this.schedulerPid(index),
      forward: (signal) => this.forward(signal),
      registerName: (n, pid) => this.registerName(n, pid),
      unregisterName: (n, pid) => this.unregisterName(n, pid),
      whereis: (n) => this.names.get(n),
      loadModule: (ref) => loadActorModule(ref),
      runDirty: (job, input, transfer) => this.runDirty(job, input, transfer),
      monitorNode: (pid, node) => this.monitorNode(pid, node),
      demonitorNode: (pid, node) => this.distribution?.demonitorNode(pid, node),
    };
    this.scheduler = new Scheduler(name, 0, host, options.clock ?? systemClock, this.logger, creation, randomInt(1, REF_SEED_MAX));
    isolateActorCallbacks((err, kind) => {
      // Not an actor's: the program's own handlers take it, or it fails as it would without ours.
      if (process.listenerCount(kind) > 1) return;
      throw err;
    });
  }

  /** Starts a node and its worker schedulers. */
  static async start(options: NodeOptions = {}): Promise<Node> {
    const shortName = options.name ?? 'rafter';
    if (!/^[A-Za-z0-9_.-]+$/.test(shortName)) throw new InvalidArgumentError(`node name '${shortName}' may hold only letters, digits, '_', '.' and '-'`);
    const schedulers = options.schedulers ?? 1;
    if (!Number.isInteger(schedulers) || schedulers < 1 || schedulers > 256) {
      throw new InvalidArgumentError(`schedulers must be an integer from 1 to 256, got ${schedulers}`);
    }
    const creation = newCreation();
    let dist: NodeDistribution | undefined;
    if (options.port !== undefined) {
      const logger = options.logger ?? stderrLogger('warn', { node: shortName });
      dist = await NodeDistribution.listen({
        shortName,
        host: options.host ?? '127.0.0.1',
        port: options.port,
        cookie: options.cookie ?? '',
        creation,
        netTickMs: options.netTickMs ?? NET_TICK_MS_DEFAULT,
        maxFrameBytes: options.maxFrameBytes ?? FRAME_BYTES_MAX_DEFAULT,
        maxQueuedBytes: options.maxQueuedBytes ?? QUEUED_BYTES_MAX_DEFAULT,
        tls: options.tls,
        logger,
      });
    }
    const node = new Node(dist?.name ?? `${shortName}@local`, creation, options);
    if (dist !== undefined) {
      dist.attach({
        deliverFromNetwork: (signal) => node.deliverFromNetwork(signal),
        deliverMessage: (scheduler, id, creation, msg) => node.deliverMessage(scheduler, id, creation, msg),
        routeLocal: (signal) => node.forward(signal),
        whereis: (name) => node.whereis(name),
        afterDelivery: () => node.scheduler.drainNow(),
      });
      node.attachDistribution(dist);
      node.dist = dist;
      if (options.failureDetector !== false) {
        await startFailureDetector(node, dist, options.failureDetector ?? {}, (pid, msg) => node.scheduler.send(pid, msg), options.clock ?? systemClock);
      }
    }
    await node.startWorkers();
    return node;
  }

  private async startWorkers(): Promise<void> {
    const count = this.schedulerCount;
    if (count === 1) return;
    const ports: (MessagePort | undefined)[][] = Array.from({ length: count }, () => new Array<MessagePort | undefined>(count).fill(undefined));
    for (let i = 0; i < count; i++) {
      for (let j = i + 1; j < count; j++) {
        const channel = new MessageChannel();
        ports[i]![j] = channel.port1;
        ports[j]![i] = channel.port2;
      }
    }
    this.mesh = new PortMesh(
      ports[0]!,
      (from, items) => this.receiveFromWorker(from, items),
      (target, item, err) => {
        const refused = refuseUncloneable(target, item, err);
        this.logger.error({ scheduler: target }, refused.log);
        if (refused.reply !== undefined) this.scheduler.route(refused.reply);
      },
    );
    const ready: Promise<void>[] = [];
    for (let index = 1; index < count; index++) {
      ready.push(
        new Promise((resolve, reject) =>
          this.workerEvents.set(index, {
            ready: resolve,
            stopped: () => reject(new SpawnError(`worker scheduler ${index}`, 'the thread exited while starting')),
          }),
        ),
      );
      this.spawnWorker(index, ports[index]!);
    }
    await Promise.all(ready);
  }

  /** Starts the thread of worker scheduler `index` with its ports to the other schedulers. */
  private spawnWorker(index: number, own: (MessagePort | undefined)[]): void {
    const decisionChannel = new MessageChannel();
    const decisionFlag = new SharedArrayBuffer(4);
    this.decisions.get(index)?.port.close();
    this.decisions.set(index, { port: decisionChannel.port1, flag: new Int32Array(decisionFlag) });
    const data: WorkerData = {
      nodeName: this.name,
      index,
      schedulerCount: this.schedulerCount,
      creations: this.creations,
      refSeed: randomInt(1, REF_SEED_MAX),
      ports: own,
      names: this.names.entries(),
      decisions: decisionChannel.port2,
      decisionFlag,
    };
    const worker = new Worker(new URL('./internal/worker-entry.mjs', import.meta.url), {
      workerData: data,
      transferList: [...own.filter((p): p is MessagePort => p !== undefined), decisionChannel.port2],
    });
    let failure = 'the thread exited';
    worker.on('error', (err) => {
      failure = `uncaught ${err.name}: ${err.message}`;
      this.logger.error({ scheduler: index, err }, 'worker scheduler failed');
    });
    worker.on('exit', (code) => {
      const events = this.workerEvents.get(index);
      if (this.running && this.workers[index - 1] === worker && events?.stopped === undefined) {
        this.logger.error({ scheduler: index, code }, 'worker scheduler exited unexpectedly; its actors exit and a new thread takes its place');
        this.replaceWorker(index, `${failure} (exit code ${code})`);
        return;
      }
      events?.stopped?.();
    });
    this.workers[index - 1] = worker;
  }

  /**
   * A worker thread ended while the node runs: its actors are gone. Every scheduler and
   * connected node fires their links, monitors and pending calls with a reason saying so,
   * their names are freed, and a new thread (under a new creation, so no old pid reaches
   * it) takes the index, where supervisors can restart children.
   */
  private replaceWorker(index: number, cause: string): void {
    const reason: SchedulerExitedReason = { schedulerExited: index, cause };
    const oldCreation = this.creations[index]!;
    this.creations[index] = newCreation(oldCreation);
    const own = new Array<MessagePort | undefined>(this.schedulerCount).fill(undefined);
    for (let j = 0; j < this.schedulerCount; j++) {
      if (j === index) continue;
      const channel = new MessageChannel();
      own[j] = channel.port1;
      const lost: Control = { c: 'schedulerLost', index, oldCreation, creation: this.creations[index]!, reason, port: j === 0 ? undefined : channel.port2 };
      if (j === 0) this.mesh!.replace(index, channel.port2);
      else this.mesh!.postWithTransfer(j, lost, [channel.port2]);
    }
    this.workerEvents.set(index, {});
    this.spawnWorker(index, own);
    for (const [name, pid] of this.names.entries()) {
      if (pid.scheduler === index && pid.creation === oldCreation) this.unregisterName(name, pid);
    }
    this.scheduler.schedulerLost(index, oldCreation, reason);
    this.distribution?.schedulerLost(index, oldCreation, reason);
  }

  private receiveFromWorker(from: number, items: unknown[]): void {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item === 'number') {
        this.scheduler.deliverTo(item, items[++i]);
        continue;
      }
      if (!isControl(item)) {
        const signal = item as Signal;
        if (!isByName(signal) && signal.to.node === this.name && signal.to.scheduler === 0) this.scheduler.handleSignal(signal);
        else this.forward(signal);
        continue;
      }
      this.control(from, item);
    }
  }

  private control(from: number, item: Control): void {
    switch (item.c) {
      case 'ready': {
        const events = this.workerEvents.get(from);
        this.workerEvents.delete(from);
        return events?.ready?.();
      }
      case 'stopped':
        return this.workerEvents.get(from)?.stopped?.();
      case 'register': {
        let decision: NameDecision = { id: item.id };
        try {
          this.registerName(item.name, item.pid);
        } catch (err) {
          decision = { id: item.id, error: encodeError(err) };
        }
        const answer = this.decisions.get(from)!;
        answer.port.postMessage(decision);
        Atomics.store(answer.flag, 0, 1);
        Atomics.notify(answer.flag, 0);
        return;
      }
      case 'unregister':
        return this.unregisterName(item.name, item.pid);
      case 'dirty':
        this.runDirty(item.job, item.input, item.transfer).then(
          (value) => this.scheduler.route({ k: 'reply', to: item.replyTo, ref: item.ref, ok: true, value }),
          (err: unknown) => this.scheduler.route({ k: 'reply', to: item.replyTo, ref: item.ref, ok: false, value: encodeError(err) }),
        );
        return;
      case 'monitorNode':
        if (item.on) this.monitorNode(item.pid, item.node);
        else this.distribution?.demonitorNode(item.pid, item.node);
        return;
      case 'log':
        return this.logger[item.level](item.obj, item.msg);
      default:
        return;
    }
  }

  private broadcast(item: Control): void {
    for (let index = 1; index < this.schedulerCount; index++) this.mesh!.post(index, item);
  }

  /** Routes a signal leaving the main thread: to a worker scheduler or to another node. */
  forward(signal: Signal): void {
    if (isByName(signal) || signal.to.node !== this.name) {
      if (isByName(signal) && signal.node === this.name) return this.scheduler.handleSignal(signal);
      if (this.distribution !== undefined) return this.distribution.forward(signal);
      if (signal.k === 'named') {
        this.logger.warn({ name: signal.name, node: signal.node }, 'message to a name on an unconnected node dropped');
        return;
      }
      return this.reroute(bounce(signal, NOCONNECTION));
    }
    const target = signal.to.scheduler;
    // A pid of an earlier incarnation (or of a thread since replaced) names a dead process.
    if (signal.to.creation !== this.creations[target]) return this.reroute(bounce(signal, NOPROC));
    if (target === 0) return this.scheduler.handleSignal(signal);
    if (this.mesh !== undefined && target > 0) {
      if (signal.k === 'msg') return this.mesh.postMessage(target, signal.to.id, signal.msg);
      return this.mesh.post(target, signal);
    }
    this.reroute(bounce(signal, NOPROC));
  }

  private schedulerPid(index: number): Pid {
    return { node: this.name, scheduler: index, id: SCHEDULER_PID_ID, creation: this.creations[index] ?? 0 };
  }

  private reroute(signal: Signal | undefined): void {
    if (signal !== undefined) this.scheduler.route(signal);
  }

  /** Called by the distribution layer for signals that arrive from other nodes. */
  deliverFromNetwork(signal: Signal): void {
    if (isByName(signal)) return this.scheduler.handleSignal(signal);
    if (signal.to.node !== this.name) {
      this.logger.warn({ to: signal.to.node }, 'signal for another node arrived here and was dropped');
      return;
    }
    this.forward(signal);
  }

  /** A message from the network for an actor of this node (the fast path of deliverFromNetwork). */
  deliverMessage(scheduler: number, id: number, creation: number, msg: unknown): void {
    // An earlier incarnation's (or a replaced thread's) actor is dead: the message is dropped.
    if (creation !== this.creations[scheduler]) return;
    if (scheduler === 0) return this.scheduler.deliverTo(id, msg);
    this.mesh?.postMessage(scheduler, id, msg);
  }

  /** Connects to another node (`name@host:port`) now; resolves false if it cannot be reached. */
  connect(node: string): Promise<boolean> {
    this.checkRunning();
    if (this.dist === undefined) return Promise.reject(new InvalidArgumentError('this node is not distributed: start it with a port'));
    return this.dist.connect(node);
  }

  /**
   * Closes the connection to `node`, as Erlang's `disconnect_node`: monitors and links
   * across it fire 'noconnection'. A node connected by `connect` is no longer dialled
   * again when it is lost. False when there was no connection to close.
   */
  disconnect(node: string): boolean {
    this.checkRunning();
    return this.dist?.disconnect(node) ?? false;
  }

  /** The nodes this node has a live connection with. */
  nodes(): string[] {
    return this.dist?.nodes() ?? [];
  }

  /** The live connection to `node`, or undefined; `queuedBytes` lets a producer slow down before the peer is dropped as overloaded. */
  connectionInfo(node: string): ConnectionInfo | undefined {
    return this.dist?.connectionInfo(node);
  }

  /**
   * A fault hook for test harnesses: cuts this node off from `node` as a network
   * partition would (the connection closes, DOWN/EXIT 'noconnection' and nodedown fire,
   * and `node` is neither dialled nor accepted) until `unblockNode(node)`. One-sided:
   * block on both nodes for a clean partition.
   */
  blockNode(node: string): void {
    this.checkRunning();
    if (this.dist === undefined) throw new InvalidArgumentError('this node is not distributed: start it with a port');
    this.dist.block(node);
  }

  /** Lifts `blockNode(node)`. */
  unblockNode(node: string): void {
    this.dist?.unblock(node);
  }

  /** The nodes cut off by `blockNode`. */
  blockedNodes(): string[] {
    return this.dist?.blockedNodes() ?? [];
  }

  /** Plugs in the connections to other nodes (done by the distribution layer). */
  attachDistribution(distribution: Distribution): void {
    this.distribution = distribution;
  }

  private monitorNode(pid: Pid, node: string): void {
    if (this.distribution !== undefined) return this.distribution.monitorNode(pid, node);
    this.scheduler.route({ k: 'msg', to: pid, msg: { type: 'nodedown', node, reason: NOCONNECTION } });
  }

  // ---- names ----

  /** The one place a registration is decided, for every scheduler; throws why a name cannot be had. */
  private registerName(name: string, pid: Pid): void {
    const own = pid.scheduler === 0 ? this.scheduler.actorOf(pid) : undefined;
    this.names.add(name, pid, pid.scheduler === 0 ? own !== undefined : undefined);
    // Registered from a worker for an actor of this thread: it frees the name when it exits.
    if (own !== undefined) own.name = name;
    if (this.mesh !== undefined) this.broadcast({ c: 'name', name, pid });
  }

  private unregisterName(name: string, pid: Pid): void {
    if (!this.names.remove(name, pid)) return;
    const own = pid.scheduler === 0 ? this.scheduler.actorOf(pid) : undefined;
    if (own?.name === name) own.name = undefined;
    if (this.mesh !== undefined) this.broadcast({ c: 'name', name, pid: null });
  }

  // ---- the public API for code outside actors ----

  private checkRunning(): void {
    if (!this.running) throw new NodeNotRunningError(this.name);
  }

  /** Spawns an actor on the main scheduler and returns its pid at once. */
  spawn<A>(spec: Behaviour<any, A> | ProcessFn<A>, args?: A, options?: SpawnOptions): Pid {
    this.checkRunning();
    return this.scheduler.spawn(spec, args, options);
  }

  /** Starts an actor on any scheduler (from `{module, export}` off the main thread); resolves after its init. */
  start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid> {
    this.checkRunning();
    return this.scheduler.start(spec, args, options);
  }

  send(dest: Dest, msg: unknown): void {
    this.checkRunning();
    this.scheduler.send(dest, msg);
  }

  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R> {
    this.checkRunning();
    return this.scheduler.call(dest, request, options?.timeoutMs) as Promise<R>;
  }

  /** Sends an exit signal to `pid` as Erlang's exit/2 does ('kill' cannot be trapped). */
  exit(pid: Pid, reason: unknown): void {
    this.checkRunning();
    if (!isPid(pid)) throw new InvalidArgumentError('exit() needs a pid');
    this.scheduler.exitSignal(this.scheduler.pid, pid, reason);
  }

  /** Resolves with the DOWN message once `dest` exits (at once with 'noproc' if it is not alive). */
  monitor(dest: Dest): Promise<DownMessage> {
    this.checkRunning();
    return new Promise((resolve, reject) => {
      const helper = this.scheduler.spawn(async (ctx: ActorContext) => {
        resolve((await ctx.receive<DownMessage>((m) => m?.type === 'DOWN'))!);
      }, undefined);
      // Monitor before returning, so an exit caused right after this call is seen.
      try {
        this.scheduler.monitor(this.scheduler.actors.get(helper.id)!, dest);
      } catch (err) {
        this.scheduler.exitSignal(helper, helper, 'kill');
        reject(err);
      }
    });
  }

  register(name: string, pid: Pid): void {
    this.checkRunning();
    this.scheduler.register(name, pid);
  }

  unregister(name: string): void {
    this.checkRunning();
    this.scheduler.unregister(name);
  }

  whereis(name: string): Pid | undefined {
    return this.names.get(name);
  }

  /** The state of an actor on any scheduler of this node (queue length, links, monitors), or undefined if it is gone. */
  info(pid: Pid): Promise<ActorInfo | undefined> {
    this.checkRunning();
    return this.scheduler.info(pid);
  }

  /** Runs `job` (a function exported by a module) on the dirty pool with `input`. */
  dirty<R = unknown>(job: ModuleRef, input: unknown, options?: DirtyOptions): Promise<R> {
    this.checkRunning();
    return this.scheduler.dirty(job, input, options) as Promise<R>;
  }

  private runDirty(job: ModuleRef, input: unknown, transfer: readonly ArrayBuffer[]): Promise<unknown> {
    if (!isModuleRef(job)) return Promise.reject(new InvalidArgumentError('a dirty job is {module, export}'));
    if (!this.running) return Promise.reject(new NodeNotRunningError(this.name));
    // The pool's threads, listeners and timers are the runtime's, not the actor's whose job started them.
    return withoutOwner(() => this.runOnPool(job, input, transfer));
  }

  private runOnPool(job: ModuleRef, input: unknown, transfer: readonly ArrayBuffer[]): Promise<unknown> {
    if (this.pool === undefined) {
      this.pool = new Piscina({
        filename: new URL('./internal/dirty-entry.mjs', import.meta.url).href,
        maxThreads: this.dirtyThreads,
        minThreads: 0,
        idleTimeout: 1_000,
      });
    }
    const run = transfer.length === 0 ? this.pool.run({ job, input }) : this.pool.run({ job, input }, { transferList: [...transfer] });
    return run.catch((err: unknown) => {
      throw new DirtyJobError(job.export, err instanceof Error ? err.message : String(err));
    });
  }

  /**
   * Stops the node: every actor gets an exit signal 'shutdown' (supervisors stop
   * their children in order), then what is left after `timeoutMs` is killed.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    const timeoutMs = options.timeoutMs ?? WORKER_STOP_MS_MAX;
    const stopped = this.workers.map(
      (_, i) => new Promise<void>((resolve) => this.workerEvents.set(i + 1, { stopped: resolve })),
    );
    for (let index = 1; index < this.schedulerCount; index++) this.mesh!.post(index, { c: 'stop', reason: 'shutdown', timeoutMs } satisfies Control);
    this.scheduler.shutdownAll('shutdown');
    await withTimeout(this.scheduler.whenEmpty(), timeoutMs);
    this.scheduler.killAll('killed');
    await withTimeout(Promise.all(stopped), timeoutMs + 1_000);
    this.running = false;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.mesh?.close();
    await this.pool?.destroy();
    await this.distribution?.stop();
  }
}

async function withTimeout(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}
