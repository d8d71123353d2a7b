// checkLinearizable: validate, drop what cannot matter, partition, settle what the
// completed operations reveal, search each part.

import { BadOptionError } from './errors.js';
import { explainViolation, type Violation } from './explain.js';
import { pairHistory, type HistoryEvent, type Operation } from './history.js';
import { CHECK_STEP_BUDGET_DEFAULT } from './limits.js';
import type { Model } from './model.js';
import { StepBudget } from './budget.js';
import { searchLinearization } from './search.js';
import { settle } from './settle.js';

export interface CheckOptions {
  /**
   * Search steps the whole check may take, explanation included. A step count, not a
   * time, so the verdict never depends on the machine or its load.
   */
  readonly stepBudget?: number;
}

export type CheckResult =
  | { readonly ok: true; readonly steps: number }
  | (Violation & { readonly steps: number })
  | { readonly ok: 'unknown'; readonly reason: 'budget'; readonly steps: number; readonly key?: string };

/**
 * Checks that the history is linearizable with respect to `model`. Throws BadHistoryError
 * (code 'CHECK_BAD_HISTORY') on a malformed history, BadOptionError ('CHECK_BAD_OPTION') on a
 * bad option.
 */
export function checkLinearizable<S>(history: readonly HistoryEvent[], model: Model<S>, options: CheckOptions = {}): CheckResult {
  const limit = options.stepBudget ?? CHECK_STEP_BUDGET_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new BadOptionError('stepBudget', `must be a positive integer (search steps), got ${String(limit)}`);
  const budget = new StepBudget(limit);
  const operations = pairHistory(history).filter((operation) => matters(model, operation));
  for (const [key, part] of partition(model, operations)) {
    const prepared = settle(model, part);
    const outcome = searchLinearization(prepared.searched, model, budget);
    if (outcome.kind === 'exhausted') return { ok: 'unknown', reason: 'budget', steps: limit, ...(key === undefined ? {} : { key }) };
    if (outcome.kind === 'violation') return { ...explainViolation(key, part, model, prepared, outcome, budget), steps: budget.used };
  }
  return { ok: true, steps: budget.used };
}

// An indeterminate read changes nothing and constrains nothing.
function matters<S>(model: Model<S>, operation: Operation): boolean {
  return operation.result.kind === 'ok' || model.isReadOnly?.(operation.op) !== true;
}

function partition<S>(model: Model<S>, operations: readonly Operation[]): Iterable<[string | undefined, readonly Operation[]]> {
  if (model.partition === undefined) return [[undefined, operations]];
  return model.partition(operations);
}
