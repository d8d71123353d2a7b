// `pnpm bench actors [--json] [--runs N]`: the actor runtime's speed and footprint,
// each figure beside a baseline measured in the same run.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Node, silentLogger, type ActorContext, type Behaviour, type Pid } from '../../packages/actors/src/index.js';
import { formatRate, machine, median, percentilesUs, printTable, progress } from './lib/report.js';

const fixtures = new URL('./actors/fixtures.ts', import.meta.url).href;

const LOCAL_SEND_MESSAGES = 2_000_000;
const PING_PONG_ROUND_TRIPS = 500_000;
const SPAWN_ACTORS = 500_000;
const IDLE_ACTORS = 100_000;
const CROSS_MESSAGES = 2_000_000;
const CROSS_ROUND_TRIPS = 20_000;
const BASELINE_SMALL_ITEMS = 10_000_000;
const BASELINE_SMALL_CHUNK = 1_000;
const PORT_ROUND_TRIPS = 20_000;

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const runsArg = argv.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(argv[runsArg + 1]) : 5;
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs needs a positive integer, got ${argv[runsArg + 1]}`);

  const samples: Record<string, number[]> = {};
  const add = (key: string, value: number) => (samples[key] ??= []).push(value);
  for (let run = 1; run <= runs; run++) {
    progress(`run ${run}/${runs}: baselines`);
    add('baselineQueuePerSec', baselineQueue(LOCAL_SEND_MESSAGES, LOCAL_SEND_MESSAGES));
    add('baselineQueueSmallPerSec', baselineQueue(BASELINE_SMALL_ITEMS, BASELINE_SMALL_CHUNK));
    add('baselinePortRttUs', await baselinePortRtt());
    progress(`run ${run}/${runs}: local send, ping-pong, spawn`);
    add('localSendPerSec', await localSend());
    add('pingPongPerSec', await pingPong());
    add('spawnPerSec', await spawnExit());
    progress(`run ${run}/${runs}: memory per idle actor`);
    add('bytesPerIdleActor', idleActorBytes());
    progress(`run ${run}/${runs}: cross-scheduler`);
    const cross = await crossScheduler();
    add('crossSchedulerPerSec', cross.perSec);
    add('crossSchedulerObjectsPerSec', cross.objectsPerSec);
    add('crossSchedulerRttP50Us', cross.p50Us);
    add('crossSchedulerRttP99Us', cross.p99Us);
  }
  const result: Record<string, number | object> = { runs, machine: machine() };
  for (const [key, values] of Object.entries(samples)) result[key] = round(median(values));
  const figure = (key: string) => result[key] as number;

  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const m = machine();
  const port = figure('baselinePortRttUs');
  const queue = figure('baselineQueuePerSec');
  const queueSmall = figure('baselineQueueSmallPerSec');
  console.log(`actors benchmark: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; medians of ${runs} runs\n`);
  printTable(
    ['figure', 'median', 'goal', 'vs goal', 'vs baseline (same run)', 'anchor (ANCHORS.md)'],
    [
      ['local send + dispatch', formatRate(figure('localSendPerSec')), '≥ 5 M/s', ratio(figure('localSendPerSec'), 5e6), `${pct(figure('localSendPerSec'), queue)} of bare queue`, `Erlang 3.6–5.1 M/s (${ratio(figure('localSendPerSec'), 5.1e6)} its best)`],
      ['ping-pong round trips', formatRate(figure('pingPongPerSec')), '≥ 1 M/s', ratio(figure('pingPongPerSec'), 1e6), `${pct(2 * figure('pingPongPerSec'), queueSmall)} of small bare queue (2 msgs each)`, `Erlang ~1.2 M/s (${ratio(figure('pingPongPerSec'), 1.2e6)})`],
      ['spawn + exit', formatRate(figure('spawnPerSec')), '≥ 1 M/s', ratio(figure('spawnPerSec'), 1e6), '', `Erlang ~1.0 M/s (${ratio(figure('spawnPerSec'), 1e6)})`],
      ['heap per idle actor', `${figure('bytesPerIdleActor')} B`, '≤ 500 B', `${ratio(500, figure('bytesPerIdleActor'))} under`, '', `Erlang ~2,700 B (${ratio(2700, figure('bytesPerIdleActor'))} lighter)`],
      ['cross-scheduler one-way', formatRate(figure('crossSchedulerPerSec')), '≥ 1 M/s', ratio(figure('crossSchedulerPerSec'), 1e6), '', 'worker_threads batched clone ~1.2 M/s'],
      ['cross-scheduler one-way, { seq } objects', formatRate(figure('crossSchedulerObjectsPerSec')), '', '', '', ''],
      ['cross-scheduler RTT p50', `${figure('crossSchedulerRttP50Us')} µs`, '', '', `${ratio(figure('crossSchedulerRttP50Us'), port)} bare port RTT`, 'postMessage RTT ~107 µs'],
      ['cross-scheduler RTT p99', `${figure('crossSchedulerRttP99Us')} µs`, '', '', '', ''],
      ['baseline: bare array queue', formatRate(queue), '', '', `push ${LOCAL_SEND_MESSAGES.toLocaleString('en-US')} then drain`, ''],
      ['baseline: small bare queue', formatRate(queueSmall), '', '', `push ${BASELINE_SMALL_CHUNK.toLocaleString('en-US')} then drain, repeated`, '~50 M items/s'],
      ['baseline: MessagePort RTT p50', `${port} µs`, '', '', 'main thread <-> echo worker', '~107 µs'],
    ],
  );
}

function round(value: number): number {
  return value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}

function ratio(value: number, goal: number): string {
  return `${(value / goal).toFixed(2)}×`;
}

function pct(value: number, base: number): string {
  return `${Math.round((value / base) * 100)}%`;
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/**
 * A bare array queue: push `items` numbers, then drain them through a handler call,
 * in rounds of `chunk` items. With chunk = LOCAL_SEND_MESSAGES it has the shape of
 * the local-send figure (one mailbox that fills, then drains); with small chunks the
 * queue stays in cache, as a mailbox does in ping-pong.
 */
function baselineQueue(items: number, chunk: number): number {
  let total = 0;
  const handler = (n: number) => {
    total += n;
  };
  const start = process.hrtime.bigint();
  for (let done = 0; done < items; done += chunk) {
    const queue: number[] = [];
    for (let i = 0; i < chunk; i++) queue.push(i);
    for (let i = 0; i < queue.length; i++) handler(queue[i]!);
  }
  const perSec = items / seconds(start);
  if (total < 0) throw new Error('unreachable');
  return perSec;
}

/** Round trips of one message over a MessagePort to a worker that echoes it. */
async function baselinePortRtt(): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads'); workerData.port.on('message', (m) => workerData.port.postMessage(m));`,
    { eval: true, workerData: { port: port2 }, transferList: [port2] },
  );
  const samplesUs: number[] = [];
  await new Promise<void>((resolve) => {
    let t0 = process.hrtime.bigint();
    port1.on('message', () => {
      samplesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (samplesUs.length === PORT_ROUND_TRIPS) return resolve();
      t0 = process.hrtime.bigint();
      port1.postMessage(samplesUs.length);
    });
    port1.postMessage(0);
  });
  port1.close();
  await worker.terminate();
  return percentilesUs(samplesUs, 50)[0]!;
}

const counter: Behaviour<number> = {
  init: () => 0,
  handle: (_msg, n) => n + 1,
  handleCall: (_req, _from, n) => ({ reply: n, state: n }),
};

async function localSend(): Promise<number> {
  const node = await Node.start({ logger: silentLogger });
  const pid = node.spawn(counter, undefined);
  const start = process.hrtime.bigint();
  for (let i = 0; i < LOCAL_SEND_MESSAGES; i++) node.send(pid, i);
  const handled = await node.call<number>(pid, 'count', { timeoutMs: 60_000 });
  const perSec = LOCAL_SEND_MESSAGES / seconds(start);
  if (handled !== LOCAL_SEND_MESSAGES) throw new Error(`counted ${handled} of ${LOCAL_SEND_MESSAGES}`);
  await node.stop();
  return perSec;
}

async function pingPong(): Promise<number> {
  const node = await Node.start({ logger: silentLogger });
  // Warm up the JIT on the same path first, as spawn does: otherwise its first tier-up
  // is about a third of the timed window, and the figure mostly measures the compiler.
  await pingPongRoundTrips(node, PING_PONG_ROUND_TRIPS / 10);
  const start = process.hrtime.bigint();
  await pingPongRoundTrips(node, PING_PONG_ROUND_TRIPS);
  const perSec = PING_PONG_ROUND_TRIPS / seconds(start);
  await node.stop();
  return perSec;
}

interface Player {
  peer: Pid | undefined;
  trips: number;
  done: () => void;
}

/** One behaviour for the warm-up and the timed run, so the handler's call site stays as warmed. */
const player: Behaviour<Player, Omit<Player, 'peer'>> = {
  init: (_ctx, { trips, done }) => ({ peer: undefined, trips, done }),
  handle: (msg: number | { peer: Pid }, state, ctx) => {
    if (typeof msg === 'object') return { ...state, peer: msg.peer };
    if (msg >= state.trips * 2) state.done();
    else ctx.send(state.peer!, msg + 1);
    return state;
  },
};

/** Two actors bounce a counter `trips` times each way; resolves when it is done. */
async function pingPongRoundTrips(node: Node, trips: number): Promise<void> {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const a = node.spawn(player, { trips, done });
  const b = node.spawn(player, { trips, done });
  node.send(a, { peer: b });
  node.send(b, { peer: a });
  node.send(a, 0);
  await finished;
  node.exit(a, 'kill');
  node.exit(b, 'kill');
}

async function spawnExit(): Promise<number> {
  const node = await Node.start({ logger: silentLogger });
  // Warm up the JIT on the same path first, as the other figures' long loops do.
  for (let i = 0; i < SPAWN_ACTORS / 10; i++) node.exit(node.spawn(counter, undefined), 'kill');
  const start = process.hrtime.bigint();
  for (let i = 0; i < SPAWN_ACTORS; i++) node.exit(node.spawn(counter, undefined), 'kill');
  const perSec = SPAWN_ACTORS / seconds(start);
  const left = (await node.info(node.spawn(counter, undefined))) === undefined ? -1 : node.scheduler.actors.size;
  if (left !== 1) throw new Error(`${left} actors alive after spawn + exit, expected 1`);
  await node.stop();
  return perSec;
}

function idleActorBytes(): number {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = new URL('./actors/memory.ts', import.meta.url).pathname;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', loader, script, String(IDLE_ACTORS)], { encoding: 'utf8' });
  const lastLine = out.trim().split('\n').at(-1)!;
  return (JSON.parse(lastLine) as { bytesPerIdleActor: number }).bytesPerIdleActor;
}

async function crossScheduler(): Promise<{ perSec: number; objectsPerSec: number; p50Us: number; p99Us: number }> {
  const node = await Node.start({ schedulers: 3, logger: silentLogger });
  const inbox = collector(node);
  const source = await node.start({ module: fixtures, export: 'source' }, undefined, { scheduler: 1 });
  const sink = await node.start({ module: fixtures, export: 'sink' }, undefined, { scheduler: 2 });
  const oneWay = async (objects: boolean): Promise<number> => {
    await node.call(sink, { target: CROSS_MESSAGES, reportTo: inbox.pid });
    const start = process.hrtime.bigint();
    await node.call(source, { sink, n: CROSS_MESSAGES, objects }, { timeoutMs: 120_000 });
    await inbox.next();
    return CROSS_MESSAGES / seconds(start);
  };
  const perSec = await oneWay(false);
  const objectsPerSec = await oneWay(true);

  const ponger = await node.start({ module: fixtures, export: 'ponger' }, undefined, { scheduler: 2 });
  await node.start({ module: fixtures, export: 'pinger' }, { peer: ponger, n: CROSS_ROUND_TRIPS, reportTo: inbox.pid }, { scheduler: 1 });
  const { samplesUs } = (await inbox.next()) as { samplesUs: number[] };
  const [p50Us, p99Us] = percentilesUs(samplesUs.slice(1_000), 50, 99);
  await node.stop();
  return { perSec, objectsPerSec, p50Us: p50Us!, p99Us: p99Us! };
}

function collector(node: Node): { pid: Pid; next(): Promise<unknown> } {
  const waiting: ((msg: unknown) => void)[] = [];
  const queued: unknown[] = [];
  const pid = node.spawn(async (ctx: ActorContext) => {
    for (;;) {
      const msg = await ctx.receive();
      const resolve = waiting.shift();
      if (resolve !== undefined) resolve(msg);
      else queued.push(msg);
    }
  }, undefined);
  return {
    pid,
    next: () => (queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve))),
  };
}
