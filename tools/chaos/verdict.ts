// What a chaos run found: the linearizability check of the recorded history, the
// operation counts, and which local reads were stale (expected of local reads, so
// reported, never a violation).

import { checkLinearizable, registerModel, registerValueKey, type CheckResult, type HistoryEvent } from '../check/index.js';
import type { LocalRead } from './workload.js';

export interface OperationCounts {
  readonly ok: number;
  readonly failed: number;
  readonly indeterminate: number;
  readonly byType: Readonly<Record<string, { ok: number; failed: number; indeterminate: number }>>;
}

/** A search budget that a clean 10-minute history stays far below. */
export const CHAOS_CHECK_STEP_BUDGET = 200_000_000;

export function checkHistory(history: readonly HistoryEvent[]): CheckResult {
  return checkLinearizable(history, registerModel, { stepBudget: CHAOS_CHECK_STEP_BUDGET });
}

export function countOperations(history: readonly HistoryEvent[]): OperationCounts {
  const byType: Record<string, { ok: number; failed: number; indeterminate: number }> = {};
  const open = new Map<string, string>();
  const counts = { ok: 0, failed: 0, indeterminate: 0 };
  const bump = (type: string, field: 'ok' | 'failed' | 'indeterminate') => {
    counts[field]++;
    (byType[type] ??= { ok: 0, failed: 0, indeterminate: 0 })[field]++;
  };
  for (const event of history) {
    const id = `${event.clientId}/${event.opId}`;
    if (event.kind === 'invoke') {
      open.set(id, event.op.type);
      continue;
    }
    open.delete(id);
    bump(event.op.type, event.kind === 'ok' ? 'ok' : event.kind === 'fail' ? 'failed' : 'indeterminate');
  }
  for (const type of open.values()) bump(type, 'indeterminate');
  return { ...counts, byType };
}

/**
 * Local reads that were surely stale: the value read had been overwritten by a write
 * that was invoked after the value's writer completed, and completed before the read
 * began. A lower bound; needs the unique written values the workload writes.
 */
export function countStaleLocalReads(history: readonly HistoryEvent[], reads: readonly LocalRead[]): number {
  interface Write {
    readonly invokeMs: number;
    readonly returnMs: number;
  }
  const invokes = new Map<string, HistoryEvent>();
  const writerOf = new Map<string, Write>(); // by key and value
  const completedWrites = new Map<string, Write[]>(); // by key
  for (const event of history) {
    const id = `${event.clientId}/${event.opId}`;
    if (event.kind === 'invoke') {
      invokes.set(id, event);
      continue;
    }
    const invoke = invokes.get(id);
    if (invoke === undefined || event.kind !== 'ok' || invoke.op.key === undefined) continue;
    const written = invoke.op.type === 'put' ? invoke.op.value : invoke.op.type === 'cas' && event.result === true ? (invoke.op.value as { to: unknown }).to : undefined;
    if (written === undefined) continue;
    const write = { invokeMs: invoke.atMs, returnMs: event.atMs };
    writerOf.set(`${invoke.op.key}=${registerValueKey(written)}`, write);
    let list = completedWrites.get(invoke.op.key);
    if (list === undefined) completedWrites.set(invoke.op.key, (list = []));
    list.push(write);
  }
  let stale = 0;
  for (const read of reads) {
    const valueKey = registerValueKey(read.value);
    const writer = writerOf.get(`${read.key}=${valueKey}`);
    // A missing value is overwritten by any write; a value of an indeterminate write is not judged.
    if (writer === undefined && valueKey !== registerValueKey(null)) continue;
    const after = writer?.returnMs ?? -Infinity;
    if ((completedWrites.get(read.key) ?? []).some((w) => w.invokeMs > after && w.returnMs < read.invokeMs)) stale++;
  }
  return stale;
}
