// Small pure helpers of the scheduler: spec checks and the view `info()` gives of an actor.

import { InvalidArgumentError } from '../errors.js';
import type { Pid } from '../pid.js';
import type { ActorInfo, Behaviour, CallMessage, ModuleRef } from '../types.js';
import { BUSY, PROCESS, TERMINATING, TRAP_EXIT, type Actor } from './actor.js';
import { SCHEDULER_PID_ID } from './signals.js';

/**
 * Stands for "the actor a by-name monitor resolved to" on another node: a demonitor
 * sent to it is matched by ref on arrival (see the distribution layer).
 */
export function remoteNodePid(node: string): Pid {
  return { node, scheduler: 0, id: SCHEDULER_PID_ID, creation: 0 };
}

export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && typeof (value as ModuleRef).module === 'string' && typeof (value as ModuleRef).export === 'string';
}

export function isCallMessage(msg: unknown): msg is CallMessage {
  return typeof msg === 'object' && msg !== null && (msg as CallMessage).type === '$call' && (msg as CallMessage).from !== undefined;
}

export function checkSpec(spec: unknown): void {
  if (typeof spec === 'function') return;
  if (typeof spec === 'object' && spec !== null && typeof (spec as Behaviour).init === 'function') return;
  throw new InvalidArgumentError('an actor is a behaviour object with init() or an async process function');
}

export function describeActor(actor: Actor): ActorInfo {
  const flags = actor.flags;
  const waiting = (flags & PROCESS) !== 0 ? actor.waiter !== null : actor.queueLength() === 0;
  return {
    pid: actor.self,
    kind: (flags & PROCESS) !== 0 ? 'process' : 'behaviour',
    status: (flags & TERMINATING) !== 0 ? 'exiting' : (flags & BUSY) !== 0 ? 'running' : waiting ? 'waiting' : 'runnable',
    queueLength: actor.queueLength(),
    links: actor.linkedPids(),
    monitoredBy: actor.monitoredBy?.size ?? 0,
    monitoring: actor.monitoring?.size ?? 0,
    timers: actor.timers?.size ?? 0,
    trapExit: (flags & TRAP_EXIT) !== 0,
    name: actor.name,
  };
}
