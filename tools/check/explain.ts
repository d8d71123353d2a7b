// Turns a failed search into a readable account: the shortest failing prefix of the
// history, the longest linearization of it, and why the remaining operations don't fit.

import type { Operation } from './history.js';
import { EXPLAIN_OPS_MAX } from './limits.js';
import { describeOperation, describeState, type Model } from './model.js';
import type { StepBudget } from './budget.js';
import { searchLinearization, type SearchOutcome } from './search.js';
import { settle, type Prepared } from './settle.js';

export interface Violation {
  readonly ok: false;
  /** The partition (key) that failed; absent when the model has no partition. */
  readonly key?: string;
  readonly explanation: string;
  /** The operations whose completion first made the history non-linearizable. */
  readonly failing: readonly Operation[];
  /** The shortest failing prefix ends here: operations completed by then count as done. */
  readonly prefixEndMs: number;
  /** The longest linearization found of that prefix, in order. */
  readonly linearized: readonly Operation[];
  /** Operations of that prefix that no linearization could place after `linearized`. */
  readonly unplaced: readonly Operation[];
}

type Failed<S> = Extract<SearchOutcome<S>, { kind: 'violation' }>;

/** As searched, operations still running at `endMs` are indeterminate, then settled. */
interface Prefix<S> extends Prepared {
  readonly endMs: number;
  readonly outcome: Failed<S>;
}

/**
 * `operations` is the part as recorded, `prepared` what the failed search saw of it and
 * `outcome` that search's result.
 */
export function explainViolation<S>(
  key: string | undefined,
  operations: readonly Operation[],
  model: Model<S>,
  prepared: Prepared,
  outcome: Failed<S>,
  budget: StepBudget,
): Violation {
  const prefix = shortestFailingPrefix(operations, model, prepared, outcome, budget);
  const { searched, recorded, outcome: found } = prefix;
  const linearized = found.longest.map((id) => recorded[id]!);
  const placed = new Set(found.longest);
  const unplacedIds = searched.map((_, id) => id).filter((id) => !placed.has(id));
  const unplaced = unplacedIds.map((id) => recorded[id]!);
  const failing = recorded.filter((operation) => operation.returnMs === prefix.endMs);
  const reasons = unplacedIds.map((id) => whyUnplaced(model, found.state, searched[id]!, unplacedIds.map((other) => searched[other]!)));
  const explanation = [
    `${key === undefined ? 'the history' : `key ${JSON.stringify(key)}`} is not linearizable.`,
    `It fails from ${prefix.endMs}ms, when this completed:`,
    ...failing.slice(0, EXPLAIN_OPS_MAX).map((operation) => `  ${describe(model, operation)}`),
    `The longest valid order of the ${searched.length} operations up to then places ${linearized.length}` +
      (linearized.length > EXPLAIN_OPS_MAX ? `; the last ${EXPLAIN_OPS_MAX}:` : ':'),
    ...linearized.slice(-EXPLAIN_OPS_MAX).map((operation) => `  ${describe(model, operation)}`),
    `  state after it: ${describeState(model, found.state)}`,
    'Operations that cannot come next:',
    ...unplaced.slice(0, EXPLAIN_OPS_MAX).map((operation, i) => `  ${describe(model, operation)}: ${reasons[i]}`),
    ...(unplaced.length > EXPLAIN_OPS_MAX ? [`  … and ${unplaced.length - EXPLAIN_OPS_MAX} more`] : []),
  ].join('\n');
  return {
    ok: false,
    ...(key === undefined ? {} : { key }),
    explanation,
    failing,
    prefixEndMs: prefix.endMs,
    linearized,
    unplaced,
  };
}

/**
 * Binary search over the completion times: failing is monotone, since an operation still
 * running at the cut may take effect or not, exactly as an indeterminate one. It first
 * tries the cut the search got stuck at (the earliest return it could not pass) and the
 * one before it, which usually settles it in two searches. Falls back to the whole
 * history when the budget runs out.
 */
function shortestFailingPrefix<S>(operations: readonly Operation[], model: Model<S>, prepared: Prepared, outcome: Failed<S>, budget: StepBudget): Prefix<S> {
  const cuts = [...new Set(operations.map((operation) => operation.returnMs).filter((ms) => ms !== Infinity))].sort((a, b) => a - b);
  let failed: Prefix<S> = { endMs: cuts.at(-1) ?? -Infinity, ...prepared, outcome };
  let low = 0;
  let high = cuts.length - 1;
  // Returns whether the prefix ending at cuts[index] fails; undefined when the budget ran out.
  const fails = (index: number): boolean | undefined => {
    const endMs = cuts[index]!;
    const prefix = prefixAt(operations, endMs, model);
    const result = searchLinearization(prefix.searched, model, budget);
    if (result.kind === 'exhausted') return undefined;
    if (result.kind === 'linearizable') return false;
    failed = { endMs, ...prefix, outcome: result };
    return true;
  };
  const stuck = cuts.indexOf(stuckAtMs(prepared, outcome));
  if (stuck >= 0 && stuck < high) {
    const verdict = fails(stuck);
    if (verdict === undefined) return failed;
    if (verdict) high = stuck;
    else low = stuck + 1;
  }
  if (stuck > 0 && high === stuck) {
    const verdict = fails(stuck - 1);
    if (verdict === undefined) return failed;
    if (verdict) high = stuck - 1;
    else low = stuck;
  }
  while (low < high) {
    const middle = (low + high) >>> 1;
    const verdict = fails(middle);
    if (verdict === undefined) return failed;
    if (verdict) high = middle;
    else low = middle + 1;
  }
  return failed;
}

/** The earliest return among completed operations the longest linearization left out. */
function stuckAtMs<S>(prepared: Prepared, outcome: Failed<S>): number {
  const placed = new Set(outcome.longest);
  let earliest = Infinity;
  prepared.recorded.forEach((operation, id) => {
    if (!placed.has(id) && operation.returnMs < earliest) earliest = operation.returnMs;
  });
  return earliest;
}

function prefixAt<S>(operations: readonly Operation[], endMs: number, model: Model<S>): Prepared {
  const searched: Operation[] = [];
  const recorded: Operation[] = [];
  for (const operation of operations) {
    if (operation.invokeMs > endMs) continue;
    const running = operation.returnMs > endMs;
    if (running && model.isReadOnly?.(operation.op) === true) continue;
    searched.push(running ? { ...operation, result: { kind: 'info' }, returnMs: Infinity } : operation);
    recorded.push(operation);
  }
  return settle(model, searched, recorded);
}

function whyUnplaced<S>(model: Model<S>, state: S, operation: Operation, unplaced: readonly Operation[]): string {
  const earlier = unplaced.find((other) => other.returnMs < operation.invokeMs);
  if (earlier !== undefined) return `starts after client ${earlier.clientId} op ${earlier.opId} completed`;
  if (!model.step(state, operation.op, operation.result).ok) return 'impossible in that state';
  return 'possible in that state, but no order of the rest fits';
}

function describe<S>(model: Model<S>, operation: Operation): string {
  const end = operation.returnMs === Infinity ? 'indeterminate' : `${operation.returnMs}ms`;
  return `client ${operation.clientId} op ${operation.opId}: ${describeOperation(model, operation.op, operation.result)} [${operation.invokeMs}ms, ${end}]`;
}
