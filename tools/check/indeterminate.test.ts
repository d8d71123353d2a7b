// Indeterminate writes are where a search blows up. What the completed operations reveal
// about them (register `settle`) and the blind-write rule of the search keep it linear,
// without changing any verdict; and the budget makes every verdict reproducible.

import { describe, expect, it } from 'vitest';
import { checkLinearizable, registerModel, type Model, type RegisterState } from './index.js';
import { cas, get, history, put, type Call } from './testing.js';

const withoutSettle: Model<RegisterState> = { ...registerModel, settle: undefined };
const withoutOverwrites: Model<RegisterState> = { ...registerModel, overwrites: undefined };
const withoutEither: Model<RegisterState> = { ...registerModel, settle: undefined, overwrites: undefined };

/**
 * `count` indeterminate puts nobody reads, then two concurrent puts whose first try (1 then
 * 2) fails a later read: the search backtracks with every indeterminate put in its window.
 */
function unreadIndeterminatePuts(count: number): Call[] {
  const calls: Call[] = [];
  for (let i = 0; i < count; i++) calls.push({ client: 100 + i, op: put('x', 100 + i), from: i });
  calls.push({ client: 1, op: put('x', 1), from: 100, to: 200, result: 'ok' });
  calls.push({ client: 2, op: put('x', 2), from: 100, to: 200, result: 'ok' });
  calls.push({ client: 3, op: get('x'), from: 300, to: 310, result: 1 });
  return calls;
}

function check(model: Model<RegisterState>, ...calls: Call[]) {
  return checkLinearizable(history(...calls), model);
}

describe('indeterminate writes', () => {
  it('decides a history whose unread indeterminate puts blow up a plain search', () => {
    const events = history(...unreadIndeterminatePuts(20));
    // Placing them in every order before the failing read: 20 * 2^19 nodes.
    expect(checkLinearizable(events, withoutEither, { stepBudget: 2_000_000 }).ok).toBe('unknown');
    // Settling leaves them out: about one step per operation left.
    for (const model of [registerModel, withoutOverwrites]) expect(checkLinearizable(events, model)).toEqual({ ok: true, steps: 12 });
    // The blind-write rule alone tries each once after each backtrack: quadratic, not exponential.
    const overwritesOnly = checkLinearizable(events, withoutSettle);
    expect(overwritesOnly.ok).toBe(true);
    expect(overwritesOnly.steps).toBeLessThan(5 * 20 * 20);
  });

  it('keeps the verdict when an unread indeterminate put is left out', () => {
    const calls = unreadIndeterminatePuts(5);
    // A read of a value only an indeterminate put wrote, after the write it must precede.
    const lateRead: Call = { client: 4, op: get('x'), from: 400, to: 410, result: 102 };
    for (const model of [registerModel, withoutSettle, withoutOverwrites, withoutEither]) {
      expect(check(model, ...calls).ok).toBe(true);
      expect(check(model, ...calls, lateRead).ok).toBe(true);
      expect(check(model, ...calls, lateRead, { client: 4, op: get('x'), from: 420, to: 430, result: 1 }).ok).toBe(false);
    }
  });

  it('pins a write of a unique value to the first read of it, and explains with the write as recorded', () => {
    const calls: Call[] = [
      { client: 1, op: put('x', 1), from: 0 },
      { client: 2, op: get('x'), from: 10, to: 20, result: 1 },
      { client: 2, op: put('x', 2), from: 30, to: 40, result: 'ok' },
      // Only one operation wrote 1, and it was seen before 2 was written.
      { client: 2, op: get('x'), from: 50, to: 60, result: 1 },
    ];
    for (const model of [registerModel, withoutEither]) expect(check(model, ...calls).ok).toBe(false);
    const result = check(registerModel, ...calls);
    if (result.ok !== false) throw new Error('expected a violation');
    expect(result.prefixEndMs).toBe(60);
    expect(result.linearized.map((operation) => operation.opId)).toEqual([0, 1, 2]);
    expect(result.linearized[0]!.returnMs).toBe(Infinity);
    expect(result.explanation).toContain('client 1 op 0: put("x", 1) [0ms, indeterminate]');
  });

  it('does not pin a write whose value another operation also wrote', () => {
    // The read at 20-30 saw the completed put of 1; the indeterminate one landed after 2.
    const calls: Call[] = [
      { client: 1, op: put('x', 1), from: 0, to: 30, result: 'ok' },
      { client: 2, op: put('x', 1), from: 10 },
      { client: 3, op: get('x'), from: 20, to: 30, result: 1 },
      { client: 3, op: put('x', 2), from: 35, to: 45, result: 'ok' },
      { client: 3, op: get('x'), from: 80, to: 90, result: 1 },
    ];
    expect(check(registerModel, ...calls).ok).toBe(true);
  });

  it('does not pin a write of the initial (missing) value', () => {
    // The first read saw the initial state; the indeterminate put of null landed after 2.
    const calls: Call[] = [
      { client: 1, op: get('x'), from: 0, to: 5, result: null },
      { client: 1, op: put('x', 1), from: 6, to: 10, result: 'ok' },
      { client: 2, op: put('x', null), from: 20 },
      { client: 1, op: put('x', 2), from: 30, to: 40, result: 'ok' },
      { client: 1, op: get('x'), from: 100, to: 110, result: null },
    ];
    expect(check(registerModel, ...calls).ok).toBe(true);
  });

  it('keeps an unread indeterminate put that a cas could have seen', () => {
    // The cas failed: the indeterminate put of 5 must have landed before it.
    const calls: Call[] = [
      { client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' },
      { client: 2, op: put('x', 5), from: 20 },
      { client: 1, op: cas('x', 1, 2), from: 30, to: 40, result: false },
    ];
    expect(check(registerModel, ...calls).ok).toBe(true);
    expect(check(registerModel, calls[0]!, calls[2]!).ok).toBe(false);
  });

  it('pins an indeterminate cas that must have swapped', () => {
    const calls: Call[] = [
      { client: 1, op: put('x', 0), from: 0, to: 10, result: 'ok' },
      { client: 2, op: cas('x', 0, 1), from: 20 },
      { client: 1, op: get('x'), from: 30, to: 40, result: 1 },
    ];
    for (const model of [registerModel, withoutEither]) {
      expect(check(model, ...calls).ok).toBe(true);
      expect(check(model, ...calls, { client: 1, op: get('x'), from: 50, to: 60, result: 0 }).ok).toBe(false);
    }
  });

  it('refuses a settle that does not answer one entry per operation', () => {
    const broken: Model<RegisterState> = { ...registerModel, settle: () => [] };
    expect(() => check(broken, { client: 1, op: put('x', 1), from: 0, to: 10, result: 'ok' })).toThrow(/one per operation/);
  });
});

describe('the step budget', () => {
  it('gives the same verdict and the same step count on every run', () => {
    const events = history(...unreadIndeterminatePuts(12));
    const first = checkLinearizable(events, withoutSettle);
    expect(first.ok).toBe(true);
    expect(checkLinearizable(events, withoutSettle)).toEqual(first);
    // The count is exact: one step less is not enough.
    expect(checkLinearizable(events, withoutSettle, { stepBudget: first.steps }).ok).toBe(true);
    expect(checkLinearizable(events, withoutSettle, { stepBudget: first.steps - 1 })).toEqual({ ok: 'unknown', reason: 'budget', steps: first.steps - 1, key: 'x' });
  });

  it('is shared by the parts of a history', () => {
    const calls: Call[] = [];
    for (let i = 0; i < 50; i++) {
      calls.push({ client: 1, op: put('a', i), from: 20 * i, to: 20 * i + 5, result: 'ok' });
      calls.push({ client: 2, op: put('b', i), from: 20 * i, to: 20 * i + 5, result: 'ok' });
    }
    const both = checkLinearizable(history(...calls), registerModel);
    const onlyA = checkLinearizable(history(...calls.filter((call) => call.op.key === 'a')), registerModel);
    expect(both.steps).toBe(2 * onlyA.steps);
    expect(checkLinearizable(history(...calls), registerModel, { stepBudget: onlyA.steps + 1 })).toMatchObject({ ok: 'unknown', key: 'b' });

    // A violation's explanation is reproducible too, step count included.
    const stale = history(...calls, { client: 3, op: get('a'), from: 2000, to: 2010, result: 3 });
    const violation = checkLinearizable(stale, registerModel);
    expect(violation.ok).toBe(false);
    expect(checkLinearizable(stale, registerModel)).toEqual(violation);
  });
});
