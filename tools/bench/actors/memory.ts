// Child process of the actors benchmark: heap bytes per idle behaviour actor.
// Run with --expose-gc; prints one JSON line.

import { Node, silentLogger, type Behaviour } from '../../../packages/actors/src/index.js';

const count = Number(process.argv[2] ?? 100_000);
const idle: Behaviour<number, number> = { init: (_ctx, n) => n, handle: (_msg, n) => n };
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const node = await Node.start({ logger: silentLogger });
node.spawn(idle, 0); // warm up code paths and shapes
gc();
gc();
const before = process.memoryUsage().heapUsed;
const pids = new Array(count);
for (let i = 0; i < count; i++) pids[i] = node.spawn(idle, i);
await new Promise((resolve) => setImmediate(resolve));
gc();
gc();
const after = process.memoryUsage().heapUsed;
// The pids array is the caller's, not the runtime's: subtract it.
const arrayBytes = count * 4 + 16;
console.log(JSON.stringify({ bytesPerIdleActor: (after - before - arrayBytes) / count, alive: pids.length }));
await node.stop();
