// Helpers shared by the hosts of every thread: failing undeliverable signals the way
// Erlang does, and loading actors from module specifiers.

import { pathToFileURL } from 'node:url';
import { encodeError, InvalidArgumentError, NoProcError } from '../errors.js';
import { formatPid, isPid } from '../pid.js';
import type { Behaviour, ModuleRef, ProcessFn } from '../types.js';
import type { Signal } from './signals.js';

/**
 * The answer to a signal that cannot reach its target (no such scheduler, no
 * connection): monitors get DOWN, links get EXIT, requests get an error; plain
 * messages are dropped, as Erlang drops messages to dead pids.
 */
export function bounce(signal: Signal, reason: 'noproc' | 'noconnection'): Signal | undefined {
  switch (signal.k) {
    case 'monitor':
    case 'call':
      return { k: 'down', to: signal.from, ref: signal.ref, pid: signal.to, reason };
    case 'monitorName':
      return { k: 'down', to: signal.from, ref: signal.ref, pid: { name: signal.name, node: signal.node }, reason };
    case 'link':
      return { k: 'exit', from: signal.to, to: signal.from, reason, link: true };
    case 'spawn':
    case 'info':
      return { k: 'reply', to: signal.replyTo, ref: signal.ref, ok: false, value: encodeError(new NoProcError(formatPid(signal.to))) };
    default:
      return undefined;
  }
}

/**
 * The answer to an item that could not be copied to scheduler `target` (structured
 * clone refused it): a call or spawn gets a typed error, anything else is dropped
 * with a logged reason.
 */
export function refuseUncloneable(target: number, item: unknown, err: Error): { reply?: Signal; log: string } {
  const why = `could not be copied to scheduler ${target} (${err.message}); actors on other schedulers take plain data: no functions, sockets or class instances`;
  const error = (what: string) => encodeError(new InvalidArgumentError(`${what} ${why}`));
  if (Array.isArray(item)) {
    const msg = item[1] as { type?: unknown; from?: { pid?: unknown; ref?: unknown } } | undefined;
    if (msg?.type === '$call' && isPid(msg.from?.pid) && typeof msg.from.ref === 'string') {
      return { reply: { k: 'reply', to: msg.from.pid, ref: msg.from.ref, ok: false, value: error('the call request') }, log: `a call request ${why}` };
    }
    return { log: `a message to actor ${String(item[0])} ${why}; it was dropped` };
  }
  const signal = item as Signal;
  if (signal.k === 'call') return { reply: { k: 'reply', to: signal.from, ref: signal.ref, ok: false, value: error('the call request') }, log: `a call request ${why}` };
  if (signal.k === 'spawn') return { reply: { k: 'reply', to: signal.replyTo, ref: signal.ref, ok: false, value: error('the start arguments') }, log: `a start request ${why}` };
  if (signal.k === 'reply') return { reply: { ...signal, ok: false, value: error('the reply') }, log: `a reply ${why}` };
  // A link or monitor must still fire: with the reason replaced.
  if (signal.k === 'exit' || signal.k === 'down') return { reply: { ...signal, reason: error('the exit reason') }, log: `an exit reason ${why}` };
  return { log: `a ${String(signal.k ?? (item as { c?: string }).c)} signal ${why}; it was dropped` };
}

const moduleCache = new Map<string, Promise<Behaviour | ProcessFn>>();

/** Imports `ref.module` and returns its export `ref.export`, checked to be an actor. */
export function loadActorModule(ref: ModuleRef): Promise<Behaviour | ProcessFn> {
  const key = `${ref.module}#${ref.export}`;
  let loaded = moduleCache.get(key);
  if (loaded === undefined) {
    loaded = importExport(ref).then((value) => {
      if (typeof value === 'function') return value as ProcessFn;
      if (typeof value === 'object' && value !== null && typeof (value as Behaviour).init === 'function') return value as Behaviour;
      throw new InvalidArgumentError(`export '${ref.export}' of ${ref.module} is not an actor (a behaviour with init() or a process function)`);
    });
    loaded.catch(() => moduleCache.delete(key));
    moduleCache.set(key, loaded);
  }
  return loaded;
}

export async function importExport(ref: ModuleRef): Promise<unknown> {
  const specifier = ref.module.startsWith('/') ? pathToFileURL(ref.module).href : ref.module;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`cannot load module ${ref.module}: ${(err as Error).message}`);
  }
  if (!(ref.export in mod)) throw new InvalidArgumentError(`module ${ref.module} has no export '${ref.export}'`);
  return mod[ref.export];
}
