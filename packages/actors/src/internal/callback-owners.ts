// Which actor owns a callback: a timer, immediate, microtask, promise or event listener
// created while an actor's code ran belongs to that actor, so an error thrown from it (or
// a promise it leaves rejected) crashes that actor alone, never its thread or the process.
// EventTarget listeners (addEventListener) are not covered: see docs/actors.md.
//
// The runtime sets the running owner around actor code (a turn, an init, a process's
// start). V8's promise hooks copy it onto each promise created meanwhile and restore it
// while that promise's continuation runs; the timer functions and EventEmitter's listener
// registration, wrapped on scheduler threads, bind it to callbacks created meanwhile.
// Outside actor code (no owner) they pass callbacks through untouched. The runtime's own
// timers use the functions saved below, so its hot paths allocate nothing for this, and
// it opens its sockets outside any owner (`withoutOwner`).
//
// The running owner is two small integers: a table's number (a scheduler's, see
// `registerOwners`) and the actor's id in it, so marking it on every turn is two plain
// stores. Storing an object just made (an actor just spawned, the scheduler of a node
// just started) into a long-lived one pays V8's write barrier: a ping-pong lost 3-7% to
// it. A scheduler's slot stays taken after it stops, by a small stand-in.

import { EventEmitter } from 'node:events';
import { promiseHooks } from 'node:v8';

/** Owners by number (a scheduler and its actors' ids). */
export interface CallbackOwners {
  /** An error escaped a callback of owner `id`: it crashes (or, gone already, the error is logged). */
  crashFromCallback(id: number, err: unknown): void;
}

const OWNER = Symbol('rafter.owner');
const OWNER_ID = Symbol('rafter.ownerId');
type Marked = Record<symbol, unknown>;

/** Node's own timer functions, for the runtime's internal use. */
export const nodeSetTimeout = globalThis.setTimeout;
export const nodeSetImmediate = globalThis.setImmediate;
export const nodeQueueMicrotask = globalThis.queueMicrotask;
const nodeSetInterval = globalThis.setInterval;

/** Tables by number; 0 is no one's (outside actor code). */
const tables: (CallbackOwners | undefined)[] = [undefined];
export const NO_OWNER = 0;

/** The running owner: table `NO_OWNER` outside actor code. Fields of one object, which measured faster to write than module variables the hooks capture. */
export const running: { table: number; id: number } = { table: NO_OWNER, id: 0 };
let installed = false;

/** Gives `table` its number, for `setOwner`. */
export function registerOwners(table: CallbackOwners): number {
  tables.push(table);
  return tables.length - 1;
}

/**
 * Table `index` is done (its scheduler stopped): errors from its callbacks go to `late`
 * from now on, and the table itself is no longer kept alive from here.
 */
export function retireOwners(index: number, late: CallbackOwners): void {
  tables[index] = late;
}

/** Marks the code that runs from now on (until the next call) as owner `id` of table `table`'s, or no one's. */
export function setOwner(table: number, id: number): void {
  running.table = table;
  running.id = id;
}

function crashOwner(table: number, id: number, err: unknown): void {
  tables[table]!.crashFromCallback(id, err);
}

/** Runs runtime code that creates long-lived callbacks (a connection's) as no actor's, even when an actor's send started it. */
export function withoutOwner<T>(fn: () => T): T {
  const outerTable = running.table;
  const outerId = running.id;
  running.table = NO_OWNER;
  try {
    return fn();
  } finally {
    running.table = outerTable;
    running.id = outerId;
  }
}

/**
 * Installs, once per thread, what routes errors from actors' callbacks to their actors.
 * An error no actor owns goes to `unowned`.
 */
export function isolateActorCallbacks(unowned: (err: unknown, kind: 'uncaughtException' | 'unhandledRejection') => void): void {
  if (installed) return;
  installed = true;
  promiseHooks.onInit((promise) => {
    const table = running.table;
    if (table === NO_OWNER) return;
    (promise as unknown as Marked)[OWNER] = table;
    (promise as unknown as Marked)[OWNER_ID] = running.id;
  });
  promiseHooks.onBefore((promise) => {
    running.table = ((promise as unknown as Marked)[OWNER] as number | undefined) ?? NO_OWNER;
    running.id = ((promise as unknown as Marked)[OWNER_ID] as number | undefined) ?? 0;
  });
  promiseHooks.onAfter(() => {
    running.table = NO_OWNER;
  });
  const g = globalThis as Record<string, unknown>;
  g.setTimeout = wrapTimer(nodeSetTimeout);
  g.setInterval = wrapTimer(nodeSetInterval);
  g.setImmediate = wrapTimer(nodeSetImmediate);
  g.queueMicrotask = (callback: () => void) => nodeQueueMicrotask(running.table === NO_OWNER ? callback : owned(running.table, running.id, callback));
  ownListeners();
  process.on('uncaughtException', (err) => unowned(err, 'uncaughtException'));
  process.on('unhandledRejection', (reason, promise) => {
    const table = (promise as unknown as Marked)[OWNER] as number | undefined;
    if (table !== undefined) crashOwner(table, (promise as unknown as Marked)[OWNER_ID] as number, reason);
    else unowned(reason, 'unhandledRejection');
  });
}

function wrapTimer<F extends (callback: (...args: any[]) => void, ...rest: any[]) => unknown>(original: F): F {
  const wrapped = function (this: unknown, callback: (...args: any[]) => void, ...rest: any[]) {
    if (running.table === NO_OWNER || typeof callback !== 'function') return original.call(this, callback, ...rest);
    return original.call(this, owned(running.table, running.id, callback), ...rest);
  } as F;
  // Keep what hangs on Node's functions, such as util.promisify's custom form.
  for (const key of Object.getOwnPropertySymbols(original)) {
    Object.defineProperty(wrapped, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  return wrapped;
}

/**
 * A listener that actor code adds to an EventEmitter is the actor's: a throw from it
 * crashes the actor (and no longer comes out of `emit` into whoever emitted). The
 * wrapper's `listener` names the function the actor gave, which is how EventEmitter's
 * `removeListener`, `off` and `listeners` already see through `once`'s own wrapper;
 * `once` is done here for owned listeners, so a wrapper never wraps another.
 */
function ownListeners(): void {
  type Add = (this: EventEmitter, event: string | symbol, listener: Listener) => EventEmitter;
  const proto = EventEmitter.prototype as unknown as Record<'addListener' | 'on' | 'prependListener' | 'once' | 'prependOnceListener', Add>;
  const add = proto.addListener;
  const prepend = proto.prependListener;
  const once = proto.once;
  const prependOnce = proto.prependOnceListener;
  /** `unowned` as Node has it outside actor code; inside, the owned listener is added by `plain`. */
  const owning = (unowned: Add, plain: Add, isOnce: boolean): Add =>
    function (event, listener) {
      if (running.table === NO_OWNER || typeof listener !== 'function') return unowned.call(this, event, listener);
      return plain.call(this, event, ownedListener(running.table, running.id, this, event, listener, isOnce));
    };
  proto.addListener = proto.on = owning(add, add, false);
  proto.prependListener = owning(prepend, prepend, false);
  proto.once = owning(once, add, true);
  proto.prependOnceListener = owning(prependOnce, prepend, true);
}

type Listener = ((...args: any[]) => void) & { listener?: Listener };

function ownedListener(table: number, id: number, emitter: EventEmitter, event: string | symbol, listener: Listener, isOnce: boolean): Listener {
  const run = owned(table, id, listener);
  let fired = false;
  const wrapped: Listener = isOnce
    ? function (this: unknown, ...args: any[]) {
        if (fired) return;
        fired = true;
        emitter.removeListener(event, wrapped);
        run.apply(this, args);
      }
    : run;
  wrapped.listener = listener;
  return wrapped;
}

/** `callback` run as owner `id` of `table`'s code: what it creates is that owner's, and what it throws crashes the owner. */
function owned(table: number, id: number, callback: (...args: any[]) => void): (...args: any[]) => void {
  return function (this: unknown, ...args: any[]) {
    const outerTable = running.table;
    const outerId = running.id;
    running.table = table;
    running.id = id;
    try {
      callback.apply(this, args);
    } catch (err) {
      crashOwner(table, id, err);
    } finally {
      running.table = outerTable;
      running.id = outerId;
    }
  };
}
