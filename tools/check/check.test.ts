// The checker accepts exactly the linearizable histories, says why when it rejects one,
// and refuses malformed input with a typed error.

import { describe, expect, it } from 'vitest';
import { BadHistoryError, BadOptionError, checkLinearizable, registerModel, type HistoryEvent, type HistoryOp, type Model } from './index.js';
import { cas, get, history, put, type Call } from './testing.js';

function check(...calls: Call[]) {
  return checkLinearizable(history(...calls), registerModel);
}

describe('checkLinearizable on a register', () => {
  it('accepts an empty history and reads of missing keys', () => {
    expect(checkLinearizable([], registerModel).ok).toBe(true);
    expect(check({ client: 1, op: get('x'), from: 0, to: 1, result: undefined }, { client: 1, op: get('x'), from: 2, to: 3, result: null }).ok).toBe(true);
  });

  it('accepts a sequential history', () => {
    const result = check(
      { client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' },
      { client: 2, op: get('x'), from: 20, to: 30, result: 1 },
      { client: 1, op: put('x', 2), from: 40, to: 50, result: 'ok' },
      { client: 2, op: get('x'), from: 60, to: 70, result: 2 },
    );
    expect(result.ok).toBe(true);
  });

  it('rejects a stale read after an acknowledged write, and names the read', () => {
    const result = check(
      { client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' },
      { client: 1, op: put('x', 2), from: 20, to: 30, result: 'ok' },
      { client: 2, op: get('x'), from: 40, to: 50, result: 1 },
      { client: 1, op: put('x', 3), from: 60, to: 70, result: 'ok' },
      { client: 2, op: get('x'), from: 80, to: 90, result: 3 },
    );
    expect(result.ok).toBe(false);
    if (result.ok !== false) return;
    expect(result.key).toBe('x');
    expect(result.prefixEndMs).toBe(50);
    expect(result.failing.map((operation) => operation.opId)).toEqual([2]);
    expect(result.linearized.map((operation) => operation.opId)).toEqual([0, 1]);
    expect(result.unplaced.map((operation) => operation.opId)).toEqual([2]);
    expect(result.explanation).toContain('key "x" is not linearizable');
    expect(result.explanation).toContain('client 2 op 2: get("x") -> 1 [40ms, 50ms]: impossible in that state');
    expect(result.explanation).toContain('state after it: 2');
  });

  it('rejects a read of a value never written', () => {
    const result = check({ client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' }, { client: 2, op: get('x'), from: 5, to: 15, result: 9 });
    expect(result.ok).toBe(false);
  });

  it('rejects a lost write', () => {
    const result = check({ client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' }, { client: 2, op: get('x'), from: 20, to: 30, result: undefined });
    expect(result.ok).toBe(false);
  });

  it('accepts concurrent operations in either order', () => {
    const write = { client: 1, op: put('x', 1), from: 0, to: 100, result: 'ok' };
    expect(check(write, { client: 2, op: get('x'), from: 10, to: 20, result: undefined }, { client: 3, op: get('x'), from: 30, to: 40, result: 1 }).ok).toBe(true);
    expect(check(write, { client: 2, op: get('x'), from: 10, to: 20, result: 1 }, { client: 3, op: get('x'), from: 110, to: 120, result: 1 }).ok).toBe(true);
    // Once a concurrent write is seen, it cannot be unseen.
    expect(check(write, { client: 2, op: get('x'), from: 10, to: 20, result: 1 }, { client: 3, op: get('x'), from: 30, to: 40, result: undefined }).ok).toBe(false);
  });

  it('accepts concurrent writes seen in either order, but not both orders', () => {
    const writes: Call[] = [
      { client: 1, op: put('x', 1), from: 0, to: 50, result: 'ok' },
      { client: 2, op: put('x', 2), from: 0, to: 50, result: 'ok' },
    ];
    expect(check(...writes, { client: 3, op: get('x'), from: 60, to: 70, result: 1 }).ok).toBe(true);
    expect(check(...writes, { client: 3, op: get('x'), from: 60, to: 70, result: 2 }).ok).toBe(true);
    const flipped = check(
      ...writes,
      { client: 3, op: get('x'), from: 10, to: 20, result: 1 },
      { client: 3, op: get('x'), from: 21, to: 30, result: 2 },
      { client: 4, op: get('x'), from: 60, to: 70, result: 1 },
    );
    expect(flipped.ok).toBe(false);
  });

  it('lets an indeterminate write take effect late, or never, but not before its invoke', () => {
    const lost = { client: 1, op: put('x', 1), from: 10, to: 20, kind: 'info' as const };
    const pending = { client: 1, op: put('x', 1), from: 10 };
    expect(check(lost, { client: 2, op: get('x'), from: 1000, to: 1010, result: 1 }).ok).toBe(true);
    expect(check(pending, { client: 2, op: get('x'), from: 1000, to: 1010, result: 1 }).ok).toBe(true);
    expect(check(lost, { client: 2, op: get('x'), from: 1000, to: 1010, result: undefined }).ok).toBe(true);
    expect(check(pending, { client: 2, op: get('x'), from: 0, to: 5, result: 1 }).ok).toBe(false);
    const flickers = check(lost, { client: 2, op: get('x'), from: 30, to: 40, result: 1 }, { client: 2, op: get('x'), from: 50, to: 60, result: undefined });
    expect(flickers.ok).toBe(false);
  });

  it('never lets a failed operation take effect', () => {
    const failed = { client: 1, op: put('x', 1), from: 0, to: 10, kind: 'fail' as const };
    expect(check(failed, { client: 2, op: get('x'), from: 20, to: 30, result: undefined }).ok).toBe(true);
    expect(check(failed, { client: 2, op: get('x'), from: 20, to: 30, result: 1 }).ok).toBe(false);
  });

  it('ignores indeterminate reads', () => {
    expect(check({ client: 1, op: get('x'), from: 0, to: 10, kind: 'info' }, { client: 2, op: get('x'), from: 0 }).ok).toBe(true);
  });

  it('checks compare-and-set', () => {
    const start = { client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' };
    expect(check(start, { client: 1, op: cas('x', 1, 2), from: 20, to: 30, result: true }, { client: 2, op: get('x'), from: 40, to: 50, result: 2 }).ok).toBe(true);
    expect(check(start, { client: 1, op: cas('x', 5, 6), from: 20, to: 30, result: false }, { client: 2, op: get('x'), from: 40, to: 50, result: 1 }).ok).toBe(true);
    expect(check(start, { client: 1, op: cas('x', 5, 6), from: 20, to: 30, result: true }).ok).toBe(false);
    expect(check(start, { client: 1, op: cas('x', 1, 2), from: 20, to: 30, result: false }).ok).toBe(false);
    // Two swaps from the same value cannot both succeed.
    const both = check(start, { client: 1, op: cas('x', 1, 2), from: 20, to: 30, result: true }, { client: 2, op: cas('x', 1, 3), from: 20, to: 30, result: true });
    expect(both.ok).toBe(false);
  });

  it('points at the first failing read of a long history', () => {
    const calls: Call[] = [];
    for (let i = 0; i < 200; i++) {
      calls.push({ client: 1, op: put('x', i), from: 40 * i, to: 40 * i + 10, result: 'ok' });
      const stale = i === 120;
      calls.push({ client: 2, op: get('x'), from: 40 * i + 20, to: 40 * i + 30, result: stale ? i - 1 : i });
    }
    const result = check(...calls);
    expect(result.ok).toBe(false);
    if (result.ok !== false) return;
    expect(result.prefixEndMs).toBe(40 * 120 + 30);
    expect(result.failing.map((operation) => operation.opId)).toEqual([241]);
    expect(result.explanation).toContain('the last 12:');
  });
});

describe('partitioning', () => {
  it('checks each key on its own and names the failing key', () => {
    const ok = check(
      { client: 1, op: put('a', 1), from: 0, to: 10, result: 'ok' },
      { client: 2, op: put('b', 1), from: 0, to: 10, result: 'ok' },
      { client: 3, op: get('a'), from: 20, to: 30, result: 1 },
      { client: 3, op: get('b'), from: 20, to: 30, result: 1 },
    );
    expect(ok.ok).toBe(true);
    const bad = check(
      { client: 1, op: put('a', 1), from: 0, to: 10, result: 'ok' },
      { client: 2, op: put('b', 1), from: 0, to: 10, result: 'ok' },
      { client: 3, op: get('a'), from: 20, to: 30, result: 1 },
      { client: 3, op: get('b'), from: 20, to: 30, result: 2 },
    );
    expect(bad.ok).toBe(false);
    if (bad.ok !== false) return;
    expect(bad.key).toBe('b');
    expect(bad.explanation).toContain('key "b"');
  });

  it('checks the whole history as one when the model has no partition', () => {
    // A counter: add(n) -> ok, read -> total.
    const counter: Model<number> = {
      init: () => 0,
      step: (state, op, result) => {
        if (op.type === 'add') return { ok: true, state: state + (op.value as number) };
        return { ok: result.kind === 'info' || result.value === state, state };
      },
      hash: (state) => String(state),
    };
    const add = (value: number): HistoryOp => ({ type: 'add', value });
    const read: HistoryOp = { type: 'read' };
    const good = history({ client: 1, op: add(1), from: 0, to: 10, result: 'ok' }, { client: 2, op: add(2), from: 0, to: 10, result: 'ok' }, { client: 3, op: read, from: 5, to: 8, result: 2 });
    expect(checkLinearizable(good, counter).ok).toBe(true);
    const bad = history({ client: 1, op: add(1), from: 0, to: 10, result: 'ok' }, { client: 3, op: read, from: 20, to: 30, result: 2 });
    const result = checkLinearizable(bad, counter);
    expect(result.ok).toBe(false);
    if (result.ok !== false) return;
    expect(result.key).toBeUndefined();
    expect(result.explanation).toContain('the history is not linearizable');
    expect(result.explanation).toContain('read() -> 2');
  });
});

describe('budget', () => {
  it('answers unknown when the step budget runs out', () => {
    const calls: Call[] = [];
    for (let i = 0; i < 2000; i++) calls.push({ client: 1, op: put('x', i), from: 10 * i, to: 10 * i + 5, result: 'ok' });
    expect(checkLinearizable(history(...calls), registerModel, { stepBudget: 100 })).toEqual({ ok: 'unknown', reason: 'budget', steps: 100, key: 'x' });
    expect(checkLinearizable(history(...calls), registerModel).ok).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity])('refuses a step budget of %s', (stepBudget) => {
    let thrown: unknown;
    try {
      checkLinearizable([], registerModel, { stepBudget });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BadOptionError);
    expect(thrown).toMatchObject({ code: 'CHECK_BAD_OPTION', option: 'stepBudget' });
  });
});

describe('history validation', () => {
  const invoke: HistoryEvent = { clientId: 1, opId: 1, kind: 'invoke', op: put('x', 1), atMs: 10 };
  const done: HistoryEvent = { clientId: 1, opId: 1, kind: 'ok', op: put('x', 1), result: 'ok', atMs: 20 };
  const cases: [string, HistoryEvent[], number, string][] = [
    ['a completion without invoke', [done], 0, 'never invoked'],
    ['a completion before its invoke in the history', [done, invoke], 0, 'never invoked'],
    ['a duplicate opId', [invoke, done, { ...invoke, atMs: 30 }], 2, 'invoked twice'],
    ['a second completion', [invoke, done, { ...done, kind: 'info' }], 2, 'already completed'],
    ['a completion time before the invoke', [invoke, { ...done, atMs: 5 }], 1, 'before its invoke'],
    ['a completion by another client', [invoke, { ...done, clientId: 2 }], 1, 'never invoked'],
    ['a time that is not a number', [{ ...invoke, atMs: Number.NaN }], 0, 'atMs'],
    ['an unknown kind', [{ ...invoke, kind: 'done' as 'ok' }], 0, 'kind'],
    ['an invoke without op type', [{ ...invoke, op: {} as HistoryOp }], 0, 'op.type'],
  ];
  it.each(cases)('rejects %s', (_, events, eventIndex, reason) => {
    let thrown: unknown;
    try {
      checkLinearizable(events, registerModel);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BadHistoryError);
    const error = thrown as BadHistoryError;
    expect(error.code).toBe('CHECK_BAD_HISTORY');
    expect(error.eventIndex).toBe(eventIndex);
    expect(error.message).toContain(reason);
  });
});
