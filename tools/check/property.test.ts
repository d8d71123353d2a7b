// Property tests: histories recorded from real sequential executions with random
// overlapping timing are always linearizable; on small histories the checker agrees with
// a brute-force search over every order; a read of a never-written value is always caught.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizable, registerModel, type HistoryEvent, type HistoryOp, type Model, type RegisterState } from './index.js';

type Fate = 'ok' | 'info' | 'lost' | 'fail' | 'pending';

interface Planned {
  readonly key: number;
  readonly type: 'put' | 'get' | 'cas';
  readonly value: number;
  readonly from: number;
  readonly client: number;
  readonly beforeMs: number;
  readonly afterMs: number;
  /** info and pending took effect without telling the client; lost and fail did not. */
  readonly fate: Fate;
}

/** `unsureWeight` in 20 operations does not simply succeed. */
const plannedArbitrary = (keys: number, unsureWeight: number): fc.Arbitrary<Planned> =>
  fc.record({
    key: fc.integer({ min: 0, max: keys - 1 }),
    type: fc.constantFrom('put' as const, 'get' as const, 'cas' as const),
    value: fc.integer({ min: 0, max: 4 }),
    from: fc.integer({ min: 0, max: 4 }),
    client: fc.integer({ min: 1, max: 5 }),
    beforeMs: fc.integer({ min: 0, max: 40 }),
    afterMs: fc.integer({ min: 0, max: 40 }),
    fate: fc.oneof(
      { weight: 20 - unsureWeight, arbitrary: fc.constant<Fate>('ok') },
      { weight: unsureWeight, arbitrary: fc.constantFrom<Fate>('info', 'lost', 'fail', 'pending') },
    ),
  });

const STEP_MS = 10;

/** Runs the plan against a real register, one op every STEP_MS, and records what clients saw. */
function execute(plan: readonly Planned[]): HistoryEvent[] {
  const store = new Map<string, number>();
  const events: HistoryEvent[] = [];
  plan.forEach((planned, opId) => {
    const key = `k${planned.key}`;
    const op = toOp(planned, key);
    const pointMs = STEP_MS * opId;
    const applied = planned.fate === 'ok' || planned.fate === 'info' || planned.fate === 'pending';
    const result = applied ? apply(store, key, op) : undefined;
    events.push({ clientId: planned.client, opId, kind: 'invoke', op, atMs: pointMs - planned.beforeMs });
    if (planned.fate === 'pending') return;
    const kind = planned.fate === 'ok' ? 'ok' : planned.fate === 'fail' ? 'fail' : 'info';
    events.push({ clientId: planned.client, opId, kind, op, atMs: pointMs + planned.afterMs, ...(kind === 'ok' ? { result } : {}) });
  });
  return events.sort((a, b) => a.atMs - b.atMs);
}

function toOp(planned: Planned, key: string): HistoryOp {
  if (planned.type === 'get') return { type: 'get', key };
  if (planned.type === 'put') return { type: 'put', key, value: planned.value };
  return { type: 'cas', key, value: { from: planned.from, to: planned.value } };
}

function apply(store: Map<string, number>, key: string, op: HistoryOp): unknown {
  const current = store.get(key);
  if (op.type === 'get') return current;
  if (op.type === 'put') {
    store.set(key, op.value as number);
    return 'ok';
  }
  const { from, to } = op.value as { from: number; to: number };
  if (current !== from) return false;
  store.set(key, to);
  return true;
}

interface Recorded {
  readonly op: HistoryOp;
  readonly invokeMs: number;
  readonly returnMs: number;
  readonly known: boolean;
  readonly result: unknown;
}

/** The definition, searched naively: some order of all completed ops and any subset of the rest. */
function bruteForceLinearizable(events: readonly HistoryEvent[]): boolean {
  const byId = new Map<string, Recorded>();
  for (const event of events) {
    const id = `${event.clientId}/${event.opId}`;
    const invoked = byId.get(id);
    if (event.kind === 'invoke') byId.set(id, { op: event.op, invokeMs: event.atMs, returnMs: Infinity, known: false, result: undefined });
    else if (event.kind === 'fail') byId.delete(id);
    else if (event.kind === 'ok' && invoked !== undefined) byId.set(id, { ...invoked, returnMs: event.atMs, known: true, result: event.result });
  }
  const operations = [...byId.values()];
  const placed = new Array<boolean>(operations.length).fill(false);
  const search = (store: Map<string, number>): boolean => {
    if (operations.every((operation, i) => placed[i] || !operation.known)) return true;
    for (let i = 0; i < operations.length; i++) {
      const candidate = operations[i]!;
      if (placed[i]) continue;
      const blocked = operations.some((other, j) => !placed[j] && other.known && other.returnMs < candidate.invokeMs);
      if (blocked) continue;
      const next = new Map(store);
      const result = apply(next, candidate.op.key!, candidate.op);
      const observed = candidate.result ?? undefined;
      if (candidate.known && candidate.op.type !== 'put' && result !== observed) continue;
      placed[i] = true;
      const found = search(next);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map());
}

describe('checkLinearizable on generated histories', () => {
  it('accepts every history of a real execution', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }).chain((keys) => fc.array(plannedArbitrary(keys, 1), { minLength: 20, maxLength: 200, size: 'max' })), (plan) => {
        expect(checkLinearizable(execute(plan), registerModel).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with a brute-force search on small histories, mutated or not', () => {
    const arbitrary = fc.record({
      plan: fc.integer({ min: 1, max: 2 }).chain((keys) => fc.array(plannedArbitrary(keys, 10), { minLength: 4, maxLength: 10 })),
      mutate: fc.boolean(),
      target: fc.nat(),
      value: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(arbitrary, ({ plan, mutate, target, value }) => {
        const events = execute(plan);
        if (mutate) mutateResult(events, target, value);
        const expected = bruteForceLinearizable(events);
        expect(checkLinearizable(events, registerModel).ok).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  // Unique values are where `settle` pins and drops indeterminate writes; each rule must
  // keep every verdict on its own, so each is also checked with the other turned off.
  const models: [string, Model<RegisterState>][] = [
    ['both rules', registerModel],
    ['without settle', { ...registerModel, settle: undefined }],
    ['without the blind-write rule', { ...registerModel, overwrites: undefined }],
  ];
  it.each(models)('agrees with a brute-force search on small histories of unique values (%s)', (_, model) => {
    const arbitrary = fc.record({
      plan: fc.integer({ min: 1, max: 2 }).chain((keys) => fc.array(plannedArbitrary(keys, 10), { minLength: 4, maxLength: 10 })),
      mutate: fc.boolean(),
      target: fc.nat(),
      value: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(arbitrary, ({ plan, mutate, target, value }) => {
        const events = execute(uniqueValues(plan));
        if (mutate) mutateResult(events, target, value);
        expect(checkLinearizable(events, model).ok).toBe(bruteForceLinearizable(events));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a search with fewer indeterminate ops alive after one with more failed', () => {
    // Found by the property above with the cache's dominance check reversed.
    const step = (type: Planned['type'], value: number, from: number, beforeMs: number, afterMs: number, fate: Fate): Planned => ({ key: 0, type, value, from, client: 1, beforeMs, afterMs, fate });
    const plan = [
      step('cas', 0, 1, 0, 21, 'ok'),
      step('put', 2, 0, 0, 0, 'info'),
      step('get', 0, 0, 0, 0, 'ok'),
      step('get', 0, 0, 0, 0, 'ok'),
      step('put', 1, 0, 20, 0, 'info'),
      step('put', 0, 0, 0, 0, 'ok'),
      step('put', 0, 0, 0, 0, 'info'),
    ];
    const events = execute(plan);
    mutateResult(events, 620641222, undefined);
    expect(bruteForceLinearizable(events)).toBe(true);
    expect(checkLinearizable(events, registerModel).ok).toBe(true);
  });

  it('catches a read of a never-written value and points at it', () => {
    const arbitrary = fc.record({ plan: fc.array(plannedArbitrary(2, 1), { minLength: 1, maxLength: 200, size: 'max' }), target: fc.nat() });
    fc.assert(
      fc.property(arbitrary, ({ plan, target }) => {
        const events = execute(plan);
        const reads = events.filter((event) => event.kind === 'ok' && event.op.type === 'get');
        fc.pre(reads.length > 0);
        const read = reads[target % reads.length]!;
        events[events.indexOf(read)] = { ...read, result: 99 };
        const result = checkLinearizable(events, registerModel);
        expect(result.ok).toBe(false);
        if (result.ok !== false) return;
        expect(result.key).toBe(read.op.key);
        expect(result.prefixEndMs).toBe(read.atMs);
        expect(result.failing.some((operation) => operation.opId === read.opId)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

/** Each write gets its own value; a cas swaps from the value of a recent write, or from missing. */
function uniqueValues(plan: readonly Planned[]): Planned[] {
  return plan.map((planned, index) => ({ ...planned, value: index + 1, from: Math.max(0, index - planned.from) }));
}

/** Changes one observed get or cas result. */
function mutateResult(events: HistoryEvent[], target: number, value: number | undefined): void {
  const candidates = events.filter((event) => event.kind === 'ok' && event.op.type !== 'put');
  const chosen = candidates[target % Math.max(candidates.length, 1)];
  if (chosen === undefined) return;
  const result = chosen.op.type === 'cas' ? chosen.result !== true : value;
  events[events.indexOf(chosen)] = { ...chosen, result };
}
