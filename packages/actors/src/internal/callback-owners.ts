// Which actor owns a callback: a timer, immediate or promise created while an actor's
// code ran belongs to that actor, so an error thrown from it (or a promise it leaves
// rejected) crashes that actor alone, never its thread or the process.
//
// An async_hooks `init` hook copies the owner from the running resource to each new one.
// The runtime marks the running resource only around actor code (a handler's turn, an
// init, a process's start): one property store per turn, no allocation.

import { createHook, executionAsyncResource } from 'node:async_hooks';

const OWNER = Symbol('rafter.actor');

type Marked = Record<symbol, unknown>;

export interface CallbackOwner {
  /** An error escaped a callback of this actor's: it crashes. */
  crashFromCallback(err: unknown): void;
}

let installed = false;

/**
 * Installs, once per thread, the hook and the handlers that route errors from actors'
 * callbacks to their actors. An error no actor owns goes to `unowned`.
 */
export function isolateActorCallbacks(unowned: (err: unknown, kind: 'uncaughtException' | 'unhandledRejection') => void): void {
  if (installed) return;
  installed = true;
  createHook({
    init(_asyncId, _type, _triggerId, resource) {
      const owner = (executionAsyncResource() as Marked)[OWNER];
      if (owner !== undefined) (resource as Marked)[OWNER] = owner;
    },
  }).enable();
  process.on('uncaughtException', (err) => {
    const owner = (executionAsyncResource() as Marked)[OWNER] as CallbackOwner | undefined;
    if (owner !== undefined) owner.crashFromCallback(err);
    else unowned(err, 'uncaughtException');
  });
  process.on('unhandledRejection', (reason, promise) => {
    const owner = (promise as unknown as Marked)[OWNER] as CallbackOwner | undefined;
    if (owner !== undefined) owner.crashFromCallback(reason);
    else unowned(reason, 'unhandledRejection');
  });
}

/** The resource running now, to mark with `setOwner` around actor code. */
export function runningResource(): Marked {
  return executionAsyncResource() as Marked;
}

export function setOwner(resource: Marked, owner: CallbackOwner | undefined): void {
  resource[OWNER] = owner;
}

export function ownerOf(resource: Marked): CallbackOwner | undefined {
  return resource[OWNER] as CallbackOwner | undefined;
}
