// The host of a worker scheduler: routes its signals to the other threads, keeps a
// replica of the node's name table, and sends what only the main thread can do
// (dirty pool, other nodes, name registration) to scheduler 0.

import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { decodeError, DirtyJobError, NameUndecidedError, type WireError } from '../errors.js';
import { NAME_DECISION_MS_MAX } from '../limits.js';
import type { Logger } from '../logger.js';
import { pidEquals, type Pid } from '../pid.js';
import type { Behaviour, ModuleRef, ProcessFn } from '../types.js';
import { isolateActorCallbacks } from './callback-owners.js';
import { isControl, PortMesh, type Control } from './mesh.js';
import { bounce, loadActorModule, refuseUncloneable } from './routing.js';
import { Scheduler, type SchedulerHost } from './scheduler.js';
import { isByName, NOPROC, SCHEDULER_PID_ID, type Signal } from './signals.js';

export interface WorkerData {
  readonly nodeName: string;
  readonly index: number;
  readonly schedulerCount: number;
  /** The creation of each scheduler's pids (the node's, or a replacement thread's own). */
  readonly creations: readonly number[];
  readonly refSeed: number;
  /** One port per scheduler, undefined at this worker's own index. */
  readonly ports: readonly (MessagePort | undefined)[];
  /** Scheduler 0 answers registrations here (read synchronously), and raises the flag after each answer. */
  readonly decisions: MessagePort;
  readonly decisionFlag: SharedArrayBuffer;
  readonly names: readonly [string, Pid][];
}

/** Scheduler 0's answer to a worker's registration request. */
export interface NameDecision {
  readonly id: number;
  readonly error?: WireError;
}

export class WorkerHost implements SchedulerHost {
  readonly schedulerCount: number;
  private readonly names: Map<string, Pid>;
  private readonly mesh: PortMesh;
  private readonly scheduler: Scheduler;
  private readonly nodeName: string;
  private readonly creations: number[];
  private readonly decisions: MessagePort;
  private readonly decisionFlag: Int32Array;
  private registrations = 0;

  constructor(data: WorkerData) {
    this.decisions = data.decisions;
    this.decisionFlag = new Int32Array(data.decisionFlag);
    this.nodeName = data.nodeName;
    this.creations = [...data.creations];
    this.schedulerCount = data.schedulerCount;
    this.names = new Map(data.names);
    this.mesh = new PortMesh(
      data.ports,
      (_from, items) => this.receive(items),
      (target, item, err) => {
        const refused = refuseUncloneable(target, item, err);
        this.scheduler.logger.error({ scheduler: target }, refused.log);
        if (refused.reply !== undefined) this.scheduler.route(refused.reply);
      },
    );
    this.scheduler = new Scheduler(data.nodeName, data.index, this, systemClock, this.forwardingLogger(), data.creations[data.index]!, data.refSeed);
    isolateActorCallbacks((err, kind) =>
      this.scheduler.logger.error({ err, kind }, 'an error no actor owns escaped on a worker scheduler; the thread goes on'),
    );
    this.mesh.post(0, { c: 'ready' } satisfies Control);
  }

  private forwardingLogger(): Logger {
    const post = (level: 'error' | 'warn' | 'info' | 'debug') => (obj: object, msg?: string) =>
      this.mesh.post(0, { c: 'log', level, obj: { scheduler: this.scheduler.index, ...obj }, msg } satisfies Control);
    return { error: post('error'), warn: post('warn'), info: post('info'), debug: post('debug') };
  }

  private receive(items: unknown[]): void {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item === 'number') this.scheduler.deliverTo(item, items[++i]);
      else if (isControl(item)) this.control(item);
      else this.scheduler.handleSignal(item as Signal);
    }
  }

  private control(item: Control): void {
    switch (item.c) {
      case 'name':
        return this.applyName(item.name, item.pid);
      case 'stop':
        void this.stop(item.reason, item.timeoutMs);
        return;
      case 'schedulerLost':
        this.mesh.replace(item.index, item.port!);
        this.creations[item.index] = item.creation;
        for (const [name, pid] of this.names) {
          if (pid.scheduler === item.index && pid.creation === item.oldCreation) this.names.delete(name);
        }
        return this.scheduler.schedulerLost(item.index, item.oldCreation, item.reason);
      default:
        return;
    }
  }

  private applyName(name: string, pid: Pid | null): void {
    const previous = this.names.get(name);
    if (previous !== undefined) {
      const holder = this.scheduler.actorOf(previous);
      if (holder?.name === name) holder.name = undefined;
    }
    if (pid === null) {
      this.names.delete(name);
      return;
    }
    this.names.set(name, pid);
    if (pid.scheduler === this.scheduler.index) {
      // Registered elsewhere for an actor of this thread: it frees the name when it exits.
      const actor = this.scheduler.actorOf(pid);
      if (actor === undefined) this.unregisterName(name, pid);
      else actor.name = name;
    }
  }

  private async stop(reason: unknown, timeoutMs: number): Promise<void> {
    this.scheduler.shutdownAll(reason);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.scheduler.whenEmpty(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    this.scheduler.killAll('killed');
    this.mesh.post(0, { c: 'stopped' } satisfies Control);
    this.mesh.flush();
  }

  schedulerPid(index: number): Pid {
    return { node: this.nodeName, scheduler: index, id: SCHEDULER_PID_ID, creation: this.creations[index] ?? 0 };
  }

  forward(signal: Signal): void {
    if (isByName(signal) || signal.to.node !== this.nodeName) return this.mesh.post(0, signal);
    const target = signal.to.scheduler;
    // A pid of an earlier incarnation (or of a thread since replaced) names a dead process.
    if (signal.to.creation === this.creations[target] && target !== this.scheduler.index) {
      if (signal.k === 'msg') return this.mesh.postMessage(target, signal.to.id, signal.msg);
      return this.mesh.post(target, signal);
    }
    const answer = bounce(signal, NOPROC);
    if (answer !== undefined) this.scheduler.route(answer);
  }

  /**
   * Scheduler 0 holds the name table, so it decides; this thread waits for the answer
   * (a registration is rare), so the caller learns at once whether it won the name.
   */
  registerName(name: string, pid: Pid): void {
    const id = ++this.registrations;
    this.mesh.post(0, { c: 'register', name, pid, id } satisfies Control);
    this.mesh.flush();
    const decision = this.awaitDecision(id, name);
    if (decision.error !== undefined) throw decodeError(decision.error);
    this.names.set(name, pid);
  }

  private awaitDecision(id: number, name: string): NameDecision {
    const deadlineMs = performance.now() + NAME_DECISION_MS_MAX;
    for (;;) {
      Atomics.store(this.decisionFlag, 0, 0);
      const received = receiveMessageOnPort(this.decisions);
      if (received !== undefined) {
        const decision = received.message as NameDecision;
        // An answer to an earlier request that gave up waiting is stale.
        if (decision.id === id) return decision;
        continue;
      }
      const leftMs = deadlineMs - performance.now();
      if (leftMs <= 0) throw new NameUndecidedError(name, NAME_DECISION_MS_MAX);
      Atomics.wait(this.decisionFlag, 0, 0, leftMs);
    }
  }

  unregisterName(name: string, pid: Pid): void {
    const holder = this.names.get(name);
    if (holder !== undefined && pidEquals(holder, pid)) this.names.delete(name);
    this.mesh.post(0, { c: 'unregister', name, pid } satisfies Control);
  }

  whereis(name: string): Pid | undefined {
    return this.names.get(name);
  }

  loadModule(ref: ModuleRef): Promise<Behaviour | ProcessFn> {
    return loadActorModule(ref);
  }

  runDirty(job: ModuleRef, input: unknown, transfer: readonly ArrayBuffer[]): Promise<unknown> {
    const ref = this.scheduler.makeRef();
    const result = this.scheduler.awaitReply(ref, 'dirty pool', undefined, Infinity);
    const request = { c: 'dirty', ref, replyTo: this.scheduler.pid, job, input, transfer } satisfies Control;
    if (transfer.length === 0) {
      this.mesh.post(0, request);
      return result;
    }
    try {
      this.mesh.postWithTransfer(0, request, transfer);
    } catch (err) {
      // A transfer list postMessage refuses (a detached or repeated buffer) fails this job alone.
      this.scheduler.calls.settle(ref, false, new DirtyJobError(job.export, err instanceof Error ? err.message : String(err)), true);
    }
    return result;
  }

  monitorNode(pid: Pid, node: string): void {
    this.mesh.post(0, { c: 'monitorNode', pid, node, on: true } satisfies Control);
  }

  demonitorNode(pid: Pid, node: string): void {
    this.mesh.post(0, { c: 'monitorNode', pid, node, on: false } satisfies Control);
  }
}
