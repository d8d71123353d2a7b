// The sequential specification a history is checked against.

import type { HistoryOp, OpResult, Operation } from './history.js';

export interface StepResult<S> {
  readonly ok: boolean;
  readonly state: S;
}

export interface Model<S> {
  init(): S;
  /**
   * Applies `op` to `state`. `ok` is false when the observed result is impossible from
   * `state`. For an indeterminate op (`result.kind === 'info'`) accept any outcome.
   * Must not mutate `state`: the search revisits it when it backtracks.
   */
  step(state: S, op: HistoryOp, result: OpResult): StepResult<S>;
  /** Equal strings for equal states, and only for them: the search cache keys on it. */
  hash(state: S): string;
  /** Splits the history into independent parts, checked one by one (e.g. by key). */
  partition?(operations: readonly Operation[]): ReadonlyMap<string, readonly Operation[]>;
  /** Indeterminate read-only ops constrain nothing, so the checker drops them. */
  isReadOnly?(op: HistoryOp): boolean;
  /**
   * True when `step` accepts `op` in every state and the state after it does not depend on
   * the state before (a blind write). The search then never places an indeterminate op
   * right before it: nothing could have seen that op's effect.
   */
  overwrites?(op: HistoryOp): boolean;
  /**
   * What the completed operations of one part tell about its indeterminate ones. Returns,
   * index for index, the operation itself, a stricter copy of it (one that must have
   * taken effect, with the latest time it can have done so as its return) or null (it can
   * be left out). Must keep the part linearizable exactly when it was.
   */
  settle?(operations: readonly Operation[]): readonly (Operation | null)[];
  describeOp?(op: HistoryOp, result: OpResult): string;
  describeState?(state: S): string;
}

/** Readable form of any value for explanations. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function describeOperation<S>(model: Model<S>, op: HistoryOp, result: OpResult): string {
  if (model.describeOp !== undefined) return model.describeOp(op, result);
  const args = [op.key, op.value].filter((arg) => arg !== undefined).map(formatValue);
  const outcome = result.kind === 'ok' ? formatValue(result.value) : '?';
  return `${op.type}(${args.join(', ')}) -> ${outcome}`;
}

export function describeState<S>(model: Model<S>, state: S): string {
  return model.describeState !== undefined ? model.describeState(state) : model.hash(state);
}
