// `pnpm demo`: a key/value store replicated by Raft over three node processes on this
// machine. A client writes at a steady rate while the leader's process is killed
// (kill -9) and later restarted; the demo measures the failover and the catch-up, then
// stops every process it started and removes its data, also on Ctrl-C or an error.

import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  type RafterError,
  type ServerId,
  consistentQuery,
  processCommand,
  serverStatus,
  startCluster,
} from '@rafter/raft';
import { ProcessCluster } from '../../../tools/cluster/process-cluster.js';
import type { KvCommand } from './kv-machine.js';

const FAILOVER_GOAL_MS = 500;
const WRITES_PER_SECOND = 100;
const KEYS = 50;
/** Give up (and exit 1) if a phase that should take a second takes this long. */
const PHASE_TIMEOUT_MS = 20_000;

const started = performance.now();
const say = (line: string): void => console.log(line);
const ms = (from: number): number => Math.round(performance.now() - from);
const sleep = (delayMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delayMs));

// ---- clean-up: once, from the end of the run, an error, or a signal ----

let cluster: ProcessCluster | undefined;
let starting: Promise<ProcessCluster> | undefined;
let cleanup: Promise<void> | undefined;
let interrupted = false;

/** Thrown at the next step once a signal asked us to stop, so no new process is started. */
class Interrupted extends Error {}

function checkpoint(): void {
  if (interrupted) throw new Interrupted('interrupted');
}

function stopEverything(): Promise<void> {
  cleanup ??= (async () => {
    client.running = false;
    const c = cluster ?? (await starting?.catch(() => undefined));
    await c?.stop();
  })();
  return cleanup;
}

let interruptedAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A signal repeated within a second is the same Ctrl-C reaching us twice; later, the user insists.
    if (interrupted) {
      if (performance.now() - interruptedAt > 1_000) process.exit(130); // the node processes exit when our pipes close
      return;
    }
    interrupted = true;
    interruptedAt = performance.now();
    say(`\n${signal}: stopping the node processes and removing their data...`);
    void stopEverything().finally(() => {
      say('Stopped.');
      process.exit(130);
    });
  });
}

// ---- the client: one write at a time, at a steady rate, retrying through failover ----

interface Client {
  running: boolean;
  /** Acknowledged writes. */
  acked: number;
  lastIndex: number;
  leader: ServerId | undefined;
  lastValue: Map<string, number>;
  /** Called after every acknowledged write. */
  onAck: (leader: ServerId, at: number) => void;
}

const client: Client = { running: false, acked: 0, lastIndex: 0, leader: undefined, lastValue: new Map(), onAck: () => undefined };

/** Errors after which the same write is simply sent again: puts are idempotent. */
const RETRYABLE = new Set(['RAFTER_TIMEOUT', 'RAFTER_NODEDOWN', 'RAFTER_NOPROC', 'RAFTER_NOT_LEADER', 'RAFTER_LEADERSHIP_LOST']);

async function runClient(ids: readonly ServerId[]): Promise<void> {
  const periodMs = 1_000 / WRITES_PER_SECOND;
  let next = performance.now();
  for (let n = 1; client.running; n++) {
    const key = `key-${n % KEYS}`;
    const command: KvCommand = { type: 'put', key, value: n };
    for (;;) {
      // The leader first; processCommand follows redirects and tries the others.
      const order = client.leader === undefined ? ids : [client.leader, ...ids.filter((s) => s.name !== client.leader?.name)];
      try {
        const result = await processCommand(order, command, { timeoutMs: 1_000, via: cluster?.control });
        client.acked += 1;
        client.lastIndex = result.index;
        client.leader = result.leader;
        client.lastValue.set(key, n);
        client.onAck(result.leader, performance.now());
        break;
      } catch (err) {
        if (!RETRYABLE.has((err as RafterError).code) || !client.running) throw err;
        await sleep(5);
      }
    }
    next = Math.max(next + periodMs, performance.now());
    await sleep(next - performance.now());
  }
}

/** Prints one progress line per second for `seconds`. */
async function showProgress(seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    await sleep(1_000);
    checkpoint();
    say(`  ${((performance.now() - started) / 1_000).toFixed(1).padStart(5)} s  ${String(client.acked).padStart(5)} writes acknowledged, log index ${client.lastIndex}, leader ${client.leader?.name}`);
  }
}

function within<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// ---- the run ----

async function main(): Promise<void> {
  say('Rafter demo: a key/value store replicated by Raft over 3 node processes on this machine.');
  starting = ProcessCluster.start({ nodes: 3, machineModules: [new URL('./kv-machine.ts', import.meta.url).href] });
  cluster = await starting;
  checkpoint();
  const c = cluster;
  const via = c.control;
  say(`1. Started 3 node processes in ${ms(started)} ms (data under ${c.dataRoot}):`);
  for (const n of c.nodes) say(`     ${n.shortName}: node ${n.fullName}, process id ${n.child?.pid}`);

  checkpoint();
  const ids = c.serverIds('kv');
  const formed = performance.now();
  const { leader } = await startCluster(c.system, 'kv', 'kv', ids, { via });
  client.leader = leader;
  say(`2. Started the Raft cluster 'kv' in ${ms(formed)} ms: members ${ids.map((s) => s.name).join(', ')} (one per node); leader ${leader?.name}.`);

  say(`3. A client writes key-0..key-${KEYS - 1} at ${WRITES_PER_SECOND} writes/s (each write waits until a majority stored it):`);
  client.running = true;
  const clientDone = runClient(ids);
  clientDone.catch(() => undefined); // awaited below; this keeps an early failure from going unhandled
  await showProgress(2);

  const victim = client.leader as ServerId;
  const victimIndex = c.indexOf(victim.node);
  say(`4. Killing the leader's process (kill -9 of ${c.nodes[victimIndex]?.shortName}, process id ${c.nodes[victimIndex]?.child?.pid}, which runs ${victim.name})...`);
  const failover = new Promise<{ leader: ServerId; at: number }>((resolve) => {
    client.onAck = (by, at) => {
      if (by.name !== victim.name) resolve({ leader: by, at });
    };
  });
  const appliedBefore = (await serverStatus(victim, { via })).lastApplied;
  checkpoint();
  const killedAt = performance.now();
  await c.kill(victimIndex);
  const next = await within('a write through a new leader', failover);
  client.onAck = () => undefined;
  const failoverMs = Math.round(next.at - killedAt);
  const verdict = failoverMs < FAILOVER_GOAL_MS ? 'within' : 'OVER';
  say(`   New leader: ${next.leader.name}. The first write it committed was acknowledged ${failoverMs} ms after the kill (${verdict} the ${FAILOVER_GOAL_MS} ms goal).`);
  await showProgress(2);

  const restartAt = performance.now();
  checkpoint();
  say(`5. Restarting ${c.nodes[victimIndex]?.shortName} (same name, port and data directory)...`);
  await c.restart(victimIndex);
  const backAt = performance.now();
  say(`   ${c.nodes[victimIndex]?.shortName} is back after ${ms(restartAt)} ms. ${victim.name} had applied index ${appliedBefore} when it was killed; it recovers from its log and catches up from the leader:`);
  const caughtUpMs = await within(`${victim.name} catching up`, catchUp(victim, backAt));
  say(`   ${victim.name} caught up ${caughtUpMs} ms after its node was back.`);
  await showProgress(1);

  client.running = false;
  await clientDone;
  const last = await within('the members agreeing', sameAppliedIndex(ids));
  say(`6. The client stopped after ${client.acked} writes. All 3 members applied the log up to index ${last}.`);
  const size = await consistentQuery<number>(ids, 'size', { via });
  const probe = `key-${client.acked % KEYS}`;
  const value = await consistentQuery<number>(ids, { get: probe }, { via });
  const expected = client.lastValue.get(probe);
  say(`   A consistent read on the leader: ${size.result} keys, ${probe} = ${value.result} (the client last wrote ${expected}).`);
  if (value.result !== expected) throw new Error(`${probe} reads ${value.result}, but the client's last acknowledged write was ${expected}`);
}

/** Prints the restarted member's applied index against the leader's until it has caught up; returns the ms since `from`. */
async function catchUp(member: ServerId, from: number): Promise<number> {
  const via = cluster?.control;
  for (;;) {
    const leader = client.leader as ServerId;
    const ahead = await serverStatus(leader, { via, timeoutMs: 1_000 });
    const behind = await serverStatus(member, { via, timeoutMs: 1_000 }).catch(() => undefined);
    const applied = behind?.lastApplied ?? 0;
    say(`     ${member.name} applied index ${String(applied).padStart(5)}, leader ${leader.name} ${ahead.lastApplied}`);
    // Read after the leader's: at or past it means caught up.
    if (applied >= ahead.lastApplied) return ms(from);
    await sleep(100);
  }
}

async function sameAppliedIndex(ids: readonly ServerId[]): Promise<number> {
  for (;;) {
    const applied = await Promise.all(ids.map((s) => serverStatus(s, { via: cluster?.control }).then((st) => st.lastApplied)));
    if (applied.every((a) => a === applied[0])) return applied[0] as number;
    await sleep(20);
  }
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  if (!interrupted) {
    say(`The demo failed: ${err instanceof Error ? err.message : String(err)}`);
    exitCode = 1;
  }
}
if (!interrupted) {
  const dataRoot = cluster?.dataRoot;
  await stopEverything();
  const removed = dataRoot === undefined || !existsSync(dataRoot);
  say(`7. Stopped the 3 node processes${removed ? ' and removed their data' : ''}. Done in ${(ms(started) / 1_000).toFixed(1)} s.`);
  process.exit(exitCode);
}
