// Starting an actor on any scheduler of the node: a spec given as {module, export}
// crosses threads as a `spawn` signal and is loaded by the target scheduler; a function
// or object starts only where it is.

import { InvalidArgumentError, encodeError } from '../errors.js';
import { isPid, type Pid } from '../pid.js';
import type { ActorSpec, Behaviour, ProcessFn, SpawnOptions } from '../types.js';
import type { Scheduler } from './scheduler.js';
import { isModuleRef } from './scheduler-helpers.js';
import type { Signal, SpawnWireOptions } from './signals.js';

/** Starts `spec` on the scheduler `options.scheduler` names (this one by default); resolves once its init has returned. */
export function startActor(s: Scheduler, spec: ActorSpec, args: unknown, options?: SpawnOptions): Promise<Pid> {
  const target = options?.scheduler ?? s.index;
  if (!Number.isInteger(target) || target < 0 || target >= s.host.schedulerCount) {
    return Promise.reject(new InvalidArgumentError(`scheduler ${target} does not exist; this node has schedulers 0..${s.host.schedulerCount - 1}`));
  }
  if (isModuleRef(spec)) {
    const wire: SpawnWireOptions = { name: options?.name, trapExit: options?.trapExit, link: isPid(options?.link) ? options.link : undefined };
    const ref = s.makeRef();
    const to = s.host.schedulerPid(target);
    const promise = s.calls.await(ref, `scheduler ${target}`, to, s.pid, Infinity, false);
    s.route({ k: 'spawn', to, ref, replyTo: s.pid, spec, args, options: wire });
    return promise as Promise<Pid>;
  }
  if (target !== s.index) {
    return Promise.reject(new InvalidArgumentError('functions and objects cannot cross threads: start actors on another scheduler from {module, export}'));
  }
  return new Promise((resolve, reject) => {
    try {
      s.spawn(spec as Behaviour | ProcessFn, args, { ...options, scheduler: undefined }, (err, pid) => {
        if (err === undefined) resolve(pid!);
        else reject(err);
      });
    } catch (err) {
      reject(err);
    }
  });
}

/** Starts the actor a `spawn` signal asks for, and replies with its pid or why it did not start. */
export function spawnFromModule(s: Scheduler, signal: Extract<Signal, { k: 'spawn' }>): void {
  const reply = (ok: boolean, value: unknown) => s.route({ k: 'reply', to: signal.replyTo, ref: signal.ref, ok, value: ok ? value : encodeError(value) });
  s.host.loadModule(signal.spec).then(
    (spec) => {
      try {
        s.spawn(spec, signal.args, { ...signal.options, scheduler: undefined }, (err, pid) => {
          if (err === undefined) reply(true, pid);
          else reply(false, err);
        });
      } catch (err) {
        reply(false, err);
      }
    },
    (err: unknown) => reply(false, err),
  );
}
