// Builds histories for the checker's tests from a list of calls with their times.

import type { HistoryEvent, HistoryOp } from './history.js';

export interface Call {
  readonly client: number;
  readonly op: HistoryOp;
  readonly from: number;
  /** Omitted: the operation never completes (indeterminate). */
  readonly to?: number;
  readonly result?: unknown;
  readonly kind?: 'ok' | 'fail' | 'info';
}

/** Builds a history from calls; opIds number the calls in order. */
export function history(...calls: Call[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  calls.forEach((call, opId) => {
    events.push({ clientId: call.client, opId, kind: 'invoke', op: call.op, atMs: call.from });
    if (call.to === undefined) return;
    const kind = call.kind ?? 'ok';
    events.push({ clientId: call.client, opId, kind, op: call.op, atMs: call.to, ...(kind === 'ok' ? { result: call.result } : {}) });
  });
  // Stable sort keeps each invoke ahead of its completion at equal times.
  return events.sort((a, b) => a.atMs - b.atMs);
}

export const put = (key: string, value: unknown): HistoryOp => ({ type: 'put', key, value });
export const get = (key: string): HistoryOp => ({ type: 'get', key });
export const cas = (key: string, from: unknown, to: unknown): HistoryOp => ({ type: 'cas', key, value: { from, to } });
