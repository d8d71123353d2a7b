// `pnpm bench scale [--json] [--clusters N] [--first N] [--idle-seconds S] [--per-cluster]`:
// many clusters of 3 members on three node processes on loopback. It measures the time
// to start the first `--first` clusters (default 1,000) and then all `--clusters`
// (default 10,000), each with a leader; heap and RSS per member (after a full GC, a
// machine state of a few bytes); the CPU of each idle node process and the messages
// between nodes meanwhile (there should be none but failure-detector heartbeats); the
// time until 99% of clusters have a leader again after one node is killed (kill -9);
// and the time that node takes to restart with all its servers.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessCluster } from '../cluster/process-cluster.js';
import { SCALE_AGENT_NAME, type ScaleAgentRequest, type ScaleStats } from '../cluster/scale-agent.js';
import { type ClusterSpec, type ServerId, startCluster, startClusters } from '../../packages/raft/src/index.js';
import { machine, printTable, progress } from './lib/report.js';

const AGENT_MODULE = new URL('../cluster/scale-agent.ts', import.meta.url).href;

interface Options {
  readonly json: boolean;
  readonly clusters: number;
  readonly first: number;
  readonly idleSeconds: number;
  /** Start clusters one startCluster call each (the old path), rather than in batches. */
  readonly perCluster: boolean;
}

function parse(argv: string[]): Options {
  const num = (flag: string, fallback: number): number => {
    const at = argv.indexOf(flag);
    const value = at >= 0 ? Number(argv[at + 1]) : fallback;
    if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number`);
    return value;
  };
  const clusters = num('--clusters', 10_000);
  return {
    json: argv.includes('--json'),
    clusters,
    first: Math.min(num('--first', 1_000), clusters),
    idleSeconds: num('--idle-seconds', 30),
    perCluster: argv.includes('--per-cluster'),
  };
}

export async function main(argv: string[]): Promise<void> {
  const options = parse(argv);
  const started = Date.now();
  const dataRoot = mkdtempSync(join(tmpdir(), 'rafter-scale-'));
  const cluster = await ProcessCluster.start({ nodes: 3, machineModules: [AGENT_MODULE], recoveryProgress: true, readyTimeoutMs: 300_000, dataRoot, verbose: argv.includes('--verbose') });
  try {
    const result = await run(cluster, options);
    result.totalSeconds = round((Date.now() - started) / 1000);
    if (options.json) console.log(JSON.stringify(result));
    else print(result, options);
  } finally {
    // kill -9 rather than a clean stop of every server; the data (four directories per
    // member) is removed in the background, which takes minutes on a busy disk.
    for (let i = 0; i < cluster.nodes.length; i++) await cluster.kill(i);
    await cluster.stop();
    spawn('rm', ['-rf', dataRoot], { detached: true, stdio: 'ignore' }).unref();
  }
}

type Result = Record<string, unknown> & { totalSeconds?: number };

async function run(cluster: ProcessCluster, options: Options): Promise<Result> {
  const stats = (gc = false) => Promise.all(cluster.nodes.map((_, i) => agentStats(cluster, i, gc)));
  // The same nodes with no cluster: the failure detector's heartbeats and the runtime.
  // Idle windows come before the forced GCs that measure memory: a forced full GC sets
  // V8's memory reducer going (more full GCs seconds later), which is the probe's doing.
  const bare = await stats();
  await delay(options.idleSeconds * 500);
  const bareEnd = await stats();
  const idleCpuNoClusters = bareEnd.map((s, i) => cpuPercent(bare[i]!, s));
  const before = await stats(true);

  progress(`starting ${options.first} clusters of 3`);
  const t0 = performance.now();
  await startMany(cluster, 0, options.first, options.perCluster);
  const startSeconds1000Clusters = (performance.now() - t0) / 1000;
  progress(`  ${round(startSeconds1000Clusters)} s; starting the rest, up to ${options.clusters}`);
  await startMany(cluster, options.first, options.clusters, options.perCluster);
  const startSeconds10000Clusters = (performance.now() - t0) / 1000;
  progress(`  ${round(startSeconds10000Clusters)} s for ${options.clusters}`);

  const afterStart = await stats();
  const leaders = afterStart.reduce((n, s) => n + s.leaders, 0);
  if (leaders !== options.clusters) throw new Error(`${leaders} leaders for ${options.clusters} clusters`);

  // Settle: the last elections, commits and applied indexes are done (no Raft message
  // for two seconds), at most two minutes.
  let settledAt = await stats();
  const settleBy = performance.now() + 120_000;
  for (;;) {
    await delay(2_000);
    const now = await stats();
    const quiet = now.every((s, i) => s.messagesSent === settledAt[i]!.messagesSent);
    settledAt = now;
    if (quiet || performance.now() > settleBy) break;
  }
  progress(`  settled: ${settledAt.map((s) => s.messagesSent).join(' / ')} Raft messages sent so far per node`);
  const idleFrom = await stats();
  progress(`idle for ${options.idleSeconds} s`);
  await delay(options.idleSeconds * 1000);
  const idleTo = await stats();
  const memoryAt = await stats(true);
  const idleCpu = idleTo.map((s, i) => cpuPercent(idleFrom[i]!, s));
  const idleCpuByThread = idleTo.map((s, i) => threadShares(idleFrom[i]!, s));
  const idleGcPercent = idleTo.map((s, i) => round((100 * (s.atStart.gcMillis - idleFrom[i]!.gcMillis)) / (s.atStart.atMs - idleFrom[i]!.atMs)));
  const idleMessages = sum(idleTo, (s, i) => s.messagesSent - idleFrom[i]!.messagesSent);
  const idleSignals = sum(idleTo, (s, i) => s.peerSignalsSent - idleFrom[i]!.peerSignalsSent);
  const idleTicks = sum(idleTo, (s, i) => s.ticksDelivered - idleFrom[i]!.ticksDelivered);
  const members = options.clusters; // per node: one member of every cluster
  const tickCost = await Promise.all(cluster.nodes.map((_, i) => agentCall<{ servers: number; micros: number }>(cluster, i, { op: 'tickCost', runs: 21 })));
  const heapPerMember = memoryAt.map((s, i) => (s.heapUsed - before[i]!.heapUsed) / members);
  const rssPerMember = memoryAt.map((s, i) => (s.rss - before[i]!.rss) / members);

  progress(`  idle: ${JSON.stringify({ idleCpu: idleCpu.map(round), idleCpuByThread, idleGcPercent, idleMessages, idleSignals, idleTicks, heapPerMember: heapPerMember.map(Math.round), rssPerMember: rssPerMember.map(Math.round), tickCost })}`);
  // One node killed: its leaders' clusters elect on the other two.
  const victim = 0;
  progress(`killing node ${victim + 1}`);
  const killedAt = performance.now();
  await cluster.kill(victim);
  const target = Math.ceil(options.clusters * 0.99);
  let reelectP99Seconds = Number.NaN;
  let lastReport = killedAt;
  for (;;) {
    const leading = new Set<string>();
    for (let i = 0; i < cluster.nodes.length; i++) {
      if (i === victim) continue;
      for (const name of await agentCall<string[]>(cluster, i, { op: 'leading' })) leading.add(name);
    }
    if (leading.size >= target) {
      reelectP99Seconds = (performance.now() - killedAt) / 1000;
      break;
    }
    if (performance.now() - killedAt > 120_000) {
      const stalled = await Promise.all(cluster.nodes.map((_, i) => (i === victim ? undefined : agentCall(cluster, i, { op: 'leaderless', limit: 5 }))));
      throw new Error(`only ${leading.size} of ${options.clusters} clusters have a leader 120 s after the kill; members without a leader per node: ${JSON.stringify(stalled)}`);
    }
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      progress(`  ${leading.size} of ${options.clusters} clusters have a leader after ${round((lastReport - killedAt) / 1000)} s`);
    }
    await delay(20);
  }
  progress(`  99% have a leader after ${round(reelectP99Seconds)} s; restarting node ${victim + 1}`);

  const restartAt = performance.now();
  await cluster.restart(victim);
  const recoverySeconds10000Servers = (performance.now() - restartAt) / 1000;
  // The restarted node is busy catching up: a probe that finds its connection dropped is retried.
  let recovered: ScaleStats | undefined;
  for (let attempt = 1; recovered === undefined; attempt++) {
    try {
      recovered = await agentStats(cluster, victim, false);
    } catch (err) {
      if (attempt >= 5) throw err;
      await delay(1_000);
    }
  }
  if (recovered.servers !== options.clusters) throw new Error(`node ${victim + 1} restarted with ${recovered.servers} of ${options.clusters} servers`);
  progress(`  restarted with ${recovered.servers} servers in ${round(recoverySeconds10000Servers)} s`);

  return {
    machine: machine(),
    clusters: options.clusters,
    startPath: options.perCluster ? 'startCluster' : 'startClusters',
    startSeconds1000Clusters: round(startSeconds1000Clusters),
    startSeconds10000Clusters: round(startSeconds10000Clusters),
    bytesPerMember: Math.round(Math.max(...heapPerMember.map((h, i) => Math.max(h, rssPerMember[i]!)))),
    heapBytesPerMember: heapPerMember.map(Math.round),
    rssBytesPerMember: rssPerMember.map(Math.round),
    idleCpuPercent: round(Math.max(...idleCpu)),
    idleCpuPercentPerNode: idleCpu.map(round),
    idleCpuPercentNoClusters: round(Math.max(...idleCpuNoClusters)),
    idleCpuPercentByThread: idleCpuByThread,
    idleGcPausePercentPerNode: idleGcPercent,
    idleSeconds: options.idleSeconds,
    idleRaftMessages: idleMessages,
    idlePeerSignals: idleSignals,
    idleTicksDelivered: idleTicks,
    tickCheckMicrosPerTick: Math.max(...tickCost.map((c) => c.micros)),
    reelectP99Seconds: round(reelectP99Seconds),
    recoverySeconds10000Servers: round(recoverySeconds10000Servers),
  };
}

/** Clusters `from` .. `to` - 1, named c<i>, one member per node; the election is triggered on member i % 3 so leaders spread. */
async function startMany(cluster: ProcessCluster, from: number, to: number, perCluster: boolean): Promise<void> {
  const via = cluster.control;
  const specs: ClusterSpec[] = [];
  for (let i = from; i < to; i++) {
    const servers: ServerId[] = cluster.nodes.map((_, n) => cluster.serverId(`c${i}_${n + 1}`, n));
    specs.push({ clusterName: `c${i}`, machine: 'tiny', servers, electFirst: servers[i % servers.length] as ServerId });
  }
  if (!perCluster) {
    const results = await startClusters(cluster.system, specs, { via, timeoutMs: 600_000 });
    const failed = results.filter((r) => r.leader === undefined);
    if (failed.length > 0) throw new Error(`${failed.length} clusters did not start: ${String(failed[0]?.error)}`);
    return;
  }
  // The old path: a startCluster call per cluster, 64 at a time.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < specs.length) {
      const spec = specs[next++]!;
      await startCluster(cluster.system, spec.clusterName, spec.machine, spec.servers, { via, timeoutMs: 60_000 });
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

function agentCall<R>(cluster: ProcessCluster, index: number, request: ScaleAgentRequest): Promise<R> {
  return cluster.control.call<R>({ name: SCALE_AGENT_NAME, node: cluster.nodes[index]!.fullName }, request, { timeoutMs: 60_000 }).catch((err: unknown) => {
    const child = cluster.nodes[index]!.child;
    throw new Error(`probe of node ${index + 1} failed (process ${child === undefined ? 'gone' : `exit code ${child.exitCode}, signal ${child.signalCode}`}): ${String(err)}`);
  });
}

function agentStats(cluster: ProcessCluster, index: number, gc: boolean): Promise<ScaleStats> {
  return agentCall<ScaleStats>(cluster, index, { op: 'stats', gc });
}

/** Percent of a core the process used from the end of probe `from` to the start of probe `to` (the probes' own work left out). */
function cpuPercent(from: ScaleStats, to: ScaleStats): number {
  return (100 * (to.atStart.cpuMicros - from.cpuMicros)) / 1000 / (to.atStart.atMs - from.atMs);
}

/** Percent of a core per thread name between two probes, the busiest first; threads under 0.05% left out. */
function threadShares(from: ScaleStats, to: ScaleStats): Record<string, number> {
  const seconds = (to.atStart.atMs - from.atMs) / 1000;
  const shares = Object.entries(to.atStart.threadCpuMicros)
    .map(([name, micros]) => [name, round((micros - (from.threadCpuMicros[name] ?? 0)) / 1e4 / seconds)] as const)
    .filter(([, percent]) => percent >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(shares);
}

function sum<T>(items: readonly T[], f: (item: T, i: number) => number): number {
  return items.reduce((n, item, i) => n + f(item, i), 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function print(r: Result, options: Options): void {
  console.log(`scale benchmark: ${options.clusters} clusters of 3 on 3 node processes (${r.startPath}); ${machine().cpu}, Node ${process.version}\n`);
  printTable(
    ['figure', 'value', 'goal'],
    [
      [`start ${options.first} clusters`, `${r.startSeconds1000Clusters} s`, 'Ra: 10.4 s for 1,000 (one node)'],
      [`start ${options.clusters} clusters`, `${r.startSeconds10000Clusters} s`, 'Ra: 33.5 s for 3,000 (one node)'],
      ['bytes per member (max of heap, RSS)', `${r.bytesPerMember}`, '< 20,000 (Ra ~41,000)'],
      ['  heap per member, per node', `${(r.heapBytesPerMember as number[]).join(' / ')}`, ''],
      ['  RSS per member, per node', `${(r.rssBytesPerMember as number[]).join(' / ')}`, ''],
      ['idle CPU, busiest node', `${r.idleCpuPercent}% of a core`, '< 2% (Ra: 30% at 3,000)'],
      ['  per node', `${(r.idleCpuPercentPerNode as number[]).join(' / ')}`, ''],
      ['  same nodes before any cluster, busiest', `${r.idleCpuPercentNoClusters}%`, ''],
      ['  GC pauses of the main thread, per node', `${(r.idleGcPausePercentPerNode as number[]).join(' / ')}%`, ''],
      ['  by thread, per node', (r.idleCpuPercentByThread as Record<string, number>[]).map((t) => Object.entries(t).map(([n, p]) => `${n} ${p}`).join(', ')).join(' / '), ''],
      [`idle ${r.idleSeconds} s: Raft messages / peer signals`, `${r.idleRaftMessages} / ${r.idlePeerSignals}`, '0 / 0'],
      [`idle ${r.idleSeconds} s: ticks delivered`, `${r.idleTicksDelivered}`, ''],
      [`system tick's check over ${options.clusters} idle servers`, `${r.tickCheckMicrosPerTick} µs per tick`, ''],
      ['99% of clusters led again after kill -9', `${r.reelectP99Seconds} s`, ''],
      [`node restart with ${options.clusters} servers`, `${r.recoverySeconds10000Servers} s`, ''],
    ],
  );
}
