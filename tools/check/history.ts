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

interface OpenOperation {
  readonly slot: number;
  readonly event: HistoryEvent;
}

/**
 * Pairs invokes with completions and validates the history. Returns the operations that
 * may have taken effect, in invoke order; operations that failed are dropped.
 */
export function pairHistory(history: readonly HistoryEvent[]): Operation[] {
  if (!Array.isArray(history)) throw new BadHistoryError(-1, 'the history must be an array of events');
  const open = new Map<string, OpenOperation>();
  const seen = new Set<string>();
  const slots: (Operation | null)[] = [];
  history.forEach((event, index) => {
    validateEvent(event, index);
    const id = identity(event);
    if (event.kind === 'invoke') {
      if (seen.has(id)) throw new BadHistoryError(index, `${describeId(event)} is invoked twice; opIds must be unique per client`);
      seen.add(id);
      open.set(id, { slot: slots.length, event });
      slots.push(null);
      return;
    }
    const invoke = open.get(id);
    if (invoke === undefined) {
      const why = seen.has(id) ? 'was already completed' : 'was never invoked before it';
      throw new BadHistoryError(index, `'${event.kind}' completes ${describeId(event)}, which ${why}`);
    }
    if (event.atMs < invoke.event.atMs) {
      throw new BadHistoryError(index, `${describeId(event)} completes at ${event.atMs}ms, before its invoke at ${invoke.event.atMs}ms`);
    }
    open.delete(id);
    slots[invoke.slot] = event.kind === 'fail' ? null : complete(invoke.event, event);
  });
  for (const pending of open.values()) slots[pending.slot] = complete(pending.event, undefined);
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

// Typed so that client 1 and client '1' stay apart.
function identity(event: HistoryEvent): string {
  return `${typeof event.clientId}:${event.clientId}\u0000${typeof event.opId}:${event.opId}`;
}

function describeId(event: HistoryEvent): string {
  return `op ${JSON.stringify(event.opId)} of client ${JSON.stringify(event.clientId)}`;
}
