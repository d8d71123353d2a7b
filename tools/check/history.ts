// The recorded history of client operations, and its validation into paired operations.

import { BadHistoryError } from './errors.js';

export type ClientId = number | string;
export type OpId = number | string;

export interface HistoryOp {
  readonly type: string;
  readonly key?: string;
  readonly value?: unknown;
}

/**
 * One event of a client's operation. An 'invoke' is followed later by the same client's
 * 'ok' (took effect, with `result`), 'fail' (definitely did not take effect) or 'info' /
 * nothing (indeterminate: may have taken effect at any time after the invoke).
 */
export interface HistoryEvent {
  readonly clientId: ClientId;
  readonly opId: OpId;
  readonly kind: 'invoke' | 'ok' | 'fail' | 'info';
  readonly op: HistoryOp;
  readonly result?: unknown;
  readonly atMs: number;
}

/** What the model learns about an operation's outcome: its result, or nothing. */
export type OpResult = { readonly kind: 'ok'; readonly value: unknown } | { readonly kind: 'info' };

/** An invoke paired with its completion. Failed operations never become one. */
export interface Operation {
  readonly clientId: ClientId;
  readonly opId: OpId;
  readonly op: HistoryOp;
  readonly result: OpResult;
  readonly invokeMs: number;
  /** Infinity when indeterminate: the operation may take effect at any later time. */
  readonly returnMs: number;
}

const KINDS: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);

interface Invoked {
  readonly slot: number;
  readonly event: HistoryEvent;
  completed: boolean;
}

/**
 * Pairs invokes with completions and validates the history. Returns the operations that
 * may have taken effect, in invoke order; operations that failed are dropped.
 */
export function pairHistory(history: readonly HistoryEvent[]): Operation[] {
  if (!Array.isArray(history)) throw new BadHistoryError(-1, 'the history must be an array of events');
  // By client, then opId. Map keys keep client 1 and client '1' apart, with no key to build.
  const invoked = new Map<ClientId, Map<OpId, Invoked>>();
  const slots: (Operation | null)[] = [];
  history.forEach((event, index) => {
    validateEvent(event, index);
    let ofClient = invoked.get(event.clientId);
    const earlier = ofClient?.get(event.opId);
    if (event.kind === 'invoke') {
      if (earlier !== undefined) throw new BadHistoryError(index, `${describeId(event)} is invoked twice; opIds must be unique per client`);
      if (ofClient === undefined) {
        ofClient = new Map();
        invoked.set(event.clientId, ofClient);
      }
      ofClient.set(event.opId, { slot: slots.length, event, completed: false });
      slots.push(null);
      return;
    }
    if (earlier === undefined || earlier.completed) {
      const why = earlier === undefined ? 'was never invoked before it' : 'was already completed';
      throw new BadHistoryError(index, `'${event.kind}' completes ${describeId(event)}, which ${why}`);
    }
    if (event.atMs < earlier.event.atMs) {
      throw new BadHistoryError(index, `${describeId(event)} completes at ${event.atMs}ms, before its invoke at ${earlier.event.atMs}ms`);
    }
    earlier.completed = true;
    slots[earlier.slot] = event.kind === 'fail' ? null : complete(earlier.event, event);
  });
  for (const ofClient of invoked.values()) {
    for (const pending of ofClient.values()) if (!pending.completed) slots[pending.slot] = complete(pending.event, undefined);
  }
  return slots.filter((slot): slot is Operation => slot !== null);
}

function complete(invoke: HistoryEvent, completion: HistoryEvent | undefined): Operation {
  const known = completion !== undefined && completion.kind === 'ok';
  return {
    clientId: invoke.clientId,
    opId: invoke.opId,
    op: invoke.op,
    result: known ? { kind: 'ok', value: completion.result } : { kind: 'info' },
    invokeMs: invoke.atMs,
    returnMs: known ? completion.atMs : Infinity,
  };
}

function validateEvent(event: HistoryEvent, index: number): void {
  if (typeof event !== 'object' || event === null) throw new BadHistoryError(index, 'an event must be an object');
  if (!isId(event.clientId)) throw new BadHistoryError(index, 'clientId must be a number or a string');
  if (!isId(event.opId)) throw new BadHistoryError(index, 'opId must be a number or a string');
  if (!KINDS.has(event.kind)) throw new BadHistoryError(index, `kind must be invoke, ok, fail or info, got ${String(event.kind)}`);
  if (typeof event.atMs !== 'number' || !Number.isFinite(event.atMs)) {
    throw new BadHistoryError(index, `atMs must be a finite number, got ${String(event.atMs)}`);
  }
  if (event.kind === 'invoke' && (typeof event.op !== 'object' || event.op === null || typeof event.op.type !== 'string')) {
    throw new BadHistoryError(index, 'an invoke needs op.type, a string');
  }
}

function isId(value: unknown): value is ClientId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function describeId(event: HistoryEvent): string {
  return `op ${JSON.stringify(event.opId)} of client ${JSON.stringify(event.clientId)}`;
}
