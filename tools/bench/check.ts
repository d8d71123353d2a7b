// `pnpm bench check [--json] [--runs N] [--ops N]`: the linearizability checker's cost per
// operation on generated register histories, in time and in search steps (the unit of
// its budget, the same on every machine).

import { checkLinearizable, registerModel, type CheckResult, type HistoryEvent, type HistoryOp } from '../check/index.js';
import { machine, median, printTable, progress } from './lib/report.js';

interface Workload {
  readonly name: string;
  readonly keys: number;
  readonly clients: number;
  /** Share of puts whose client learns nothing (half of them took effect). */
  readonly indeterminateRate: number;
  /** Puts write values from 0 to this - 1 instead of unique values. */
  readonly valuesMax?: number;
  /** One read near the end returns a value never written. */
  readonly staleRead?: boolean;
}

const WORKLOADS: readonly Workload[] = [
  { name: '1 key, 5 clients, no indeterminate op', keys: 1, clients: 5, indeterminateRate: 0 },
  { name: '1 key, 5 clients, 1% indeterminate puts', keys: 1, clients: 5, indeterminateRate: 0.01 },
  { name: '3 keys, 3 clients, 5% indeterminate puts (as the simulator)', keys: 3, clients: 3, indeterminateRate: 0.05 },
  { name: '100 keys, 5 clients, 1% indeterminate puts', keys: 100, clients: 5, indeterminateRate: 0.01 },
  { name: '1 key, 5 clients, 5% indeterminate puts, values repeat (0-9)', keys: 1, clients: 5, indeterminateRate: 0.05, valuesMax: 10 },
  { name: '1 key, 5 clients, 0.1% indeterminate, a read of a never-written value (violation + explanation)', keys: 1, clients: 5, indeterminateRate: 0.001, staleRead: true },
];

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const runs = positiveArg(argv, '--runs', 5);
  const ops = positiveArg(argv, '--ops', 10_000);
  const rows: { workload: string; ops: number; verdict: string; steps: number; stepsPerOp: number; medianMs: number; usPerOp: number }[] = [];
  for (const workload of WORKLOADS) {
    progress(`check: ${workload.name}`);
    const history = generate(workload, ops);
    const samples: number[] = [];
    let result: CheckResult | undefined;
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      result = checkLinearizable(history, registerModel);
      samples.push(performance.now() - start);
    }
    const medianMs = median(samples);
    rows.push({ workload: workload.name, ops, verdict: String(result!.ok), steps: result!.steps, stepsPerOp: result!.steps / ops, medianMs, usPerOp: (medianMs * 1000) / ops });
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ machine: machine(), runs, rows }, null, 2)}\n`);
    return;
  }
  const m = machine();
  console.log(`${m.cpu}, ${m.cores} cores, node ${m.node}; ${ops} ops per history, median of ${runs} runs`);
  printTable(
    ['workload', 'verdict', 'steps', 'steps/op', 'median ms', 'µs/op'],
    rows.map((row) => [row.workload, row.verdict, String(row.steps), row.stepsPerOp.toFixed(2), row.medianMs.toFixed(1), row.usPerOp.toFixed(2)]),
  );
}

function positiveArg(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive integer, got ${argv[at + 1]}`);
  return value;
}

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
 * [invoke, return] window, in the order of those instants, so the history is linearizable
 * (unless `staleRead`). An indeterminate put took effect or not, by a coin toss.
 */
function generate(workload: Workload, ops: number): HistoryEvent[] {
  const random = seededRandom(42);
  const store = new Map<string, number>();
  const clientFreeMs = new Array<number>(workload.clients).fill(0);
  interface Planned {
    client: number;
    op: HistoryOp;
    invokeMs: number;
    pointMs: number;
    returnMs: number;
    fate: 'ok' | 'info' | 'lost';
  }
  const planned: Planned[] = [];
  for (let i = 0; i < ops; i++) {
    const client = Math.floor(random() * workload.clients);
    const invokeMs = clientFreeMs[client]! + random() * 5;
    const pointMs = invokeMs + random() * 10;
    const returnMs = pointMs + random() * 10;
    clientFreeMs[client] = returnMs;
    const key = `k${Math.floor(random() * workload.keys)}`;
    const value = workload.valuesMax === undefined ? i : Math.floor(random() * workload.valuesMax);
    const op: HistoryOp = random() < 0.5 ? { type: 'put', key, value } : { type: 'get', key };
    const unsure = op.type === 'put' && random() < workload.indeterminateRate;
    planned.push({ client, op, invokeMs, pointMs, returnMs, fate: unsure ? (random() < 0.5 ? 'info' : 'lost') : 'ok' });
  }
  const staleAt = workload.staleRead === true ? planned.findIndex((p, i) => i >= ops - 100 && p.op.type === 'get') : -1;
  const events: HistoryEvent[] = [];
  [...planned.keys()]
    .sort((a, b) => planned[a]!.pointMs - planned[b]!.pointMs)
    .forEach((opId) => {
      const { client, op, invokeMs, returnMs, fate } = planned[opId]!;
      let result: unknown = 'ok';
      if (op.type === 'put' && fate !== 'lost') store.set(op.key!, op.value as number);
      else if (op.type === 'get') result = opId === staleAt ? -1 : store.get(op.key!);
      events.push({ clientId: client, opId, kind: 'invoke', op, atMs: invokeMs });
      events.push({ clientId: client, opId, kind: fate === 'ok' ? 'ok' : 'info', op, atMs: returnMs, ...(fate === 'ok' ? { result } : {}) });
    });
  return events.sort((a, b) => a.atMs - b.atMs);
}
