// The runnable example of docs/guide/state-machine.md: the key/value machine of
// kv-machine.ts in a 3-member cluster, all members on one node to keep it short.
// Run with `pnpm tsx packages/raft/examples/state-machine.ts`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, Node, silentLogger } from '@rafter/actors';
import {
  type PipelineEvent,
  RafterError,
  type ServerId,
  consistentQuery,
  isPipelineEvent,
  leaderQuery,
  localQuery,
  pipelineCommand,
  processCommand,
  restartServer,
  startCluster,
  startSystem,
  stopServer,
} from '@rafter/raft';
import { type KvChanged, type KvState } from './kv-machine.js'; // importing it registers 'kv'

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`example failed: ${what}`);
};

/** Runs `start`, which calls `done` from an actor, and fails after `ms`. The actor runtime's timers don't keep a process alive; this one does. */
function within<T>(ms: number, start: (done: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`example failed: no answer within ${ms} ms`)), ms);
    start((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'rafter-example-'));
const node = await Node.start({ name: 'example', logger: silentLogger });
try {
  // Start a system, then a cluster.
  // Snapshot when the machine offers a point at least 10 entries past the last one (default 4,096).
  const system = await startSystem(node, { dataDir, snapshotPolicy: { minEntries: 10, minIntervalMs: 0 } });
  const ids: ServerId[] = ['kv1', 'kv2', 'kv3'].map((name) => ({ name, node: node.name }));
  const { started, leader } = await startCluster(system, 'kv', 'kv', ids, { machineConfig: { snapshotEvery: 10 } });
  console.log(`cluster kv: ${started.length} members, leader ${leader?.name}`);

  // Commands.
  const first = await processCommand(ids, { type: 'put', key: 'colour', value: 'red' });
  const second = await processCommand(ids, { type: 'put', key: 'colour', value: 'blue' });
  console.log(`put colour: previous ${first.reply}, then ${second.reply}; applied at index ${second.index} by ${second.leader.name}`);
  check(first.reply === null && second.reply === 'red', 'put replies the previous value');

  // Queries.
  const read = await consistentQuery(ids, { get: 'colour' });
  const size = await leaderQuery(ids, 'size');
  const keys = await localQuery(ids[2] as ServerId, (state: KvState) => Object.keys(state.entries));
  console.log(`consistent read: colour = ${read.result} at index ${read.index}; leader query: ${size.result} key; local query on kv3: ${JSON.stringify(keys.result)}`);
  check(read.result === 'blue' && size.result === 1, 'queries');

  // Effects: a watcher gets `send` effects, a TTL uses a `timer` effect.
  const changes: KvChanged[] = [];
  await within(5_000, (done) => {
    node.spawn(async (ctx: ActorContext) => {
      await processCommand(ids, { type: 'watch', key: 'session', pid: ctx.self }, { via: ctx });
      await processCommand(ids, { type: 'put', key: 'session', value: 'abc', ttlMs: 50 }, { via: ctx });
      while (changes.length < 2) changes.push((await ctx.receive<KvChanged>((m) => m.type === 'kv_changed')) as KvChanged);
      done(undefined);
    });
  });
  console.log(`watcher saw: ${changes.map((c) => `${c.key} = ${c.value}`).join(', then ')}`);
  check(changes[0]?.value === 'abc' && changes[1]?.value === null, 'the watcher sees the put, then the expiry');

  // Pipelining: no wait per command; replies arrive as raft_event messages.
  const replies = await within<Array<readonly [unknown, unknown]>>(5_000, (done) => {
    node.spawn(async (ctx: ActorContext) => {
      for (let i = 1; i <= 20; i++) pipelineCommand(ctx, second.leader, { type: 'put', key: `k${i}`, value: i }, i);
      const got: Array<readonly [unknown, unknown]> = [];
      while (got.length < 20) {
        const msg = await ctx.receive<PipelineEvent>(isPipelineEvent);
        if (msg?.event.type !== 'applied') throw new Error(`pipeline: ${JSON.stringify(msg?.event)}`);
        got.push(...msg.event.replies);
      }
      done(got);
    });
  });
  console.log(`pipelined 20 puts: replies for correlations ${replies[0]?.[0]}..${replies.at(-1)?.[0]}`);
  check(replies.every(([correlation], i) => correlation === i + 1), 'pipeline replies come in order');

  // Snapshots: every 10 commands the machine released its cursor. A member stopped
  // and restarted recovers from its snapshot and the log after it.
  const follower = ids.find((s) => s.name !== second.leader.name) as ServerId;
  await stopServer(system, follower);
  await processCommand(ids, { type: 'put', key: 'colour', value: 'green' });
  await restartServer(system, follower);
  const after = await processCommand(ids, { type: 'delete', key: 'k1' });
  let local = await localQuery(follower, { get: 'colour' });
  for (let tries = 0; local.index < after.index && tries < 500; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    local = await localQuery(follower, { get: 'colour' });
  }
  console.log(`${follower.name} restarted and reads colour = ${local.result} at index ${local.index}`);
  check(local.result === 'green', 'a restarted member catches up');

  // Other ways to name a machine: a module any node and thread can load, or a simple function.
  const kvModule = { module: new URL('./kv-machine.ts', import.meta.url).href, export: 'kv' };
  const solo: ServerId = { name: 'solo', node: node.name };
  await startCluster(system, 'kv-solo', kvModule, [solo]);
  await processCommand(solo, { type: 'put', key: 'alone', value: true });
  const adder: ServerId = { name: 'adder', node: node.name };
  await startCluster(system, 'sum', { simple: (n: number, total: number) => total + n, initial: 0 }, [adder]);
  await processCommand(adder, 5);
  const total = await processCommand(adder, 7);
  console.log(`one-member clusters: by module, ${(await localQuery(solo, 'size')).result} key; simple adder, 5 + 7 = ${total.reply}`);
  check(total.reply === 12, 'the simple machine replies its new state');

  // Errors carry a stable code.
  try {
    await processCommand({ name: 'nobody', node: node.name }, { type: 'delete', key: 'x' }, { timeoutMs: 1_000 });
    check(false, 'a command to a missing server fails');
  } catch (err) {
    if (!(err instanceof RafterError) || err.code !== 'RAFTER_NOPROC') throw err;
    console.log(`a command to a server that does not exist fails with ${err.code}: ${err.message}`);
  }
  await system.stop();
} finally {
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
