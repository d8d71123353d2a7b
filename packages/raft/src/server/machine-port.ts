// The server actor's side of a machine's effects: sends, named timers, process and node
// monitors, appends. Monitors and timers belong to the leader that set them: it drops
// them when it stops leading, and a new leader's machine re-issues what it needs from
// `stateEnter('leader')` (Ra removes machine monitors on entering follower). Their
// notices become commands through the log, proposed only while this member leads.

import { type ActorContext, type Dest, type Ref, isPid, pidKey } from '@rafter/actors';
import type { MachineNotice } from '../internal/core/types.js';
import type { MachinePort } from './machine-effects.js';

/** The server behind a port (an object with methods: one port exists per server). */
export interface MachinePortOwner {
  /** Proposes a command on the machine's behalf, with no caller. */
  proposeNotice(command: unknown, priority: 'normal' | 'low'): void;
  warn(message: string): void;
}

/** Messages this port takes from the server's mailbox. */
type PortMessage =
  | { readonly type: 'DOWN'; readonly ref: Ref; readonly reason: unknown }
  | { readonly type: 'nodeup'; readonly node: string }
  | { readonly type: 'nodedown'; readonly node: string }
  | { readonly type: '$machineTimer'; readonly name: string; readonly seq: number };

// Most machines use none of this: the maps are made on first use.
export class ActorMachinePort implements MachinePort {
  /** Process monitors by target key; the target is given back in `{ down }` as the machine named it. */
  private processes: Map<string, { readonly ref: Ref; readonly target: unknown }> | undefined;
  private refs: Map<Ref, string> | undefined;
  private nodes: Set<string> | undefined;
  /** Timers by name, each with a sequence number so a fire of a replaced one is ignored. */
  private timers: Map<string, { readonly ref: Ref; readonly seq: number }> | undefined;
  private timerSeq = 0;

  constructor(
    private readonly ctx: ActorContext,
    private readonly owner: MachinePortOwner,
  ) {}

  private propose(command: unknown, priority: 'normal' | 'low'): void {
    this.owner.proposeNotice(command, priority);
  }

  private warn(message: string): void {
    this.owner.warn(message);
  }

  send(to: unknown, msg: unknown): void {
    try {
      this.ctx.send(to as Dest, msg);
    } catch (err) {
      this.warn(`a machine send effect was dropped: ${String(err)}`);
    }
  }

  setTimer(name: string, afterMs: number): void {
    const old = this.timers?.get(name);
    if (old !== undefined) this.ctx.cancelTimer(old.ref);
    this.timers?.delete(name);
    if (afterMs === Number.POSITIVE_INFINITY) return;
    const seq = ++this.timerSeq;
    const ref = this.ctx.sendAfter(Math.max(0, afterMs), { type: '$machineTimer', name, seq });
    (this.timers ??= new Map()).set(name, { ref, seq });
  }

  monitorProcess(target: unknown): void {
    const key = targetKey(target);
    if (key === undefined) return this.warn(`a machine monitor effect names no process: ${String(target)}`);
    if (this.processes?.has(key) === true) return;
    let ref: Ref;
    try {
      ref = this.ctx.monitor(target as Dest);
    } catch (err) {
      return this.warn(`a machine monitor effect failed: ${String(err)}`);
    }
    (this.processes ??= new Map()).set(key, { ref, target });
    (this.refs ??= new Map()).set(ref, key);
  }

  demonitorProcess(target: unknown): void {
    const key = targetKey(target);
    const found = key === undefined ? undefined : this.processes?.get(key);
    if (key === undefined || found === undefined) return;
    this.ctx.demonitor(found.ref);
    this.processes?.delete(key);
    this.refs?.delete(found.ref);
  }

  monitorNode(node: string): void {
    if (typeof node !== 'string' || this.nodes?.has(node) === true) return;
    (this.nodes ??= new Set()).add(node);
    this.ctx.monitorNode(node);
  }

  demonitorNode(node: string): void {
    if (this.nodes?.delete(node) !== true) return;
    this.ctx.demonitorNode(node);
  }

  append(command: unknown): void {
    this.propose(command, 'normal');
  }

  /** The member stopped leading: its monitors and timers go. */
  clear(): void {
    for (const { ref } of this.processes?.values() ?? []) this.ctx.demonitor(ref);
    this.processes = undefined;
    this.refs = undefined;
    for (const node of this.nodes ?? []) this.ctx.demonitorNode(node);
    this.nodes = undefined;
    for (const { ref } of this.timers?.values() ?? []) this.ctx.cancelTimer(ref);
    this.timers = undefined;
  }

  /**
   * Takes a DOWN of a machine monitor, a node event of a watched node, or a machine
   * timer, and proposes its notice if this member leads. False: not one of ours.
   */
  handle(msg: { readonly type?: unknown }, leading: boolean): boolean {
    const m = msg as PortMessage;
    switch (m.type) {
      case 'DOWN': {
        const key = this.refs?.get(m.ref);
        if (key === undefined) return false;
        const target = this.processes?.get(key)?.target;
        this.refs?.delete(m.ref);
        this.processes?.delete(key);
        // Low priority, as Ra appends `{down, Pid, Info}`.
        if (leading) this.propose({ down: target, reason: plainReason(m.reason) } satisfies MachineNotice, 'low');
        return true;
      }
      case 'nodeup':
      case 'nodedown':
        if (this.nodes?.has(m.node) !== true) return true; // demonitored since
        if (leading) this.propose((m.type === 'nodeup' ? { nodeup: m.node } : { nodedown: m.node }) satisfies MachineNotice, 'normal');
        return true;
      case '$machineTimer': {
        const timer = this.timers?.get(m.name);
        if (timer === undefined || timer.seq !== m.seq) return true;
        this.timers?.delete(m.name);
        if (leading) this.propose({ timeout: m.name } satisfies MachineNotice, 'normal');
        return true;
      }
      default:
        return false;
    }
  }
}

function targetKey(target: unknown): string | undefined {
  if (isPid(target)) return `pid:${pidKey(target)}`;
  const named = target as { name?: unknown; node?: unknown } | undefined;
  if (typeof named === 'object' && named !== null && typeof named.name === 'string' && typeof named.node === 'string') return `name:${named.name}@${named.node}`;
  if (typeof target === 'string') return `name:${target}`;
  return undefined;
}

/** Exit reasons go into the log: an Error becomes its message. */
function plainReason(reason: unknown): unknown {
  return reason instanceof Error ? { error: reason.message } : reason;
}
