// How long the checker takes on 10,000-op histories. Not a test: run `npx tsx tools/check/bench.ts`.

import { checkLinearizable, registerModel, type HistoryEvent, type HistoryOp } from './index.js';

const OPS = 10_000;
const CLIENTS = 5;
const RUNS = 5;

/** mulberry32: the same history on every run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Clients each run one op at a time; every op takes effect at a random instant inside its
 * [invoke, return] window, in the order of those instants, so the history is linearizable.
 * A share of writes time out (indeterminate) after taking effect.
 */
function generate(keys: number, indeterminateRate: number, staleReadAt?: number): HistoryEvent[] {
  const random = seededRandom(42);
  const store = new Map<string, number>();
  const clientFreeMs = new Array<number>(CLIENTS).fill(0);
  const planned: { client: number; op: HistoryOp; invokeMs: number; pointMs: number; returnMs: number; info: boolean }[] = [];
  for (let i = 0; i < OPS; i++) {
    const client = Math.floor(random() * CLIENTS);
    const invokeMs = clientFreeMs[client]! + random() * 5;
    const pointMs = invokeMs + random() * 10;
    const returnMs = pointMs + random() * 10;
    clientFreeMs[client] = returnMs;
    const key = `k${Math.floor(random() * keys)}`;
    const op: HistoryOp = random() < 0.5 ? { type: 'put', key, value: i } : { type: 'get', key };
    planned.push({ client, op, invokeMs, pointMs, returnMs, info: op.type === 'put' && random() < indeterminateRate });
  }
  const events: HistoryEvent[] = [];
  [...planned.keys()].sort((a, b) => planned[a]!.pointMs - planned[b]!.pointMs).forEach((opId) => {
    const { client, op, invokeMs, returnMs, info } = planned[opId]!;
    let result: unknown = 'ok';
    if (op.type === 'put') store.set(op.key!, op.value as number);
    else result = opId === staleReadAt ? -1 : store.get(op.key!);
    events.push({ clientId: client, opId, kind: 'invoke', op, atMs: invokeMs });
    events.push({ clientId: client, opId, kind: info ? 'info' : 'ok', op, atMs: returnMs, ...(info ? {} : { result }) });
  });
  return events.sort((a, b) => a.atMs - b.atMs);
}

function time(label: string, history: HistoryEvent[]): void {
  const timeoutMs = 20_000;
  const samples: number[] = [];
  let outcome = '';
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    const result = checkLinearizable(history, registerModel, { timeoutMs });
    samples.push(performance.now() - start);
    outcome = String(result.ok);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label}: ok=${outcome} median ${samples[RUNS >> 1]!.toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`);
}

console.log(`node ${process.version}, ${OPS} ops, ${CLIENTS} concurrent clients, ${RUNS} runs each`);
time('1 key, linearizable, no indeterminate writes', generate(1, 0));
time('1 key, linearizable, 1% indeterminate writes', generate(1, 0.01));
time('100 keys, linearizable, 1% indeterminate writes', generate(100, 0.01));
const lateRead = generate(1, 0.001).find((event) => event.op.type === 'get' && Number(event.opId) >= OPS - 100);
time('1 key, 0.1% indeterminate, one read of a never-written value near the end (search + explanation)', generate(1, 0.001, Number(lateRead?.opId)));
