// Child process of the actors benchmark: heap bytes per idle behaviour actor.
// Run with --expose-gc; prints one JSON line. Only the runtime holds the actors
// (its actor table), so the difference is what a user's actor costs: the actor,
// its pid, its state (a small number) and its slot in the table.

import { Node, silentLogger, type Behaviour } from '../../../packages/actors/src/index.js';

const count = Number(process.argv[2] ?? 100_000);
const idle: Behaviour<number, number> = { init: (_ctx, n) => n, handle: (_msg, n) => n };
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const node = await Node.start({ logger: silentLogger });
node.spawn(idle, 0); // warm up code paths and shapes
await new Promise((resolve) => setImmediate(resolve));
gc();
gc();
const aliveBefore = node.scheduler.actors.size;
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < count; i++) node.spawn(idle, i);
await new Promise((resolve) => setImmediate(resolve));
gc();
gc();
const after = process.memoryUsage().heapUsed;
const alive = node.scheduler.actors.size - aliveBefore;
if (alive !== count) throw new Error(`${alive} of ${count} actors alive`);
console.log(JSON.stringify({ bytesPerIdleActor: (after - before) / count, alive }));
await node.stop();
