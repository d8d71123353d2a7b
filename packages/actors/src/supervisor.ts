// Supervisors as in OTP: start children in order, restart them by strategy within a
// restart intensity, and shut them down in reverse order with a timeout, then kill.

import { InvalidArgumentError } from './errors.js';
import { SCHEDULER_PID_ID } from './internal/signals.js';
import {
  SUPERVISOR_INTENSITY_DEFAULT,
  SUPERVISOR_PERIOD_MS_DEFAULT,
  SUPERVISOR_SHUTDOWN_MS_DEFAULT,
} from './limits.js';
import { formatPid, isPid, pidEquals, type Dest, type Pid } from './pid.js';
import type { ActorContext, ActorSpec, Behaviour, CallOptions, CallResult, DownMessage, ExitMessage, SpawnOptions } from './types.js';

export type RestartPolicy = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type Shutdown = number | 'brutal_kill' | 'infinity';

export interface ChildSpec {
  readonly id: string;
  readonly start: {
    readonly spec: ActorSpec;
    readonly args?: unknown;
    readonly scheduler?: number;
    readonly name?: string;
  };
  /** permanent: always restarted; transient: only after an abnormal exit; temporary: never. Default permanent. */
  readonly restart?: RestartPolicy;
  /** Time to stop after 'shutdown' before it is killed; default 5,000 ms for workers, 'infinity' for supervisors. */
  readonly shutdown?: Shutdown;
  readonly type?: 'worker' | 'supervisor';
}

export interface SupervisorSpec {
  readonly strategy?: Strategy;
  /** Restarts allowed within `periodMs`; one more stops the supervisor. */
  readonly intensity?: number;
  readonly periodMs?: number;
  readonly children: readonly ChildSpec[];
}

export interface ChildInfo {
  readonly id: string;
  readonly pid: Pid | undefined;
  readonly type: 'worker' | 'supervisor';
}

/** The reason a supervisor exits with when its children fail too often. */
export const MAX_RESTART_INTENSITY = 'reached_max_restart_intensity';

type Caller = { call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R> };
type Starter = { start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid> };

interface Child {
  spec: ChildSpec;
  pid: Pid | undefined;
}

interface State {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  children: Child[];
  restarts: number[];
}

type Request =
  | { op: 'whichChildren' }
  | { op: 'startChild'; spec: ChildSpec }
  | { op: 'terminateChild'; id: string }
  | { op: 'restartChild'; id: string }
  | { op: 'deleteChild'; id: string };

/** The supervisor behaviour; start it with `startSupervisor` or as a child from `supervisorChild`. */
export const supervisor: Behaviour<State, SupervisorSpec> = {
  async init(ctx, spec) {
    checkSupervisorSpec(spec);
    ctx.trapExit(true);
    const state: State = {
      strategy: spec.strategy ?? 'one_for_one',
      intensity: spec.intensity ?? SUPERVISOR_INTENSITY_DEFAULT,
      periodMs: spec.periodMs ?? SUPERVISOR_PERIOD_MS_DEFAULT,
      children: spec.children.map((childSpec) => ({ spec: childSpec, pid: undefined })),
      restarts: [],
    };
    try {
      for (const child of state.children) await launchChild(ctx, child);
    } catch (err) {
      await shutdownChildren(ctx, state.children);
      throw err;
    }
    return state;
  },

  async handle(msg, state, ctx) {
    if (!isExitMessage(msg)) return state;
    const child = state.children.find((c) => c.pid !== undefined && pidEquals(c.pid, msg.from));
    if (child === undefined) {
      // From the parent or the node (node.exit, node.stop): stop with it. Anything else, as in
      // OTP, is ignored: typically the EXIT of a child already replaced (one_for_all after a crash).
      if (isFromAbove(ctx, msg.from)) ctx.stop(msg.reason);
      else ctx.log.debug({ supervisor: formatPid(ctx.self), from: formatPid(msg.from) }, 'supervisor ignored an EXIT from a process that is not its child');
      return state;
    }
    child.pid = undefined;
    await onChildExit(ctx, state, child, msg.reason);
    return state;
  },

  async handleCall(request: Request, _from, state, ctx): Promise<CallResult<State>> {
    switch (request.op) {
      case 'whichChildren':
        return { reply: state.children.map(describeChild), state };
      case 'startChild': {
        checkChildSpec(request.spec);
        if (state.children.some((c) => c.spec.id === request.spec.id)) {
          return { reply: { ok: false, error: `a child with id '${request.spec.id}' already exists` }, state };
        }
        const child: Child = { spec: request.spec, pid: undefined };
        try {
          await launchChild(ctx, child);
        } catch (err) {
          return { reply: { ok: false, error: String((err as Error).message ?? err) }, state };
        }
        state.children.push(child);
        return { reply: { ok: true, pid: child.pid }, state };
      }
      case 'terminateChild': {
        const child = state.children.find((c) => c.spec.id === request.id);
        if (child === undefined) return { reply: { ok: false, error: `no child '${request.id}'` }, state };
        await shutdownChildren(ctx, [child]);
        if (child.spec.restart === 'temporary') state.children = state.children.filter((c) => c !== child);
        return { reply: { ok: true }, state };
      }
      case 'restartChild': {
        const child = state.children.find((c) => c.spec.id === request.id);
        if (child === undefined) return { reply: { ok: false, error: `no child '${request.id}'` }, state };
        if (child.pid !== undefined) return { reply: { ok: false, error: `child '${request.id}' is running` }, state };
        await launchChild(ctx, child);
        return { reply: { ok: true, pid: child.pid }, state };
      }
      case 'deleteChild': {
        const child = state.children.find((c) => c.spec.id === request.id);
        if (child === undefined) return { reply: { ok: false, error: `no child '${request.id}'` }, state };
        if (child.pid !== undefined) return { reply: { ok: false, error: `child '${request.id}' is running` }, state };
        state.children = state.children.filter((c) => c !== child);
        return { reply: { ok: true }, state };
      }
      default:
        throw new InvalidArgumentError(`unknown supervisor request ${JSON.stringify(request)}`);
    }
  },

  async terminate(_reason, state, ctx) {
    if (state !== undefined) await shutdownChildren(ctx, state.children);
  },
};

/** Starts a supervisor (from a node or from inside an actor) and resolves once all its children have started. */
export function startSupervisor(starter: Starter, spec: SupervisorSpec, options: SpawnOptions = {}): Promise<Pid> {
  checkSupervisorSpec(spec);
  return starter.start(supervisor, spec, options);
}

/** A child spec that nests a supervisor in a tree. */
export function supervisorChild(id: string, spec: SupervisorSpec, restart: RestartPolicy = 'permanent'): ChildSpec {
  return { id, start: { spec: supervisor, args: spec }, restart, type: 'supervisor', shutdown: 'infinity' };
}

export function whichChildren(caller: Caller, sup: Dest): Promise<ChildInfo[]> {
  return caller.call(sup, { op: 'whichChildren' } satisfies Request);
}

export async function startChild(caller: Caller, sup: Dest, spec: ChildSpec): Promise<Pid> {
  checkChildSpec(spec);
  const result = await caller.call<{ ok: boolean; pid?: Pid; error?: string }>(sup, { op: 'startChild', spec } satisfies Request);
  if (!result.ok || result.pid === undefined) throw new InvalidArgumentError(`could not start child '${spec.id}': ${result.error}`);
  return result.pid;
}

export async function terminateChild(caller: Caller, sup: Dest, id: string): Promise<void> {
  await supervisorOp(caller, sup, { op: 'terminateChild', id });
}

export async function restartChild(caller: Caller, sup: Dest, id: string): Promise<void> {
  await supervisorOp(caller, sup, { op: 'restartChild', id });
}

export async function deleteChild(caller: Caller, sup: Dest, id: string): Promise<void> {
  await supervisorOp(caller, sup, { op: 'deleteChild', id });
}

async function supervisorOp(caller: Caller, sup: Dest, request: Request): Promise<void> {
  const result = await caller.call<{ ok: boolean; error?: string }>(sup, request);
  if (!result.ok) throw new InvalidArgumentError(`supervisor ${request.op} failed: ${result.error}`);
}

// ---- restarts ----

async function onChildExit(ctx: ActorContext, state: State, child: Child, reason: unknown): Promise<void> {
  const restart = child.spec.restart ?? 'permanent';
  if (restart === 'temporary') {
    state.children = state.children.filter((c) => c !== child);
    return;
  }
  if (restart === 'transient' && isCleanExit(reason)) return;
  for (;;) {
    if (tooManyRestarts(ctx, state)) {
      ctx.log.error({ supervisor: formatPid(ctx.self), child: child.spec.id, reason }, 'supervisor reached its restart intensity; stopping');
      ctx.stop(MAX_RESTART_INTENSITY);
      return;
    }
    try {
      await restartByStrategy(ctx, state, child);
      return;
    } catch (err) {
      ctx.log.error({ supervisor: formatPid(ctx.self), child: child.spec.id, err }, 'child restart failed');
    }
  }
}

function tooManyRestarts(ctx: ActorContext, state: State): boolean {
  const nowMs = ctx.now();
  state.restarts = state.restarts.filter((atMs) => nowMs - atMs < state.periodMs);
  state.restarts.push(nowMs);
  return state.restarts.length > state.intensity;
}

async function restartByStrategy(ctx: ActorContext, state: State, failed: Child): Promise<void> {
  const position = state.children.indexOf(failed);
  const affected =
    state.strategy === 'one_for_one' ? [failed]
    : state.strategy === 'one_for_all' ? state.children
    : state.children.slice(position);
  await shutdownChildren(ctx, affected.filter((c) => c !== failed));
  // Temporary children that were shut down for a sibling are not restarted.
  state.children = state.children.filter((c) => c === failed || !affected.includes(c) || (c.spec.restart ?? 'permanent') !== 'temporary');
  for (const child of affected) {
    if (state.children.includes(child) && child.pid === undefined) await launchChild(ctx, child);
  }
}

async function launchChild(ctx: ActorContext, child: Child): Promise<void> {
  const { spec, args, scheduler, name } = child.spec.start;
  child.pid = await ctx.start(spec, args, { link: true, scheduler, name });
}

/** Stops running children in reverse order, each as its shutdown setting says. */
async function shutdownChildren(ctx: ActorContext, children: readonly Child[]): Promise<void> {
  for (const child of [...children].reverse()) {
    const pid = child.pid;
    if (pid === undefined) continue;
    child.pid = undefined;
    ctx.unlink(pid);
    const shutdown = child.spec.shutdown ?? (child.spec.type === 'supervisor' ? 'infinity' : SUPERVISOR_SHUTDOWN_MS_DEFAULT);
    const timeoutMs = shutdown === 'infinity' ? undefined : shutdown === 'brutal_kill' ? 0 : shutdown;
    const exited = timeoutMs === 0 ? Promise.resolve(false) : waitForExit(ctx, pid, timeoutMs);
    if (timeoutMs !== 0) ctx.exit(pid, 'shutdown');
    if (!(await exited)) {
      if (timeoutMs !== 0) ctx.log.warn({ supervisor: formatPid(ctx.self), child: child.spec.id, shutdownMs: timeoutMs }, 'child did not stop in time; killing it');
      const killed = waitForExit(ctx, pid);
      ctx.exit(pid, 'kill');
      await killed;
    }
  }
}

/**
 * Resolves true once `pid` has exited, false after `timeoutMs`. A helper process
 * monitors it, so a behaviour can await the exit (with the node's clock).
 */
function waitForExit(ctx: ActorContext, pid: Pid, timeoutMs?: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    ctx.spawn(async (helper: ActorContext) => {
      try {
        helper.monitor(pid);
        const down = await helper.receive((m: DownMessage) => m?.type === 'DOWN', timeoutMs);
        resolve(down !== undefined);
      } catch (err) {
        reject(err);
      }
    }, undefined);
  });
}

/** The supervisor's parent, or the node itself (a scheduler's pid: node.exit and node.stop send from it). */
function isFromAbove(ctx: ActorContext, from: Pid): boolean {
  if (ctx.parent !== undefined && pidEquals(from, ctx.parent)) return true;
  return from.id === SCHEDULER_PID_ID && from.node === ctx.self.node;
}

function isCleanExit(reason: unknown): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && reason !== null && 'shutdown' in reason);
}

function isExitMessage(msg: unknown): msg is ExitMessage {
  return typeof msg === 'object' && msg !== null && (msg as ExitMessage).type === 'EXIT' && isPid((msg as ExitMessage).from);
}

function describeChild(child: Child): ChildInfo {
  return { id: child.spec.id, pid: child.pid, type: child.spec.type ?? 'worker' };
}

function checkSupervisorSpec(spec: SupervisorSpec): void {
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.children)) {
    throw new InvalidArgumentError('a supervisor spec needs a children array');
  }
  if (spec.strategy !== undefined && !['one_for_one', 'one_for_all', 'rest_for_one'].includes(spec.strategy)) {
    throw new InvalidArgumentError(`unknown supervisor strategy '${spec.strategy}'; use one_for_one, one_for_all or rest_for_one`);
  }
  if (spec.intensity !== undefined && !(Number.isInteger(spec.intensity) && spec.intensity >= 0)) {
    throw new InvalidArgumentError(`supervisor intensity must be an integer >= 0, got ${spec.intensity}`);
  }
  if (spec.periodMs !== undefined && !(spec.periodMs > 0)) {
    throw new InvalidArgumentError(`supervisor periodMs must be > 0, got ${spec.periodMs}`);
  }
  const ids = new Set<string>();
  for (const child of spec.children) {
    checkChildSpec(child);
    if (ids.has(child.id)) throw new InvalidArgumentError(`two children have the id '${child.id}'`);
    ids.add(child.id);
  }
}

function checkChildSpec(child: ChildSpec): void {
  if (typeof child?.id !== 'string' || child.id.length === 0) throw new InvalidArgumentError('a child spec needs a non-empty string id');
  if (child.start === undefined || child.start.spec === undefined) throw new InvalidArgumentError(`child '${child.id}' needs start.spec`);
  if (child.restart !== undefined && !['permanent', 'transient', 'temporary'].includes(child.restart)) {
    throw new InvalidArgumentError(`child '${child.id}': restart must be permanent, transient or temporary`);
  }
  const shutdown = child.shutdown;
  if (shutdown !== undefined && shutdown !== 'brutal_kill' && shutdown !== 'infinity' && !(typeof shutdown === 'number' && shutdown >= 0)) {
    throw new InvalidArgumentError(`child '${child.id}': shutdown must be a number of ms >= 0, 'brutal_kill' or 'infinity'`);
  }
}
