// The public shapes of actors, their context, and the system messages they receive.

import type { Dest, Pid, Ref, RemoteName } from './pid.js';
import type { Logger } from './logger.js';

/** Why an actor exited: 'normal', 'shutdown', 'kill'ed, 'noproc', 'noconnection', or any value. */
export type ExitReason = unknown;

/**
 * The exit reason of the actors of a worker thread that ended (an uncaught error, out of
 * memory, process.exit in the thread): their links, monitors and calls fire with it.
 */
export interface SchedulerExitedReason {
  readonly schedulerExited: number;
  readonly cause: string;
}

/** Where a call's reply goes; pass it to `ctx.reply` to answer later. */
export interface From {
  readonly pid: Pid;
  readonly ref: Ref;
}

/** What `handleCall` returns: a reply now, or none (answer later with `ctx.reply(from, value)`). */
export type CallResult<S> = { reply: unknown; state: S } | { noreply: true; state: S };

/** A gen_server-like actor. Handlers may be async: the next message waits until they settle. */
export interface Behaviour<S = any, A = any> {
  init(ctx: ActorContext, args: A): S | Promise<S>;
  handle?(msg: any, state: S, ctx: ActorContext): S | Promise<S>;
  handleCall?(request: any, from: From, state: S, ctx: ActorContext): CallResult<S> | Promise<CallResult<S>>;
  terminate?(reason: ExitReason, state: S, ctx: ActorContext): void | Promise<void>;
}

/** A process-style actor: an async function that receives selectively. Returning exits 'normal'. */
export type ProcessFn<A = any> = (ctx: ActorContext, args: A) => Promise<unknown>;

/** An actor loadable on any scheduler: a module specifier (absolute path or file URL) and an export name. */
export interface ModuleRef {
  readonly module: string;
  readonly export: string;
}

export type ActorSpec = Behaviour | ProcessFn | ModuleRef;

export interface SpawnOptions {
  /** Link the new actor to this pid (or to the spawning actor with `true` from a context). */
  link?: Pid | boolean;
  /** Register the new actor under this node-wide name. */
  name?: string;
  /** Scheduler (thread) to start on; default: the current one. */
  scheduler?: number;
  trapExit?: boolean;
}

export interface CallOptions {
  timeoutMs?: number;
}

/** Message delivered to a monitoring actor when the monitored one exits. */
export interface DownMessage {
  readonly type: 'DOWN';
  readonly ref: Ref;
  /** The monitored actor; `{ name, node }` when a monitor by name found no actor. */
  readonly pid: Pid | RemoteName;
  readonly reason: ExitReason;
}

/** Message delivered to a trapping actor when a linked actor exits or sends it an exit signal. */
export interface ExitMessage {
  readonly type: 'EXIT';
  readonly from: Pid;
  readonly reason: ExitReason;
}

/** How a call reaches a process-style actor; behaviours get it in `handleCall`. */
export interface CallMessage {
  readonly type: '$call';
  readonly from: From;
  readonly request: unknown;
}

export interface NodeUpMessage {
  readonly type: 'nodeup';
  readonly node: string;
}

export interface NodeDownMessage {
  readonly type: 'nodedown';
  readonly node: string;
  readonly reason: ExitReason;
}

export interface ActorInfo {
  readonly pid: Pid;
  readonly kind: 'behaviour' | 'process';
  readonly status: 'runnable' | 'waiting' | 'running' | 'exiting';
  readonly queueLength: number;
  readonly links: readonly Pid[];
  readonly monitoredBy: number;
  readonly monitoring: number;
  readonly timers: number;
  readonly trapExit: boolean;
  readonly name: string | undefined;
}

/** Everything an actor can do; the same object is passed to every handler. */
export interface ActorContext {
  readonly self: Pid;
  /** The pid this actor was linked to when it was started (the `link` option), as OTP's parent; undefined otherwise. */
  readonly parent: Pid | undefined;
  readonly log: Logger;
  /** Milliseconds from the node's clock (a manual clock in tests). */
  now(): number;
  send(dest: Dest, msg: unknown): void;
  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R>;
  /** Answers a call whose `handleCall` returned `noreply`, or a `CallMessage` in a process. */
  reply(from: From, value: unknown): void;
  spawn<A>(spec: Behaviour<any, A> | ProcessFn<A>, args?: A, options?: SpawnOptions): Pid;
  /** Starts an actor (any spec, any scheduler) and resolves once its `init` has returned. */
  start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid>;
  monitor(dest: Dest): Ref;
  /** Removes a monitor; a DOWN already queued for it is dropped too. */
  demonitor(ref: Ref): boolean;
  link(pid: Pid): void;
  unlink(pid: Pid): void;
  exit(pid: Pid, reason: ExitReason): void;
  trapExit(on: boolean): void;
  /** Ends this actor once the current handler returns (behaviour: after `terminate`). */
  stop(reason?: ExitReason): void;
  register(name: string, pid?: Pid): void;
  unregister(name: string): void;
  whereis(name: string): Pid | undefined;
  sendAfter(delayMs: number, msg: unknown, dest?: Dest): Ref;
  cancelTimer(ref: Ref): boolean;
  monitorNode(node: string): void;
  demonitorNode(node: string): void;
  /** Selective receive (process-style actors): resolves with the first matching message, or undefined after `timeoutMs`. */
  receive<T = any>(match?: (msg: any) => boolean, timeoutMs?: number): Promise<T | undefined>;
  /** Runs blocking CPU work on the node's dirty pool; a failure rejects with DirtyJobError. */
  dirty<R = unknown>(job: ModuleRef, input: unknown, options?: DirtyOptions): Promise<R>;
}

export interface DirtyOptions {
  /**
   * ArrayBuffers in `input` handed over to the pool's thread instead of copied (as
   * postMessage's transfer list): this thread must not use them afterwards. For large
   * inputs, where the copy would cost more than the job's setup.
   */
  readonly transfer?: readonly ArrayBuffer[];
}
