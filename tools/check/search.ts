// The Wing–Gong search with Lowe's memoization (as in Porcupine and Knossos' WGL): walk a
// linked list of call and return entries in time order; linearize a call by lifting it and
// its return out of the list; backtrack when a return is reached whose call is not yet
// linearized. Iterative, so long histories cannot overflow the stack.

import type { StepBudget } from './budget.js';
import { IndeterminateSet, LinearizedSet, SearchCache, type CacheEntry } from './cache.js';
import type { Operation } from './history.js';
import type { Model } from './model.js';
import { TwinClasses } from './twins.js';

export type SearchOutcome<S> =
  | { readonly kind: 'linearizable' }
  | { readonly kind: 'exhausted' }
  | {
      readonly kind: 'violation';
      /** Indexes into the operations, in the order of the longest linearization found. */
      readonly longest: readonly number[];
      /** The model state after `longest`. */
      readonly state: S;
    };

const NONE = -1;

/** Call and return entries in a doubly linked list, in parallel typed arrays. */
interface EntryList {
  readonly head: number;
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly operation: Int32Array;
  readonly isCall: Uint8Array;
  /** A call's return entry; NONE for indeterminate operations, which need never return. */
  readonly match: Int32Array;
}

export function searchLinearization<S>(operations: readonly Operation[], model: Model<S>, budget: StepBudget): SearchOutcome<S> {
  const list = buildEntryList(operations);
  const { head, next, isCall, match } = list;
  const { denseId, completedCount } = denseIds(operations);
  const twins = new TwinClasses(operations);
  const overwrites = Uint8Array.from(operations, (operation) => (model.overwrites?.(operation.op) === true ? 1 : 0));
  const completed = new LinearizedSet(completedCount);
  const indeterminate = new IndeterminateSet(operations.length - completedCount);
  const cache = new SearchCache(budget);
  const stack: Frame<S>[] = [];
  const best = new LongestTracker<S>();
  let state = model.init();
  let stateKey = model.hash(state);
  let entry = next[head]!;
  // Each window of candidates is walked twice: first the completed operations, then the
  // indeterminate ones, so the first visit to a state uses as few of them as it can and
  // the dominance check in the cache prunes the later visits.
  let pass: 'completed' | 'indeterminate' = 'completed';
  // Reaching the end means only calls of indeterminate operations remain: they may
  // never have taken effect, so the history is linearizable.
  while (entry !== NONE) {
    if (++budget.used > budget.limit) return { kind: 'exhausted' };
    if (isCall[entry] === 0) {
      if (pass === 'completed') {
        pass = 'indeterminate';
        entry = next[head]!;
        continue;
      }
      // A return whose call is still in the list: the current prefix cannot be extended.
      const frame = stack.pop();
      if (frame === undefined) return { kind: 'violation', longest: best.order, state: best.state ?? model.init() };
      frame.cached.closed = true;
      state = frame.state;
      stateKey = frame.stateKey;
      best.popped(stack.length);
      const id = list.operation[frame.call]!;
      const isIndeterminate = match[frame.call] === NONE;
      if (isIndeterminate) {
        indeterminate.remove(denseId[id]!);
        twins.unplace(id);
      } else completed.remove(denseId[id]!);
      unlift(list, frame.call);
      pass = isIndeterminate ? 'indeterminate' : 'completed';
      entry = next[frame.call]!;
      continue;
    }
    const isIndeterminate = match[entry] === NONE;
    if (isIndeterminate !== (pass === 'indeterminate')) {
      entry = next[entry]!;
      continue;
    }
    const id = list.operation[entry]!;
    if (isIndeterminate && !twins.isNext(id)) {
      entry = next[entry]!;
      continue;
    }
    // An indeterminate operation overwritten before anything saw its effect was useless:
    // the same order without it reaches the same state with fewer of them, and the
    // parent node tries that order. Without this, k indeterminate writes in a row
    // multiply the search by 2^k.
    if (overwrites[id] === 1 && stack.length > 0 && match[stack[stack.length - 1]!.call] === NONE) {
      entry = next[entry]!;
      continue;
    }
    const operation = operations[id]!;
    const stepped = model.step(state, operation.op, operation.result);
    const steppedKey = stepped.ok ? model.hash(stepped.state) : '';
    // An indeterminate operation that changes nothing here is never worth placing here:
    // any order that does so also works without it.
    if (stepped.ok && !(isIndeterminate && steppedKey === stateKey)) {
      if (isIndeterminate) indeterminate.add(denseId[id]!);
      else completed.add(denseId[id]!);
      const cached = cache.visit(completed, indeterminate, steppedKey);
      if (cached !== null) {
        if (isIndeterminate) twins.place(id);
        stack.push({ call: entry, state, stateKey, cached });
        state = stepped.state;
        stateKey = steppedKey;
        lift(list, entry);
        best.pushed(stack, list.operation, state);
        entry = next[head]!;
        pass = 'completed';
        continue;
      }
      if (isIndeterminate) indeterminate.remove(denseId[id]!);
      else completed.remove(denseId[id]!);
    }
    entry = next[entry]!;
  }
  return { kind: 'linearizable' };
}

interface Frame<S> {
  readonly call: number;
  /** The state before the call was linearized. */
  readonly state: S;
  readonly stateKey: string;
  readonly cached: CacheEntry;
}

/** Completed and indeterminate operations numbered apart, so each set stays dense. */
function denseIds(operations: readonly Operation[]): { denseId: Int32Array; completedCount: number } {
  const denseId = new Int32Array(operations.length);
  let completedCount = 0;
  let indeterminateCount = 0;
  operations.forEach((operation, id) => {
    denseId[id] = operation.returnMs === Infinity ? indeterminateCount++ : completedCount++;
  });
  return { denseId, completedCount };
}

/**
 * Keeps the deepest stack seen. Copies only the part of the stack pushed since the last
 * copy, so the total cost stays linear in the number of pushes.
 */
class LongestTracker<S> {
  readonly order: number[] = [];
  state: S | undefined = undefined;
  private unchangedDepth = 0;

  pushed(stack: readonly Frame<S>[], operationOf: Int32Array, state: S): void {
    if (stack.length <= this.order.length) return;
    for (let i = this.unchangedDepth; i < stack.length; i++) this.order[i] = operationOf[stack[i]!.call]!;
    this.unchangedDepth = stack.length;
    this.state = state;
  }

  popped(depth: number): void {
    if (depth < this.unchangedDepth) this.unchangedDepth = depth;
  }
}

function buildEntryList(operations: readonly Operation[]): EntryList {
  const order: { time: number; isCall: boolean; operation: number }[] = [];
  operations.forEach((operation, id) => {
    order.push({ time: operation.invokeMs, isCall: true, operation: id });
    if (operation.returnMs !== Infinity) order.push({ time: operation.returnMs, isCall: false, operation: id });
  });
  // Calls sort before returns at the same instant: such operations count as concurrent,
  // which can hide a violation but never invent one.
  order.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.operation - b.operation);
  const count = order.length;
  const list: EntryList = {
    head: count,
    next: new Int32Array(count + 1),
    prev: new Int32Array(count + 1),
    operation: new Int32Array(count + 1).fill(NONE),
    isCall: new Uint8Array(count + 1),
    match: new Int32Array(count + 1).fill(NONE),
  };
  const callOf = new Int32Array(operations.length).fill(NONE);
  let previous = list.head;
  order.forEach((item, index) => {
    list.operation[index] = item.operation;
    list.isCall[index] = item.isCall ? 1 : 0;
    if (item.isCall) callOf[item.operation] = index;
    else list.match[callOf[item.operation]!] = index;
    list.next[previous] = index;
    list.prev[index] = previous;
    previous = index;
  });
  list.next[previous] = NONE;
  list.prev[list.head] = NONE;
  return list;
}

function lift(list: EntryList, call: number): void {
  unlink(list, call);
  const ret = list.match[call]!;
  if (ret !== NONE) unlink(list, ret);
}

// Dancing links: relinking in the reverse order of unlinking restores the list exactly.
function unlift(list: EntryList, call: number): void {
  const ret = list.match[call]!;
  if (ret !== NONE) relink(list, ret);
  relink(list, call);
}

function unlink(list: EntryList, entry: number): void {
  const before = list.prev[entry]!;
  const after = list.next[entry]!;
  list.next[before] = after;
  if (after !== NONE) list.prev[after] = before;
}

function relink(list: EntryList, entry: number): void {
  const before = list.prev[entry]!;
  const after = list.next[entry]!;
  list.next[before] = entry;
  if (after !== NONE) list.prev[after] = entry;
}
