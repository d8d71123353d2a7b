// checkLinearizable: validate, drop what cannot matter, partition, search each part.

import { explainViolation, type Violation } from './explain.js';
import { pairHistory, type HistoryEvent, type Operation } from './history.js';
import { CHECK_TIMEOUT_MS_DEFAULT } from './limits.js';
import type { Model } from './model.js';
import { searchLinearization, type Deadline } from './search.js';

export interface CheckOptions {
  /** Wall-clock budget for the whole check, explanation included. */
  readonly timeoutMs?: number;
  /** The clock for the budget; `performance.now` unless a test injects one. */
  readonly now?: () => number;
}

export type CheckResult =
  | { readonly ok: true }
  | Violation
  | { readonly ok: 'unknown'; readonly reason: 'timeout'; readonly key?: string };

/**
 * Checks that the history is linearizable with respect to `model`. Throws BadHistoryError
 * (code 'CHECK_BAD_HISTORY') on a malformed history.
 */
export function checkLinearizable<S>(history: readonly HistoryEvent[], model: Model<S>, options: CheckOptions = {}): CheckResult {
  const now = options.now ?? (() => performance.now());
  const deadline: Deadline = { now, atMs: now() + (options.timeoutMs ?? CHECK_TIMEOUT_MS_DEFAULT) };
  const operations = pairHistory(history).filter((operation) => matters(model, operation));
  for (const [key, part] of partition(model, operations)) {
    const outcome = searchLinearization(part, model, deadline);
    if (outcome.kind === 'timeout') return { ok: 'unknown', reason: 'timeout', ...(key === undefined ? {} : { key }) };
    if (outcome.kind === 'violation') return explainViolation(key, part, model, outcome, deadline);
  }
  return { ok: true };
}

// An indeterminate read changes nothing and constrains nothing.
function matters<S>(model: Model<S>, operation: Operation): boolean {
  return operation.result.kind === 'ok' || model.isReadOnly?.(operation.op) !== true;
}

function partition<S>(model: Model<S>, operations: readonly Operation[]): Iterable<[string | undefined, readonly Operation[]]> {
  if (model.partition === undefined) return [[undefined, operations]];
  return model.partition(operations);
}
