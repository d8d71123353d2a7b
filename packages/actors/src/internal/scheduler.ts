// A scheduler runs the actors of one thread: it owns their table and run queue,
// handles every signal addressed to them, and gives each actor a bounded turn so
// that one busy actor can neither starve the others nor block the event loop.

import type { Clock } from '../clock.js';
import { InvalidArgumentError, SpawnError, UnknownNameError, ActorExitedError, encodeError } from '../errors.js';
import {
  ACTOR_TURN_MESSAGES_MAX,
  CALL_TIMEOUT_MS_DEFAULT,
  SCHEDULER_SLICE_MESSAGES_MAX,
  SCHEDULER_SLICE_MS_MAX,
} from '../limits.js';
import type { Logger } from '../logger.js';
import { formatPid, isPid, isRemoteName, pidEquals, type Dest, type Pid, type Ref, type RemoteName } from '../pid.js';
import type { ActorInfo, ActorSpec, Behaviour, CallMessage, DirtyOptions, From, ModuleRef, ProcessFn, SpawnOptions } from '../types.js';
import { Actor, BUSY, EXITED, PROCESS, QUEUED, TERMINATING, TRAP_EXIT } from './actor.js';
import { NO_OWNER, nodeSetImmediate, registerOwners, retireOwners, running, setOwner, type CallbackOwners } from './callback-owners.js';
import { handleIncoming } from './incoming-signals.js';
import { spawnFromModule, startActor } from './starting.js';
import { PendingCalls } from './pending-calls.js';
import { checkSpec, describeActor, isCallMessage, isModuleRef, remoteNodePid } from './scheduler-helpers.js';
import { isByName, KILL, KILLED, NOPROC, NORMAL, SCHEDULER_PID_ID, type Signal } from './signals.js';

/** What a scheduler needs from the thread that hosts it. */
export interface SchedulerHost {
  readonly schedulerCount: number;
  /** The pid of scheduler `index` of this node, with that scheduler's current creation. */
  schedulerPid(index: number): Pid;
  /** Delivers a signal to another scheduler of this node or to another node. */
  forward(signal: Signal): void;
  registerName(name: string, pid: Pid): void;
  unregisterName(name: string, pid: Pid): void;
  whereis(name: string): Pid | undefined;
  loadModule(ref: ModuleRef): Promise<Behaviour | ProcessFn>;
  /** `transfer`: ArrayBuffers of `input` handed over rather than copied. */
  runDirty(job: ModuleRef, input: unknown, transfer: readonly ArrayBuffer[]): Promise<unknown>;
  monitorNode(pid: Pid, node: string): void;
  demonitorNode(pid: Pid, node: string): void;
}

type StartedCallback = (err: unknown, pid?: Pid) => void;

export class Scheduler implements CallbackOwners {
  readonly actors = new Map<number, Actor>();
  readonly pid: Pid;
  private nextId = 1;
  private refCounter = 0;
  private readonly refPrefix: string;
  private runQueue: (Actor | undefined)[] = [];
  private runHead = 0;
  private drainScheduled = false;
  readonly calls: PendingCalls;
  /** This scheduler's number as an owner of callbacks (see callback-owners.ts). */
  private readonly owners = registerOwners(this);
  /** Messages handled since start, for observability and benchmarks. */
  handled = 0;

  constructor(
    readonly nodeName: string,
    readonly index: number,
    readonly host: SchedulerHost,
    readonly clock: Clock,
    readonly logger: Logger,
    /** The creation in every pid of this scheduler: a pid with another one names a dead process. */
    readonly creation: number,
    refSeed: number,
  ) {
    this.pid = { node: nodeName, scheduler: index, id: SCHEDULER_PID_ID, creation };
    this.calls = new PendingCalls(clock, (signal) => this.route(signal));
    // Short refs: they cross the wire and key maps on every call. The random seed
    // (48 bits per scheduler start) keeps them apart across schedulers and nodes.
    this.refPrefix = `${refSeed.toString(36)}.`;
  }

  makeRef(): Ref {
    return this.refPrefix + (this.refCounter++).toString(36);
  }

  // ---- spawning ----

  spawn(spec: Behaviour | ProcessFn, args: unknown, options?: SpawnOptions, onStarted?: StartedCallback): Pid {
    if (options?.scheduler !== undefined && options.scheduler !== this.index) {
      throw new InvalidArgumentError(`spawn() starts on the current scheduler; use start() with a {module, export} spec for scheduler ${options.scheduler}`);
    }
    checkSpec(spec);
    const pid: Pid = { node: this.nodeName, scheduler: this.index, id: this.nextId++, creation: this.creation };
    const actor = new Actor(this, pid, typeof spec === 'function' ? null : spec);
    this.actors.set(pid.id, actor);
    if (options?.name !== undefined) {
      // Decided (by scheduler 0) before anything else happens, so a lost name leaves no trace.
      try {
        this.register(options.name, pid);
      } catch (err) {
        this.actors.delete(pid.id);
        throw err;
      }
    }
    if (options?.trapExit === true) actor.flags |= TRAP_EXIT;
    if (isPid(options?.link)) {
      actor.more().parent = options.link;
      this.link(actor, options.link);
    }
    if (typeof spec === 'function') this.runProcess(actor, spec, args, onStarted);
    else this.runInit(actor, spec, args, onStarted);
    return pid;
  }

  private runProcess(actor: Actor, fn: ProcessFn, args: unknown, onStarted?: StartedCallback): void {
    onStarted?.(undefined, actor.self);
    // Like Erlang's spawn, the new process starts after the spawner's current step.
    Promise.resolve()
      .then(() => {
        // What the process creates from here on is its own (see callback-owners.ts).
        setOwner(this.owners, actor.self.id);
        return fn(actor, args);
      })
      .then(
        () => this.exitActor(actor, actor.stopReason ?? NORMAL, false),
        (err: unknown) => {
          if (err instanceof ActorExitedError || (actor.flags & EXITED) !== 0) return;
          this.crash(actor, err);
        },
      );
  }

  private runInit(actor: Actor, behaviour: Behaviour, args: unknown, onStarted?: StartedCallback): void {
    actor.flags |= BUSY;
    // What init creates is the new actor's, not its spawner's.
    const spawnerTable = running.table;
    const spawnerId = running.id;
    setOwner(this.owners, actor.self.id);
    let result: unknown;
    try {
      result = behaviour.init(actor, args);
    } catch (err) {
      setOwner(spawnerTable, spawnerId);
      return this.initFailed(actor, err, onStarted);
    }
    setOwner(spawnerTable, spawnerId);
    if (result instanceof Promise) {
      result.then(
        (state) => this.initDone(actor, state, onStarted),
        (err: unknown) => this.initFailed(actor, err, onStarted),
      );
    } else {
      this.initDone(actor, result, onStarted);
    }
  }

  private initDone(actor: Actor, state: unknown, onStarted: StartedCallback | undefined): void {
    if ((actor.flags & EXITED) !== 0) return onStarted?.(new SpawnError(formatPid(actor.self), actor.stopReason));
    actor.state = state;
    actor.flags &= ~BUSY;
    onStarted?.(undefined, actor.self);
    if (actor.stopReason !== undefined) this.exitActor(actor, actor.stopReason, true);
    else if (actor.mailbox !== null) this.schedule(actor);
  }

  private initFailed(actor: Actor, err: unknown, onStarted: StartedCallback | undefined): void {
    if ((actor.flags & EXITED) === 0) {
      this.logger.error({ pid: formatPid(actor.self), err }, 'actor init failed');
      this.finishExit(actor, err);
    }
    onStarted?.(new SpawnError(formatPid(actor.self), err));
  }

  /** Starts any spec on any scheduler and resolves once its init has returned. */
  start(spec: ActorSpec, args: unknown, options?: SpawnOptions): Promise<Pid> {
    return startActor(this, spec, args, options);
  }

  /** Another thread asked this one to start an actor from a module (see starting.ts). */
  spawnFromSignal(signal: Extract<Signal, { k: 'spawn' }>): void {
    spawnFromModule(this, signal);
  }

  // ---- messaging ----

  send(dest: Dest, msg: unknown): void {
    if (msg === undefined) throw new InvalidArgumentError('cannot send undefined: receive() uses it to mean "timed out"');
    if (typeof dest === 'object' && (dest as Pid).id !== undefined) {
      const pid = dest as Pid;
      if (pid.scheduler === this.index && pid.node === this.nodeName) {
        // A pid of an earlier incarnation names a dead process: the message is dropped.
        const actor = pid.creation === this.creation ? this.actors.get(pid.id) : undefined;
        if (actor !== undefined) this.deliver(actor, msg);
        return;
      }
      return this.host.forward({ k: 'msg', to: pid, msg });
    }
    if (typeof dest === 'string') {
      const pid = this.host.whereis(dest);
      if (pid !== undefined) return this.send(pid, msg);
      // A worker's copy of the name table may lag: scheduler 0, which holds the table, resolves it.
      if (this.index !== 0) return this.host.forward({ k: 'named', name: dest, node: this.nodeName, msg });
      throw new UnknownNameError(dest);
    }
    if (isRemoteName(dest)) {
      if (dest.node === this.nodeName) return this.send(dest.name, msg);
      return this.host.forward({ k: 'named', name: dest.name, node: dest.node, msg });
    }
    throw new InvalidArgumentError(`cannot send to ${JSON.stringify(dest)}: expected a pid, a name, or {name, node}`);
  }

  /** Delivers a message that arrived from another thread for actor `id` of this scheduler. */
  deliverTo(id: number, msg: unknown): void {
    const actor = this.actors.get(id);
    if (actor !== undefined) this.deliver(actor, msg);
  }

  deliver(actor: Actor, msg: unknown): void {
    const flags = actor.flags;
    if ((flags & EXITED) !== 0) return;
    if ((flags & PROCESS) !== 0) {
      const waiter = actor.waiter;
      if (waiter !== null) {
        let matched: boolean;
        try {
          matched = waiter.match === undefined || waiter.match(msg);
        } catch (err) {
          return this.crash(actor, err);
        }
        if (matched) {
          actor.waiter = null;
          if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer);
          return waiter.resolve(msg);
        }
      }
      actor.push(msg);
      return;
    }
    actor.push(msg);
    if ((flags & (QUEUED | BUSY)) === 0) this.schedule(actor);
  }

  route(signal: Signal): void {
    if (isByName(signal) ? signal.node === this.nodeName : signal.to.scheduler === this.index && signal.to.node === this.nodeName) {
      this.handleSignal(signal);
    } else {
      this.host.forward(signal);
    }
  }

  receive(actor: Actor, match: ((msg: any) => boolean) | undefined, timeoutMs: number | undefined): Promise<unknown> {
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      return Promise.reject(new InvalidArgumentError(`receive timeout must be >= 0 ms, got ${timeoutMs}`));
    }
    if (match === undefined) {
      if (actor.queueLength() > 0) return Promise.resolve(actor.take());
    } else {
      const hit = actor.takeMatching(match);
      if (hit.found) return Promise.resolve(hit.msg);
    }
    if (timeoutMs === 0) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject, timer: undefined as unknown };
      if (timeoutMs !== undefined && timeoutMs !== Infinity) {
        waiter.timer = this.clock.setTimeout(() => {
          if (actor.waiter === waiter) {
            actor.waiter = null;
            resolve(undefined);
          }
        }, timeoutMs);
      }
      actor.waiter = waiter;
    });
  }

  // ---- calls ----

  /**
   * `from` is the calling actor (the scheduler itself for calls from outside actors):
   * the callee sees it in `From` and can monitor or link it; the reply comes back here.
   */
  call(dest: Dest, request: unknown, timeoutMs: number = CALL_TIMEOUT_MS_DEFAULT, from: Pid = this.pid): Promise<unknown> {
    if (!(timeoutMs > 0)) return Promise.reject(new InvalidArgumentError(`call timeout must be > 0 ms, got ${timeoutMs}`));
    if (isRemoteName(dest) && dest.node !== this.nodeName) return this.callByName(dest, request, timeoutMs, from);
    // A name a worker's copy of the table lacks yet: resolved by scheduler 0, as a remote name is by its node.
    if (typeof dest === 'string' && this.index !== 0 && this.host.whereis(dest) === undefined) {
      return this.callByName({ name: dest, node: this.nodeName }, request, timeoutMs, from);
    }
    let pid: Pid;
    try {
      pid = this.resolveForCall(dest);
    } catch (err) {
      return Promise.reject(err);
    }
    const ref = this.makeRef();
    const promise = this.calls.await(ref, formatPid(pid), pid, from, timeoutMs);
    this.route({ k: 'call', from, to: pid, ref, request });
    return promise;
  }

  /** A call to a name resolved where the name table is: the monitor and the request are resolved there. */
  private callByName(dest: RemoteName, request: unknown, timeoutMs: number, from: Pid): Promise<unknown> {
    const ref = this.makeRef();
    const promise = this.calls.await(ref, `${dest.name} on ${dest.node}`, remoteNodePid(dest.node), from, timeoutMs);
    this.route({ k: 'monitorName', from, name: dest.name, node: dest.node, ref });
    const msg: CallMessage = { type: '$call', from: { pid: from, ref }, request };
    this.route({ k: 'named', name: dest.name, node: dest.node, msg });
    return promise;
  }

  private resolveForCall(dest: Dest): Pid {
    if (typeof dest === 'string') {
      const pid = this.host.whereis(dest);
      if (pid === undefined) throw new UnknownNameError(dest);
      return pid;
    }
    if (isPid(dest)) return dest;
    if (isRemoteName(dest)) {
      if (dest.node === this.nodeName) return this.resolveForCall(dest.name);
      throw new InvalidArgumentError(`calls to {name, node} on another node need distribution; node ${dest.node} is not reachable from here`);
    }
    throw new InvalidArgumentError(`cannot call ${JSON.stringify(dest)}: expected a pid, a name, or {name, node}`);
  }

  /** Registers a pending reply under `ref`; a 'reply' signal to this scheduler settles it. */
  awaitReply(ref: Ref, destText: string, dest: Pid | undefined, timeoutMs: number): Promise<unknown> {
    return this.calls.await(ref, destText, dest, this.pid, timeoutMs);
  }

  reply(actor: Actor, from: From, value: unknown): void {
    if (!isPid(from?.pid) || typeof from.ref !== 'string') throw new InvalidArgumentError('reply() needs the `from` a call handed to the actor');
    this.sendReply(actor, from, true, value);
  }

  /**
   * A call's monitor serves that call alone: when the replying actor holds it, it is
   * dropped here and the reply says so, which spares the caller a demonitor signal
   * (a frame on the wire, for a remote call).
   */
  private sendReply(actor: Actor, from: From, ok: boolean, value: unknown): void {
    const watcher = actor.monitoredBy?.get(from.ref);
    if (watcher !== undefined && pidEquals(watcher, from.pid)) {
      actor.monitoredBy!.delete(from.ref);
      if (actor.monitoredBy!.size === 0) actor.monitoredBy = null;
      this.route({ k: 'reply', to: from.pid, ref: from.ref, ok, value, demonitored: true });
    } else {
      this.route({ k: 'reply', to: from.pid, ref: from.ref, ok, value });
    }
  }

  // ---- monitors, links, exits ----

  monitor(actor: Actor, dest: Dest): Ref {
    const ref = this.makeRef();
    let pid: Pid | undefined;
    if (typeof dest === 'string') pid = this.host.whereis(dest);
    else if (isPid(dest)) pid = dest;
    else if (dest.node === this.nodeName) pid = this.host.whereis(dest.name);
    if (pid === undefined && (this.index !== 0 || (typeof dest === 'object' && dest.node !== this.nodeName))) {
      // Resolved where the name table is: on the name's node, or by scheduler 0 for a worker.
      const name = typeof dest === 'string' ? dest : (dest as RemoteName).name;
      const node = typeof dest === 'string' ? this.nodeName : (dest as RemoteName).node;
      (actor.monitoring ??= new Map()).set(ref, remoteNodePid(node));
      this.route({ k: 'monitorName', from: actor.self, name, node, ref });
      return ref;
    }
    if (pid === undefined) {
      const name = typeof dest === 'string' ? dest : (dest as { name: string }).name;
      this.deliver(actor, { type: 'DOWN', ref, pid: { name, node: this.nodeName }, reason: NOPROC });
      return ref;
    }
    (actor.monitoring ??= new Map()).set(ref, pid);
    this.route({ k: 'monitor', from: actor.self, to: pid, ref });
    return ref;
  }

  demonitor(actor: Actor, ref: Ref): boolean {
    const target = actor.monitoring?.get(ref);
    // A DOWN for this monitor that is already queued must not surface after demonitor.
    actor.takeMatching((m) => typeof m === 'object' && m !== null && m.type === 'DOWN' && m.ref === ref);
    if (target === undefined) return false;
    actor.monitoring!.delete(ref);
    if (actor.monitoring!.size === 0) actor.monitoring = null;
    this.route({ k: 'demonitor', from: actor.self, to: target, ref });
    return true;
  }

  link(actor: Actor, pid: Pid): void {
    if (pidEquals(actor.self, pid)) return;
    if (!actor.addLink(pid)) return;
    this.route({ k: 'link', from: actor.self, to: pid });
  }

  unlink(actor: Actor, pid: Pid): void {
    if (actor.removeLink(pid)) this.route({ k: 'unlink', from: actor.self, to: pid });
  }

  exitSignal(from: Pid, to: Pid, reason: unknown): void {
    if (to.scheduler === this.index && to.node === this.nodeName) {
      // Taken at once, as route would, without building a signal for it to hand straight back.
      const actor = this.local(to);
      if (actor !== undefined) this.receiveExit(actor, from, reason, false);
      return;
    }
    this.host.forward({ k: 'exit', from, to, reason, link: false });
  }

  receiveExit(actor: Actor, from: Pid, reason: unknown, link: boolean): void {
    if (link) {
      // A signal from a link removed since then is stale.
      if (!actor.removeLink(from)) return;
    }
    if (!link && reason === KILL) return this.finishExit(actor, KILLED);
    if ((actor.flags & TRAP_EXIT) !== 0) return this.deliver(actor, { type: 'EXIT', from, reason });
    if (reason === NORMAL) {
      if (!link && pidEquals(from, actor.self)) this.finishExit(actor, NORMAL);
      return;
    }
    this.finishExit(actor, reason);
  }

  /** Ends an actor: with `runTerminate`, a behaviour's terminate runs first. */
  exitActor(actor: Actor, reason: unknown, runTerminate: boolean): void {
    if ((actor.flags & (EXITED | TERMINATING)) !== 0) return;
    const terminate = actor.behaviour?.terminate;
    if (runTerminate && terminate !== undefined) {
      // BUSY too: the run queue skips the actor, so no message is handled while terminate runs.
      actor.flags |= TERMINATING | BUSY;
      let result: unknown;
      try {
        result = terminate.call(actor.behaviour, reason, actor.state, actor);
      } catch (err) {
        this.logger.error({ pid: formatPid(actor.self), err }, 'actor terminate failed');
      }
      if (result instanceof Promise) {
        result.then(
          () => this.finishExit(actor, reason),
          (err: unknown) => {
            this.logger.error({ pid: formatPid(actor.self), err }, 'actor terminate failed');
            this.finishExit(actor, reason);
          },
        );
        return;
      }
    }
    this.finishExit(actor, reason);
  }

  finishExit(actor: Actor, reason: unknown): void {
    if ((actor.flags & EXITED) !== 0) return;
    actor.flags = (actor.flags | EXITED) & ~(QUEUED | BUSY);
    actor.stopReason = reason;
    const self = actor.self;
    this.actors.delete(self.id);
    if (actor.timers !== null) {
      for (const handle of actor.timers.values()) this.clock.clearTimeout(handle);
      actor.timers = null;
    }
    const waiter = actor.waiter;
    if (waiter !== null) {
      actor.waiter = null;
      if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer);
      waiter.reject(new ActorExitedError(formatPid(self), reason));
    }
    const extra = actor.extra;
    if (extra !== null) {
      if (extra.name !== undefined) {
        this.host.unregisterName(extra.name, self);
        extra.name = undefined;
      }
      if (extra.nodeMonitors !== null) {
        for (const node of extra.nodeMonitors) this.host.demonitorNode(self, node);
        extra.nodeMonitors = null;
      }
    }
    const linked = actor.takeLinks();
    if (linked !== undefined) for (const pid of linked) this.route({ k: 'exit', from: self, to: pid, reason, link: true });
    if (actor.monitoredBy !== null) {
      for (const [ref, watcher] of actor.monitoredBy) this.route({ k: 'down', to: watcher, ref, pid: self, reason });
      actor.monitoredBy = null;
    }
    if (actor.monitoring !== null) {
      for (const [ref, target] of actor.monitoring) this.route({ k: 'demonitor', from: self, to: target, ref });
      actor.monitoring = null;
    }
    actor.mailbox = null;
    actor.head = 0;
    actor.state = undefined;
    if (this.actors.size === 0 && this.emptyWaiters.length > 0) {
      for (const resolve of this.emptyWaiters.splice(0)) resolve();
    }
  }

  private readonly emptyWaiters: (() => void)[] = [];

  /** Resolves once no actor is left on this scheduler. */
  whenEmpty(): Promise<void> {
    if (this.actors.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /**
   * Asks every actor at the top of a tree to exit with `reason` (newest first), as an exit
   * signal from the scheduler. An actor whose parent lives on this node is left to its
   * parent, which stops its children in its own order (a supervisor: children first).
   */
  shutdownAll(reason: unknown): void {
    for (const actor of [...this.actors.values()].reverse()) {
      if (this.hasLiveParentOnNode(actor)) continue;
      this.exitSignal(this.pid, actor.self, reason);
    }
  }

  private hasLiveParentOnNode(actor: Actor): boolean {
    const parent = actor.parent;
    if (parent === undefined || parent.node !== this.nodeName) return false;
    // A parent on another scheduler is stopped by that scheduler.
    return parent.scheduler !== this.index || this.local(parent) !== undefined;
  }

  /**
   * Worker scheduler `index` (pids of `creation`) is gone with all its actors: every monitor
   * and link an actor here held on one of them fires with `reason`, as does every pending
   * call or request to it; monitors its actors held here are dropped.
   */
  schedulerLost(index: number, creation: number, reason: unknown): void {
    const gone = (pid: Pid) => pid.scheduler === index && pid.creation === creation && pid.node === this.nodeName;
    for (const actor of [...this.actors.values()]) {
      if (actor.monitoredBy !== null) {
        for (const [ref, watcher] of actor.monitoredBy) if (gone(watcher)) actor.monitoredBy.delete(ref);
      }
      if (actor.monitoring !== null) {
        for (const [ref, target] of actor.monitoring) {
          if (!gone(target)) continue;
          actor.monitoring.delete(ref);
          this.deliver(actor, { type: 'DOWN', ref, pid: target, reason });
        }
      }
      for (const pid of actor.linkedPids()) if (gone(pid)) this.receiveExit(actor, pid, reason, true);
    }
    this.calls.failWhere(gone, reason);
  }

  /** An actor's code threw: it exits with the error as reason, logged once here. */
  crash(actor: Actor, err: unknown): void {
    if ((actor.flags & (EXITED | TERMINATING)) !== 0) return;
    this.logger.error({ pid: formatPid(actor.self), err }, 'actor crashed');
    actor.flags &= ~BUSY;
    this.exitActor(actor, err, true);
  }

  // ---- names, timers, node monitors ----

  /**
   * Registers `name` for `pid`; throws NameTakenError or AlreadyRegisteredError (one
   * name per actor). Decided by scheduler 0 before this returns, on any scheduler.
   */
  register(name: string, pid: Pid): void {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('a registered name must be a non-empty string');
    if (!isPid(pid) || pid.node !== this.nodeName) throw new InvalidArgumentError(`only actors of node ${this.nodeName} can be registered here`);
    this.host.registerName(name, pid);
    const actor = this.actorOf(pid);
    if (actor !== undefined) actor.name = name;
  }

  /** The live actor `pid` names on this scheduler, if any. */
  actorOf(pid: Pid): Actor | undefined {
    return pid.node === this.nodeName && pid.scheduler === this.index ? this.local(pid) : undefined;
  }

  unregister(name: string): void {
    const pid = this.host.whereis(name);
    if (pid === undefined) throw new UnknownNameError(name);
    this.host.unregisterName(name, pid);
    if (pid.scheduler === this.index) {
      const actor = this.local(pid);
      if (actor?.name === name) actor.name = undefined;
    }
  }

  whereis(name: string): Pid | undefined {
    return this.host.whereis(name);
  }

  sendAfter(actor: Actor, delayMs: number, msg: unknown, dest: Dest): Ref {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new InvalidArgumentError(`sendAfter delay must be a finite number >= 0 ms, got ${delayMs}`);
    if (msg === undefined) throw new InvalidArgumentError('cannot send undefined');
    const ref = this.makeRef();
    const handle = this.clock.setTimeout(() => {
      actor.timers?.delete(ref);
      // An empty map is dropped: idle actors are the many, and each map costs some 180 bytes.
      if (actor.timers?.size === 0) actor.timers = null;
      if ((actor.flags & EXITED) !== 0) return;
      try {
        this.send(dest, msg);
      } catch (err) {
        this.logger.warn({ pid: formatPid(actor.self), err }, 'timer message could not be sent');
      }
    }, delayMs);
    (actor.timers ??= new Map()).set(ref, handle);
    return ref;
  }

  cancelTimer(actor: Actor, ref: Ref): boolean {
    const handle = actor.timers?.get(ref);
    if (handle === undefined) return false;
    actor.timers!.delete(ref);
    if (actor.timers!.size === 0) actor.timers = null;
    this.clock.clearTimeout(handle);
    return true;
  }

  monitorNode(actor: Actor, node: string): void {
    (actor.more().nodeMonitors ??= new Set()).add(node);
    this.host.monitorNode(actor.self, node);
  }

  demonitorNode(actor: Actor, node: string): void {
    if (actor.extra?.nodeMonitors?.delete(node)) this.host.demonitorNode(actor.self, node);
  }

  dirty(job: ModuleRef, input: unknown, options?: DirtyOptions): Promise<unknown> {
    if (!isModuleRef(job)) return Promise.reject(new InvalidArgumentError('a dirty job is {module, export}: functions cannot cross threads'));
    const transfer = options?.transfer ?? [];
    if (!Array.isArray(transfer) || !transfer.every((b) => b instanceof ArrayBuffer)) {
      return Promise.reject(new InvalidArgumentError('a dirty job\'s transfer is a list of ArrayBuffers'));
    }
    return this.host.runDirty(job, input, transfer);
  }

  // ---- signals from other schedulers and nodes ----

  /** The live actor `pid` names on this scheduler, if any (a pid of an earlier incarnation names none). */
  local(pid: Pid): Actor | undefined {
    return pid.creation === this.creation ? this.actors.get(pid.id) : undefined;
  }

  /**
   * An error escaped a timer, promise or listener that actor `id` created (see
   * callback-owners.ts): the actor crashes, as if its handler threw. An exited actor is
   * no longer in the table (finishExit), so its late callbacks are only logged.
   */
  crashFromCallback(id: number, err: unknown): void {
    const actor = this.actors.get(id);
    if (actor === undefined) return warnLateCallback(this.logger, { node: this.nodeName, scheduler: this.index, id, creation: this.creation }, err);
    this.crash(actor, err);
  }

  /** Handles a signal addressed to this scheduler or one of its actors. */
  handleSignal(signal: Signal): void {
    handleIncoming(this, signal);
  }

  info(pid: Pid): Promise<ActorInfo | undefined> {
    if (pid.node === this.nodeName && pid.scheduler === this.index) {
      const actor = this.local(pid);
      return Promise.resolve(actor === undefined ? undefined : describeActor(actor));
    }
    const ref = this.makeRef();
    const promise = this.calls.await(ref, formatPid(pid), pid, this.pid, CALL_TIMEOUT_MS_DEFAULT, false);
    this.route({ k: 'info', to: pid, ref, replyTo: this.pid });
    return promise as Promise<ActorInfo | undefined>;
  }

  // ---- the run queue ----

  private schedule(actor: Actor): void {
    actor.flags |= QUEUED;
    this.runQueue.push(actor);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      nodeSetImmediate(this.drain);
    }
  }

  /** Runs queued actors now instead of at the next check phase (after a network batch, to save a loop hop). */
  drainNow(): void {
    if (this.runHead < this.runQueue.length) this.drain();
  }

  private readonly drain = (): void => {
    this.drainScheduled = false;
    const queue = this.runQueue;
    const deadlineMs = performance.now() + SCHEDULER_SLICE_MS_MAX;
    let budget = SCHEDULER_SLICE_MESSAGES_MAX;
    let turns = 0;
    // Each turn marks its actor as the owner of what its code creates (see callback-owners.ts).
    try {
      while (this.runHead < queue.length) {
        const actor = queue[this.runHead]!;
        queue[this.runHead++] = undefined;
        actor.flags &= ~QUEUED;
        if ((actor.flags & (EXITED | BUSY)) !== 0) continue;
        setOwner(this.owners, actor.self.id);
        budget -= this.runTurn(actor);
        if (actor.mailbox !== null && (actor.flags & (EXITED | BUSY | QUEUED)) === 0) {
          actor.flags |= QUEUED;
          queue.push(actor);
        }
        if (budget <= 0) break;
        if ((++turns & 63) === 0 && performance.now() > deadlineMs) break;
      }
    } finally {
      setOwner(NO_OWNER, 0);
    }
    if (this.runHead === queue.length) {
      queue.length = 0;
      this.runHead = 0;
    } else {
      if (this.runHead > 4096) {
        queue.splice(0, this.runHead);
        this.runHead = 0;
      }
      // Yield to timers and I/O before the next slice.
      this.drainScheduled = true;
      nodeSetImmediate(this.drain);
    }
  };

  private runTurn(actor: Actor): number {
    let handled = 0;
    while (handled < ACTOR_TURN_MESSAGES_MAX && actor.mailbox !== null && (actor.flags & (BUSY | EXITED)) === 0) {
      handled++;
      this.dispatch(actor, actor.take());
    }
    this.handled += handled;
    return handled;
  }

  private dispatch(actor: Actor, msg: unknown): void {
    const behaviour = actor.behaviour!;
    let from: From | undefined;
    let result: unknown;
    try {
      if (isCallMessage(msg)) {
        from = msg.from;
        if (behaviour.handleCall === undefined) {
          const refusal = new InvalidArgumentError(`actor ${formatPid(actor.self)} does not handle calls`);
          this.sendReply(actor, from, false, encodeError(refusal));
          return;
        }
        result = behaviour.handleCall(msg.request, from, actor.state, actor);
      } else if (behaviour.handle !== undefined) {
        result = behaviour.handle(msg, actor.state, actor);
      } else {
        this.logger.warn({ pid: formatPid(actor.self) }, 'behaviour without handle() dropped a message');
        return;
      }
    } catch (err) {
      return this.crash(actor, err);
    }
    if (result instanceof Promise) {
      actor.flags |= BUSY;
      result.then(
        (value) => this.afterHandler(actor, value, from),
        (err: unknown) => this.crash(actor, err),
      );
    } else {
      this.afterHandler(actor, result, from);
    }
  }

  private afterHandler(actor: Actor, result: unknown, from: From | undefined): void {
    // Terminating already: an error from one of its callbacks crashed the actor while this
    // async handler ran. A crashed actor replies to no one and takes no further messages
    // (its callers and monitors get its exit); clearing BUSY here would run its mailbox.
    if ((actor.flags & (EXITED | TERMINATING)) !== 0) return;
    if (from !== undefined) {
      if (typeof result !== 'object' || result === null || !('state' in result)) {
        return this.crash(actor, new InvalidArgumentError('handleCall must return { reply, state } or { noreply: true, state }'));
      }
      if ('reply' in result) this.sendReply(actor, from, true, result.reply);
      actor.state = result.state;
    } else {
      actor.state = result;
    }
    if ((actor.flags & BUSY) !== 0) {
      actor.flags &= ~BUSY;
      if (actor.stopReason === undefined && actor.mailbox !== null) this.schedule(actor);
    }
    if (actor.stopReason !== undefined) this.exitActor(actor, actor.stopReason, true);
  }

  /** Ends every actor at once (node shutdown): links and monitors fire as for any exit. */
  killAll(reason: unknown): void {
    for (const actor of [...this.actors.values()].reverse()) this.finishExit(actor, reason);
    this.calls.failAll();
    // Built apart from `this`, so the stopped scheduler is not kept alive for them.
    retireOwners(this.owners, lateCallbacks(this.logger, this.nodeName, this.index, this.creation));
  }
}

/** What a stopped scheduler's callbacks answer to: their actors are gone, so an error is logged. */
function lateCallbacks(logger: Logger, node: string, scheduler: number, creation: number): CallbackOwners {
  return { crashFromCallback: (id, err) => warnLateCallback(logger, { node, scheduler, id, creation }, err) };
}

function warnLateCallback(logger: Logger, pid: Pid, err: unknown): void {
  logger.warn({ pid: formatPid(pid), err }, 'a callback of an exited actor threw');
}
