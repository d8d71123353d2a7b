// A key/register store: put(key, value), get(key) -> value, cas(key, {from, to}) -> boolean.

import type { HistoryOp, OpResult, Operation } from './history.js';
import { formatValue, type Model, type StepResult } from './model.js';

/** The value of one key; undefined when missing. Partitioning gives each key its own search. */
export type RegisterState = unknown;

export interface CasValue {
  readonly from: unknown;
  readonly to: unknown;
}

// Not valid JSON, so no value serializes to it.
const MISSING = 'missing';

/** Canonical form of a value: null and undefined both mean "missing". */
export function registerValueKey(value: unknown): string {
  if (value === undefined || value === null) return MISSING;
  if (typeof value === 'number') return String(value); // hot path; strings still need quotes
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? String(value);
}

export const registerModel: Model<RegisterState> = {
  init: () => undefined,
  step: stepRegister,
  hash: registerValueKey,
  partition: partitionByKey,
  isReadOnly: (op) => op.type === 'get',
  overwrites: (op) => op.type === 'put',
  settle: settleRegister,
  describeOp: describeRegisterOp,
  describeState: (state) => (state === undefined || state === null ? 'missing' : formatValue(state)),
};

function stepRegister(state: RegisterState, op: HistoryOp, result: OpResult): StepResult<RegisterState> {
  switch (op.type) {
    case 'put':
      return { ok: true, state: op.value };
    case 'get':
      return { ok: result.kind === 'info' || registerValueKey(result.value) === registerValueKey(state), state };
    case 'cas':
      return stepCas(state, casValue(op), result);
    default:
      throw new TypeError(`registerModel knows put, get and cas, not ${op.type}`);
  }
}

// A cas whose result is false did not swap; any other result means it did.
function stepCas(state: RegisterState, cas: CasValue, result: OpResult): StepResult<RegisterState> {
  const matches = registerValueKey(state) === registerValueKey(cas.from);
  if (result.kind === 'info') return { ok: true, state: matches ? cas.to : state };
  if (result.value === false) return { ok: !matches, state };
  return { ok: matches, state: cas.to };
}

function casValue(op: HistoryOp): CasValue {
  const value = op.value as Partial<CasValue> | null | undefined;
  if (typeof value !== 'object' || value === null || !('from' in value) || !('to' in value)) {
    throw new TypeError(`cas on key ${formatValue(op.key)} needs value { from, to }`);
  }
  return { from: value.from, to: value.to };
}

/**
 * Two rules, each keeping a part linearizable exactly when it was:
 * - A value that only one operation writes, and that a completed operation needed (a get
 *   returned it, a cas swapped from it), was written by that one before the first such
 *   completion: an indeterminate writer gets that time as its return (a cas, result true).
 * - An indeterminate put whose value no completed get returned can be left out when the
 *   part has no cas: between it and the next write only gets could see it, and none did.
 * With unique written values (as recorders should write), this leaves no indeterminate
 * write for the search to guess about.
 */
function settleRegister(operations: readonly Operation[]): (Operation | null)[] {
  const writers = new Map<string, number>();
  const firstNeededMs = new Map<string, number>();
  const needed = (value: unknown, atMs: number): void => {
    const key = registerValueKey(value);
    firstNeededMs.set(key, Math.min(firstNeededMs.get(key) ?? Infinity, atMs));
  };
  let hasCas = false;
  for (const { op, result, returnMs } of operations) {
    const written = writtenValue(op, result);
    if (written !== undefined) writers.set(written, (writers.get(written) ?? 0) + 1);
    if (op.type === 'cas') {
      hasCas = true;
      if (result.kind === 'ok' && result.value !== false) needed(casValue(op).from, returnMs);
    } else if (op.type === 'get' && result.kind === 'ok') needed(result.value, returnMs);
  }
  return operations.map((operation) => {
    const written = writtenValue(operation.op, operation.result);
    if (operation.returnMs !== Infinity || written === undefined) return operation;
    const neededMs = firstNeededMs.get(written);
    if (neededMs === undefined) return operation.op.type === 'put' && !hasCas ? null : operation;
    // The initial (missing) value needs no writer.
    if (written === MISSING || writers.get(written) !== 1) return operation;
    const value = operation.op.type === 'cas' ? true : undefined;
    return { ...operation, result: { kind: 'ok', value }, returnMs: Math.max(operation.invokeMs, neededMs) };
  });
}

/** The value an operation may write; undefined when it writes nothing. */
function writtenValue(op: HistoryOp, result: OpResult): string | undefined {
  if (op.type === 'put') return registerValueKey(op.value);
  if (op.type === 'cas' && !(result.kind === 'ok' && result.value === false)) return registerValueKey(casValue(op).to);
  return undefined;
}

export function partitionByKey(operations: readonly Operation[]): Map<string, Operation[]> {
  const parts = new Map<string, Operation[]>();
  for (const operation of operations) {
    const key = operation.op.key ?? '';
    let part = parts.get(key);
    if (part === undefined) {
      part = [];
      parts.set(key, part);
    }
    part.push(operation);
  }
  return parts;
}

function describeRegisterOp(op: HistoryOp, result: OpResult): string {
  const outcome = result.kind === 'ok' ? formatValue(result.value) : '?';
  const key = formatValue(op.key);
  switch (op.type) {
    case 'put':
      return `put(${key}, ${formatValue(op.value)})`;
    case 'get':
      return `get(${key}) -> ${outcome}`;
    case 'cas': {
      const cas = op.value as Partial<CasValue> | undefined;
      return `cas(${key}, ${formatValue(cas?.from)}, ${formatValue(cas?.to)}) -> ${outcome}`;
    }
    default:
      return `${op.type}(${key}, ${formatValue(op.value)}) -> ${outcome}`;
  }
}
