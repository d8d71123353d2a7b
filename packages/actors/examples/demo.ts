// A tour of @rafter/actors: messages across worker threads, a supervised worker that
// crashes and is restarted, a monitor that fires. Run with `pnpm demo`.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import {
  Node,
  pidEquals,
  silentLogger,
  startSupervisor,
  subscribeFailureDetector,
  whichChildren,
  type ActorContext,
  type DownMessage,
  type Pid,
} from '../src/index.js';

const actors = new URL('./demo-actors.ts', import.meta.url).href;
const say = (line: string) => console.log(line);

const node = await Node.start({ name: 'demo', schedulers: 3, logger: silentLogger });
say(`node ${node.name} started with ${node.schedulerCount} schedulers (main thread + 2 worker threads)`);

// 1. Messages across threads: a ponger on worker thread 2, pinged from the main thread.
const ponger = await node.start({ module: actors, export: 'ponger' }, undefined, { scheduler: 2 });
const pongs = await new Promise<unknown[]>((resolve) => {
  node.spawn(async (ctx: ActorContext) => {
    const got: unknown[] = [];
    for (let i = 1; i <= 3; i++) ctx.send(ponger, { ping: i, from: ctx.self });
    while (got.length < 3) got.push(await ctx.receive());
    resolve(got);
  });
});
say(`main thread pinged a ponger on scheduler ${ponger.scheduler}: ${JSON.stringify(pongs)}`);
say(`the ponger counted ${await node.call(ponger, 'count')} pings`);

// 2. A supervisor on the main thread with a worker on thread 1.
const sup = await startSupervisor(node, {
  strategy: 'one_for_one',
  intensity: 3,
  periodMs: 5_000,
  children: [{ id: 'fragile', start: { spec: { module: actors, export: 'fragile' }, scheduler: 1, name: 'fragile' } }],
});
const first = node.whereis('fragile')!;
node.send('fragile', 'work');
node.send('fragile', 'work');
say(`supervised worker ${show(first)} tallied ${await node.call('fragile', 'tally')} messages`);

// 3. A monitor fires when the worker crashes; the supervisor restarts it.
const down: DownMessage = await (async () => {
  const watching = node.monitor(first);
  node.send(first, 'crash');
  return watching;
})();
say(`monitor fired: DOWN ${show(down.pid as Pid)} reason: ${(down.reason as Error).message}`);
const restarted = await waitForRestart(sup, first);
say(`supervisor restarted it as ${show(restarted)}; a fresh tally: ${await node.call(restarted, 'tally')}`);

await node.stop();
say('node stopped: children shut down in reverse order');

// 4. Two nodes talking: a second node in another process, over TCP with a cookie.
const main = await Node.start({ name: 'main', port: 0, cookie: 'demo-cookie', logger: silentLogger, failureDetector: { pollIntervalMs: 200 } });
const peerProcess = spawn(process.execPath, ['--import', tsxLoader(), new URL('./demo-peer.ts', import.meta.url).pathname, 'demo-cookie'], { stdio: ['ignore', 'pipe', 'inherit'] });
const peerName = await new Promise<string>((resolve) => peerProcess.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
say(`started node ${main.name}; a second node ${peerName} runs in process ${peerProcess.pid}`);
const events: string[] = [];
const reply = await new Promise<{ greeting: string; pid: Pid }>((resolve) => {
  main.spawn(async (ctx: ActorContext) => {
    ctx.send({ name: 'greeter', node: peerName }, { hello: 'world', replyTo: ctx.self });
    resolve((await ctx.receive())!);
  });
});
say(`sent to {greeter, ${peerName}} and got: "${reply.greeting}"`);
say(`a call to its pid: ${await main.call(reply.pid, 'count')}`);
const lost = main.monitor(reply.pid);
let heard!: () => void;
const heartbeating = new Promise<void>((resolve) => (heard = resolve));
const suspected = new Promise<void>((resolve) => {
  main.spawn(async (ctx: ActorContext) => {
    await subscribeFailureDetector(main, ctx.self);
    for (;;) {
      const event = await ctx.receive<{ type: string; node: string }>();
      events.push(event!.type);
      if (event!.type === 'node-up') heard();
      if (event!.type === 'node-maybe-down') return resolve();
    }
  });
});
await heartbeating;
peerProcess.kill('SIGKILL');
say(`killed the second node (kill -9): monitor fired DOWN with reason '${(await lost).reason}'`);
await suspected;
say(`failure detector events for it: ${events.join(', ')}`);
await main.stop();
say('done');

function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

async function waitForRestart(supervisor: Pid, old: Pid): Promise<Pid> {
  // The restart may still be under way: ask the supervisor until the new child is listed.
  for (;;) {
    const [child] = await whichChildren(node, supervisor);
    if (child?.pid !== undefined && !pidEquals(child.pid, old)) return child.pid;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function show(pid: Pid): string {
  return `<${pid.scheduler}.${pid.id}>`;
}
