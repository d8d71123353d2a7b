// One actor: its mailbox, its links and monitors, and the context its code acts through.
// Kept small on purpose: optional parts are allocated on first use.

import { ActorExitedError, InvalidArgumentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { formatPid, pidEquals, pidKey, type Dest, type Pid, type Ref } from '../pid.js';
import type {
  ActorContext,
  ActorSpec,
  Behaviour,
  CallOptions,
  DirtyOptions,
  From,
  ModuleRef,
  ProcessFn,
  SpawnOptions,
} from '../types.js';
import type { Scheduler } from './scheduler.js';

export const QUEUED = 1;
export const BUSY = 2;
export const EXITED = 4;
export const TRAP_EXIT = 8;
export const PROCESS = 16;
export const TERMINATING = 32;

export interface Waiter {
  readonly match: ((msg: any) => boolean) | undefined;
  readonly resolve: (msg: any) => void;
  readonly reject: (err: unknown) => void;
  timer: unknown;
}

/**
 * Links are kept in an array up to this many, in a map by pid key beyond: most actors
 * have one or two (a worker and its supervisor), where a map would cost hundreds of bytes.
 */
const LINKS_IN_ARRAY_MAX = 8;

export interface ActorExtra {
  name: string | undefined;
  nodeMonitors: Set<string> | null;
  /** The pid this actor was linked to when it was started (OTP's parent). */
  parent: Pid | undefined;
}

export class Actor implements ActorContext {
  flags = 0;
  state: unknown = undefined;
  mailbox: unknown[] | null = null;
  head = 0;
  /** Linked pids (see LINKS_IN_ARRAY_MAX); use the link methods below. */
  private links: Pid[] | Map<string, Pid> | null = null;
  monitoredBy: Map<Ref, Pid> | null = null;
  monitoring: Map<Ref, Pid> | null = null;
  timers: Map<Ref, unknown> | null = null;
  /** The parts few actors use (a name, node monitors, a parent), in one object made on first use. */
  extra: ActorExtra | null = null;
  waiter: Waiter | null = null;
  /** Set by `stop()`: the actor ends after the current handler. */
  stopReason: unknown = undefined;

  constructor(
    readonly sched: Scheduler,
    readonly self: Pid,
    readonly behaviour: Behaviour | null,
  ) {
    if (behaviour === null) this.flags |= PROCESS;
  }

  get log(): Logger {
    return this.sched.logger;
  }

  hasLink(pid: Pid): boolean {
    const links = this.links;
    if (links === null) return false;
    if (Array.isArray(links)) return links.some((linked) => pidEquals(linked, pid));
    return links.has(pidKey(pid));
  }

  /** Adds a link; false if it was there already. */
  addLink(pid: Pid): boolean {
    if (this.hasLink(pid)) return false;
    const links = this.links;
    if (links === null) this.links = [pid];
    else if (!Array.isArray(links)) links.set(pidKey(pid), pid);
    else if (links.length < LINKS_IN_ARRAY_MAX) links.push(pid);
    else this.links = new Map([...links, pid].map((linked) => [pidKey(linked), linked]));
    return true;
  }

  /** Removes a link; false if there was none. */
  removeLink(pid: Pid): boolean {
    const links = this.links;
    if (links === null) return false;
    if (!Array.isArray(links)) return links.delete(pidKey(pid));
    const at = links.findIndex((linked) => pidEquals(linked, pid));
    if (at < 0) return false;
    if (links.length === 1) this.links = null;
    else links.splice(at, 1);
    return true;
  }

  /** The linked pids, as a copy (safe to change links while going through it). */
  linkedPids(): Pid[] {
    const links = this.links;
    if (links === null) return [];
    return Array.isArray(links) ? [...links] : [...links.values()];
  }

  /** Drops every link and returns them; undefined when there were none (most exits), so nothing is allocated. */
  takeLinks(): Pid[] | undefined {
    if (this.links === null) return undefined;
    const linked = this.linkedPids();
    this.links = null;
    return linked;
  }

  get parent(): Pid | undefined {
    return this.extra?.parent;
  }

  get name(): string | undefined {
    return this.extra?.name;
  }

  set name(name: string | undefined) {
    if (name !== undefined || this.extra !== null) this.more().name = name;
  }

  /** The actor's rarely used parts, made on first use. */
  more(): ActorExtra {
    return (this.extra ??= { name: undefined, nodeMonitors: null, parent: undefined });
  }

  now(): number {
    return this.sched.clock.now();
  }

  queueLength(): number {
    return this.mailbox === null ? 0 : this.mailbox.length - this.head;
  }

  /** Takes the next message in order; the caller knows the queue is not empty. */
  take(): unknown {
    const box = this.mailbox!;
    const msg = box[this.head];
    box[this.head++] = undefined;
    if (this.head === box.length) {
      this.mailbox = null;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= box.length) {
      box.splice(0, this.head);
      this.head = 0;
    }
    return msg;
  }

  /** Removes and returns the first queued message that matches, for selective receive. */
  takeMatching(match: (msg: any) => boolean): { found: boolean; msg: unknown } {
    const box = this.mailbox;
    if (box === null) return { found: false, msg: undefined };
    for (let i = this.head; i < box.length; i++) {
      const msg = box[i];
      if (match(msg)) {
        if (i === this.head) return { found: true, msg: this.take() };
        box.splice(i, 1);
        return { found: true, msg };
      }
    }
    return { found: false, msg: undefined };
  }

  push(msg: unknown): void {
    if (this.mailbox === null) this.mailbox = [msg];
    else this.mailbox.push(msg);
  }

  private alive(): void {
    if ((this.flags & EXITED) !== 0) throw new ActorExitedError(formatPid(this.self), this.stopReason);
  }

  send(dest: Dest, msg: unknown): void {
    this.alive();
    this.sched.send(dest, msg);
  }

  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R> {
    this.alive();
    return this.sched.call(dest, request, options?.timeoutMs, this.self) as Promise<R>;
  }

  reply(from: From, value: unknown): void {
    this.alive();
    this.sched.reply(this, from, value);
  }

  spawn<A>(spec: Behaviour<any, A> | ProcessFn<A>, args?: A, options?: SpawnOptions): Pid {
    this.alive();
    return this.sched.spawn(spec, args, this.linkOption(options));
  }

  start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid> {
    this.alive();
    return this.sched.start(spec, args, this.linkOption(options));
  }

  private linkOption(options: SpawnOptions | undefined): SpawnOptions | undefined {
    if (options?.link === true) return { ...options, link: this.self };
    return options;
  }

  monitor(dest: Dest): Ref {
    this.alive();
    return this.sched.monitor(this, dest);
  }

  demonitor(ref: Ref): boolean {
    this.alive();
    return this.sched.demonitor(this, ref);
  }

  link(pid: Pid): void {
    this.alive();
    this.sched.link(this, pid);
  }

  unlink(pid: Pid): void {
    this.alive();
    this.sched.unlink(this, pid);
  }

  exit(pid: Pid, reason: unknown): void {
    this.alive();
    this.sched.exitSignal(this.self, pid, reason);
  }

  trapExit(on: boolean): void {
    this.alive();
    if (on) this.flags |= TRAP_EXIT;
    else this.flags &= ~TRAP_EXIT;
  }

  stop(reason: unknown = 'normal'): void {
    this.alive();
    this.stopReason = reason;
    // A process stops by returning; a waiting one is woken so it can unwind.
    if ((this.flags & PROCESS) !== 0) this.sched.exitActor(this, reason, false);
  }

  register(name: string, pid: Pid = this.self): void {
    this.alive();
    this.sched.register(name, pid);
  }

  unregister(name: string): void {
    this.alive();
    this.sched.unregister(name);
  }

  whereis(name: string): Pid | undefined {
    return this.sched.whereis(name);
  }

  sendAfter(delayMs: number, msg: unknown, dest?: Dest): Ref {
    this.alive();
    return this.sched.sendAfter(this, delayMs, msg, dest ?? this.self);
  }

  cancelTimer(ref: Ref): boolean {
    return this.sched.cancelTimer(this, ref);
  }

  monitorNode(node: string): void {
    this.alive();
    this.sched.monitorNode(this, node);
  }

  demonitorNode(node: string): void {
    this.alive();
    this.sched.demonitorNode(this, node);
  }

  receive<T = any>(match?: (msg: any) => boolean, timeoutMs?: number): Promise<T | undefined> {
    this.alive();
    if ((this.flags & PROCESS) === 0) {
      throw new InvalidArgumentError('receive() is for process-style actors; a behaviour gets messages in handle()');
    }
    if (this.waiter !== null) throw new InvalidArgumentError('receive() is already waiting in this process');
    return this.sched.receive(this, match, timeoutMs) as Promise<T | undefined>;
  }

  dirty<R = unknown>(job: ModuleRef, input: unknown, options?: DirtyOptions): Promise<R> {
    this.alive();
    return this.sched.dirty(job, input, options) as Promise<R>;
  }
}
