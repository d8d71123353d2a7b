// `pnpm bench raft [--json] [--runs N] [--seconds S] [--warmup S] [--trials N] [--clients N]
// [--window N] [--only 1p,3p,latency,node,pause,actor,restart,install] [--recovery] [--entries N]
// [--snapshot-mib N] [--leader-down-ms MIN-MAX]
// [--maybe-down-ms MIN-MAX] [--profile DIR (with --only 1p: the one-process case)]`: one Raft cluster of 3
// members with fsync on and small commands (a counter), in one process and in three node
// processes on loopback: pipelined throughput, Raft messages per command, synchronous
// processCommand latency, and the time to the next successful command after the leader's
// process is killed or paused, or only its server actor is killed. The recovery sections
// (restart, install: lib/raft-recovery.ts) take a minute or more, so they run only when
// named in --only or with --recovery (added to the default sections).

import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { type CoreTimeouts, members, processCommand, type ServerId, serverStatus, startCluster, startSystem } from '@rafter/raft';
import { ProcessCluster } from '../cluster/process-cluster.js';
import '../cluster/machines/counter.js';
import { AGENT_NAME, type AgentRequest, type AgentStats, raftMessagesSent, walCounters } from './lib/raft-agent.js';
import { loadClient, loadCounters } from './lib/raft-load.js';
import { formatRate, machine, median, percentilesUs, printTable, progress } from './lib/report.js';
import { restartTimes, snapshotInstallRate } from './lib/raft-recovery.js';

const MACHINE_MODULES = [new URL('../cluster/machines/counter.ts', import.meta.url).href, new URL('./lib/raft-agent.ts', import.meta.url).href];
const COMMAND = { add: 1 };
const PHASES = ['1p', '3p', 'latency', 'node', 'pause', 'actor', 'restart', 'install'] as const;
type Phase = (typeof PHASES)[number];
const DEFAULT_PHASES: readonly Phase[] = ['1p', '3p', 'latency', 'node', 'pause', 'actor'];
const RECOVERY_PHASES: readonly Phase[] = ['restart', 'install'];

interface Options {
  readonly json: boolean;
  readonly runs: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly trials: number;
  readonly clients: number;
  readonly window: number;
  readonly only: ReadonlySet<Phase>;
  /** Applied entries of the restart section. */
  readonly entries: number;
  /** MiB of machine state in the snapshot of the install section. */
  readonly snapshotMib: number;
  readonly profile: string | undefined;
  /** Election delays for the failover phases (default: the core's). */
  readonly timeouts: Partial<CoreTimeouts> | undefined;
}

function parse(argv: string[]): Options {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const num = (flag: string, fallback: number): number => {
    const v = value(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} takes a positive number, not ${v}`);
    return n;
  };
  const range = (flag: string): [number, number] | undefined => {
    const v = value(flag);
    if (v === undefined) return undefined;
    const [min, max] = v.split('-').map(Number);
    if (!Number.isFinite(min) || !Number.isFinite(max) || min! < 0 || max! < min!) throw new Error(`${flag} takes MIN-MAX milliseconds, not ${v}`);
    return [min!, max!];
  };
  const leaderDown = range('--leader-down-ms');
  const maybeDown = range('--maybe-down-ms');
  const timeouts: Partial<CoreTimeouts> = {
    ...(leaderDown !== undefined ? { leaderDownDelayMsMin: leaderDown[0], leaderDownDelayMsMax: leaderDown[1] } : {}),
    ...(maybeDown !== undefined ? { maybeDownDelayMsMin: maybeDown[0], maybeDownDelayMsMax: maybeDown[1] } : {}),
  };
  const only = value('--only')?.split(',') ?? [...DEFAULT_PHASES, ...(argv.includes('--recovery') ? RECOVERY_PHASES : [])];
  for (const phase of only) if (!(PHASES as readonly string[]).includes(phase)) throw new Error(`--only takes ${PHASES.join(',')}, not ${phase}`);
  return {
    json: argv.includes('--json'),
    runs: num('--runs', 1),
    seconds: num('--seconds', 5),
    warmup: num('--warmup', 2),
    trials: num('--trials', 5),
    clients: num('--clients', 4),
    window: num('--window', 500),
    only: new Set(only as Phase[]),
    entries: num('--entries', 1_000_000),
    snapshotMib: num('--snapshot-mib', 200),
    profile: value('--profile'),
    timeouts: Object.keys(timeouts).length > 0 ? timeouts : undefined,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function main(argv: string[]): Promise<void> {
  const options = parse(argv);
  if (options.profile !== undefined && options.only.size === 1 && options.only.has('1p')) return profileOneProcess(options, options.profile);
  if (options.profile !== undefined) return profile(options, options.profile);
  const samples: Record<string, number[]> = {};
  const add = (key: string, value: number) => (samples[key] ??= []).push(value);
  const has = (phase: Phase) => options.only.has(phase);
  for (let run = 1; run <= options.runs; run++) {
    const tag = `run ${run}/${options.runs}`;
    // The disk is shared: how fast it syncs now says how far the figures are from a quiet machine's.
    const sync = fsyncProbe();
    add('fsyncPerSec', sync.perSec);
    add('fsyncP50Us', sync.p50Us);
    if (has('1p')) {
      progress(`${tag}: 3 members in one process, ${options.clients} clients × ${options.window} in flight`);
      const one = await oneProcess(options);
      add('commandsPerSec1Process', one.perSec);
      add('messagesPerCommand1Process', one.messagesPerCommand);
      add('cpuUsPerCommand1Process', one.cpuUsPerCommand);
      add('walSyncsPerSec1Process', one.leaderSyncsPerSec);
      add('walEntriesPerSync1Process', one.leaderEntriesPerSync);
    }
    if (has('3p') || has('latency')) {
      const cluster = await ProcessCluster.start({ machineModules: MACHINE_MODULES });
      try {
        const ids = await formCluster(cluster, 'bench');
        if (has('3p')) {
          for (const where of ['control', 'leader'] as const) {
            progress(`${tag}: 3 node processes, clients on the ${where === 'control' ? 'control node (over TCP)' : "leader's node"}`);
            const three = await threeProcesses(cluster, ids, where, options);
            add(`commandsPerSec3Processes_${where}`, three.perSec);
            add(`messagesPerCommand3Processes_${where}`, three.messagesPerCommand);
            add(`leaderCpuPercent_${where}`, three.leaderCpuPercent);
            add(`followerCpuPercent_${where}`, three.followerCpuPercent);
            add(`cpuUsPerCommand3Processes_${where}`, three.cpuUsPerCommand);
            add(`leaderWalSyncsPerSec_${where}`, three.leaderSyncsPerSec);
            add(`leaderWalEntriesPerSync_${where}`, three.leaderEntriesPerSync);
          }
        }
        if (has('latency')) {
          progress(`${tag}: one synchronous client, processCommand in a loop`);
          const latency = await syncLatency(cluster, ids, options);
          add('processCommandP50Ms', latency.p50Ms);
          add('processCommandP99Ms', latency.p99Ms);
          add('processCommandPerSec', latency.perSec);
        }
      } finally {
        await cluster.stop();
      }
    }
    for (const kind of ['node', 'pause', 'actor'] as const) {
      if (!has(kind)) continue;
      progress(`${tag}: failover (${kind}), ${options.trials} trials`);
      const times = await failover(kind, options.trials, options.timeouts);
      add(`failover${kind[0]!.toUpperCase()}${kind.slice(1)}P50Ms`, median(times));
      add(`failover${kind[0]!.toUpperCase()}${kind.slice(1)}MaxMs`, Math.max(...times));
    }
    if (has('restart')) {
      progress(`${tag}: node restart with ${options.entries.toLocaleString('en')} applied entries, without and with a checkpoint`);
      const restart = await restartTimes(options.entries);
      for (const [key, v] of Object.entries(restart)) add(key, v);
    }
    if (has('install')) {
      progress(`${tag}: a ${options.snapshotMib} MiB snapshot installed on a new member in another process`);
      const install = await snapshotInstallRate(options.snapshotMib);
      for (const [key, v] of Object.entries(install)) add(key, v);
    }
  }
  const result: Record<string, unknown> = {
    runs: options.runs,
    seconds: options.seconds,
    clients: options.clients,
    window: options.window,
    trials: options.trials,
    ...(options.timeouts !== undefined ? { failoverTimeouts: options.timeouts } : {}),
    machine: machine(),
  };
  for (const [key, values] of Object.entries(samples)) result[key] = round(median(values));
  if (has('3p')) {
    const control = result.commandsPerSec3Processes_control as number;
    const leader = result.commandsPerSec3Processes_leader as number;
    const best = leader > control ? 'leader' : 'control';
    result.commandsPerSec3Processes = Math.max(control, leader);
    result.clients3Processes = best === 'leader' ? "actors in the leader's node process" : 'actors on the control node (bench process), over TCP';
    result.messagesPerCommand = result[`messagesPerCommand3Processes_${best}`];
    result.cpuUsPerCommand3Processes = result[`cpuUsPerCommand3Processes_${best}`];
  } else if (has('1p')) {
    result.messagesPerCommand = result.messagesPerCommand1Process;
  }
  if (options.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (key: string): number | undefined => result[key] as number | undefined;
  const rate = (key: string) => (f(key) === undefined ? '-' : formatRate(f(key)!));
  const ms = (key: string) => (f(key) === undefined ? '-' : `${f(key)} ms`);
  console.log(`raft benchmark: 3 members, fsync on, counter commands; ${machine().cpu}, ${machine().cores} cores, Node ${process.version}; medians of ${options.runs} run(s)`);
  console.log(`the disk now: ${f('fsyncPerSec')} fsyncs/s, p50 ${f('fsyncP50Us')} µs (quiet: ~6,500/s, p50 131 µs); pipelined clients: ${options.clients} × ${options.window} in flight\n`);
  printTable(
    ['figure', 'median', 'goal', 'anchor'],
    [
      ['pipelined, 1 process', rate('commandsPerSec1Process'), '', 'Ra 1 node, 3 members: 34–47 k/s'],
      ['pipelined, 3 processes, clients on control node', rate('commandsPerSec3Processes_control'), '', ''],
      ["pipelined, 3 processes, clients in leader's node", rate('commandsPerSec3Processes_leader'), '', ''],
      ['pipelined, 3 processes (best)', rate('commandsPerSec3Processes'), '≥ 100 k/s, 2 × Ra', 'Ra 3 nodes: 40–60 k/s'],
      ['Raft messages per command, 3 processes', String(f('messagesPerCommand') ?? '-'), '', `1 process: ${f('messagesPerCommand1Process') ?? '-'}`],
      ['CPU per command, 3 processes (all of them)', `${f('cpuUsPerCommand3Processes') ?? '-'} µs`, '', `1 process: ${f('cpuUsPerCommand1Process') ?? '-'} µs`],
      ['processCommand p50, 3 processes', ms('processCommandP50Ms'), '< 0.5 ms', 'Ra 0.52–1.03 ms'],
      ['processCommand p99, 3 processes', ms('processCommandP99Ms'), '', 'Ra ~1.0 ms (quiet)'],
      ['failover, leader process killed (p50)', ms('failoverNodeP50Ms'), '< 500 ms', 'etcd ~1.2 s'],
      ['failover, leader process paused (p50)', ms('failoverPauseP50Ms'), '< 2.5 s', 'aten 1–2 s detection'],
      ['failover, leader server actor killed (p50)', ms('failoverActorP50Ms'), '< 60 ms', 'Ra ~30–70 ms'],
      [`node restart, ${f('restartEntries') ?? '-'} entries replayed`, f('restartSecondsReplay') === undefined ? '-' : `${f('restartSecondsReplay')} s`, '', 'Ra 1–2 M entries: 4–10 s'],
      ['node restart from the checkpoint of a clean stop', f('restartSecondsCheckpoint') === undefined ? '-' : `${f('restartSecondsCheckpoint')} s`, '', ''],
      ['member restart alone (storage open), replayed / from the checkpoint', f('memberRestartSecondsReplay') === undefined ? '-' : `${f('memberRestartSecondsReplay')} s / ${f('memberRestartSecondsCheckpoint')} s`, '', ''],
      [`snapshot install, ${f('snapshotInstallBytes') === undefined ? '-' : `${Math.round(f('snapshotInstallBytes')! / 1e6)} MB`}`, f('snapshotInstallMBPerSec') === undefined ? '-' : `${f('snapshotInstallMBPerSec')} MB/s`, '', ''],
    ],
  );
}

/** 4 KiB write + fdatasync in a loop for a second, in the directory the data goes to. */
function fsyncProbe(): { perSec: number; p50Us: number } {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-bench-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'w');
  const block = Buffer.alloc(4096, 1);
  const samplesUs: number[] = [];
  const start = performance.now();
  try {
    while (performance.now() - start < 1_000) {
      const t0 = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      samplesUs.push((performance.now() - t0) * 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return { perSec: samplesUs.length / ((performance.now() - start) / 1000), p50Us: percentilesUs(samplesUs, 50)[0]! };
}

function round(value: number): number {
  return value >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
}

// ---- one process ----

/** A CPU profile of the one-process case under pipelined load, with its top costs. */
async function profileOneProcess(options: Options, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'one-process.cpuprofile');
  const [one] = await Promise.all([oneProcess(options), sleep(options.warmup * 1000).then(() => profileHere(options.seconds * 1000, file))]);
  console.log(`one process: ${formatRate(one.perSec)} while profiled\n${file}`);
  printTable(['self %', 'total %', 'function', 'where'], topCosts(file, 30));
}

async function oneProcess(options: Options): Promise<Throughput> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-bench-raft-'));
  const node = await Node.start({ name: 'bench1', dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'bench1', dataDir: dir });
  const clients: Pid[] = [];
  try {
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    const { leader } = await startCluster(system, 'bench1', 'counter', ids, { via: node });
    const servers = leaderFirst(ids, leader);
    for (let i = 0; i < options.clients; i++) clients.push(node.spawn(loadClient, { servers, window: options.window }));
    // One system holds the three members: its WAL is the leader's (and the followers').
    const read = async () => {
      const wal = await walCounters(node, 'bench1');
      return { applied: loadCounters.applied, raftSent: raftMessagesSent('bench1'), cpuUs: ownCpuUs(), walSyncs: wal.syncs, walEntries: wal.entries };
    };
    return await measure(read, options);
  } finally {
    for (const pid of clients) node.exit(pid, 'kill');
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function leaderFirst(ids: readonly ServerId[], leader: ServerId | undefined): ServerId[] {
  const first = ids.find((s) => leader !== undefined && s.name === leader.name && s.node === leader.node) ?? ids[0]!;
  return [first, ...ids.filter((s) => s !== first)];
}

interface Counts {
  readonly applied: number;
  readonly raftSent: number;
  /** CPU time of every process taking part, microseconds. */
  readonly cpuUs: number;
  /** The leader's WAL: syncs and entries written so far. */
  readonly walSyncs: number;
  readonly walEntries: number;
}

function ownCpuUs(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

interface Throughput {
  readonly perSec: number;
  readonly messagesPerCommand: number;
  readonly cpuUsPerCommand: number;
  readonly leaderSyncsPerSec: number;
  readonly leaderEntriesPerSync: number;
}

async function measure(read: () => Promise<Counts>, options: Options): Promise<Throughput> {
  await sleep(options.warmup * 1000);
  const before = await read();
  const t0 = performance.now();
  await sleep(options.seconds * 1000);
  const after = await read();
  const seconds = (performance.now() - t0) / 1000;
  const applied = after.applied - before.applied;
  const syncs = after.walSyncs - before.walSyncs;
  return {
    perSec: applied / seconds,
    messagesPerCommand: (after.raftSent - before.raftSent) / applied,
    cpuUsPerCommand: (after.cpuUs - before.cpuUs) / applied,
    leaderSyncsPerSec: syncs / seconds,
    leaderEntriesPerSync: (after.walEntries - before.walEntries) / syncs,
  };
}

// ---- three node processes ----

async function formCluster(cluster: ProcessCluster, name: string): Promise<ServerId[]> {
  const ids = cluster.serverIds(name);
  const { leader } = await startCluster(cluster.system, name, 'counter', ids, { via: cluster.control, timeoutMs: 10_000 });
  await processCommand(ids, COMMAND, { via: cluster.control });
  return leaderFirst(ids, leader);
}

function agentCall<R>(cluster: ProcessCluster, index: number, request: AgentRequest, timeoutMs = 5_000): Promise<R> {
  return cluster.control.call<R>({ name: AGENT_NAME, node: cluster.nodes[index]!.fullName }, request, { timeoutMs });
}

async function threeProcesses(
  cluster: ProcessCluster,
  ids: readonly ServerId[],
  where: 'control' | 'leader',
  options: Options,
): Promise<Throughput & { leaderCpuPercent: number; followerCpuPercent: number }> {
  const leader = (await members(ids, { via: cluster.control })).leader ?? ids[0]!;
  const servers = leaderFirst(ids, leader);
  const leaderIndex = cluster.indexOf(leader.node);
  const clients: Pid[] = [];
  if (where === 'control') {
    for (let i = 0; i < options.clients; i++) clients.push(cluster.control.spawn(loadClient, { servers, window: options.window }));
  } else {
    await agentCall(cluster, leaderIndex, { op: 'load', servers, clients: options.clients, window: options.window });
  }
  const cpu: number[][] = [];
  const read = async (): Promise<Counts> => {
    const stats = await Promise.all(cluster.nodes.map((_, i) => agentCall<AgentStats>(cluster, i, { op: 'stats' })));
    cpu.push(stats.map((s) => s.cpuUs));
    const sum = (f: (s: AgentStats) => number) => stats.reduce((total, s) => total + f(s), 0);
    // The bench process counts only when the clients run in it.
    const control = where === 'control' ? ownCpuUs() : 0;
    const leaderStats = stats[leaderIndex]!;
    return {
      applied: loadCounters.applied + sum((s) => s.applied),
      raftSent: sum((s) => s.raftSent),
      cpuUs: control + sum((s) => s.cpuUs),
      walSyncs: leaderStats.walSyncs,
      walEntries: leaderStats.walEntries,
    };
  };
  try {
    const t0 = performance.now();
    const result = await measure(read, options);
    const elapsedUs = (performance.now() - t0 - options.warmup * 1000) * 1000;
    const [before, after] = cpu as [number[], number[]];
    const percent = (i: number) => ((after[i]! - before[i]!) / elapsedUs) * 100;
    const followers = cluster.nodes.map((_, i) => i).filter((i) => i !== leaderIndex);
    return { ...result, leaderCpuPercent: percent(leaderIndex), followerCpuPercent: median(followers.map(percent)) };
  } finally {
    for (const pid of clients) cluster.control.exit(pid, 'kill');
    if (where === 'leader') await agentCall(cluster, leaderIndex, { op: 'stopLoad' });
    // Let the commands in flight drain before the next phase.
    await processCommand(servers, COMMAND, { via: cluster.control, timeoutMs: 30_000 });
  }
}

async function syncLatency(cluster: ProcessCluster, ids: readonly ServerId[], options: Options): Promise<{ p50Ms: number; p99Ms: number; perSec: number }> {
  const leader = (await members(ids, { via: cluster.control })).leader;
  const servers = leaderFirst(ids, leader);
  const via = cluster.control;
  const warmupEnd = performance.now() + options.warmup * 1000;
  while (performance.now() < warmupEnd) await processCommand(servers, COMMAND, { via });
  const samplesUs: number[] = [];
  const start = performance.now();
  const end = start + options.seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    await processCommand(servers, COMMAND, { via });
    samplesUs.push((performance.now() - t0) * 1000);
  }
  const [p50, p99] = percentilesUs(samplesUs, 50, 99);
  return { p50Ms: p50! / 1000, p99Ms: p99! / 1000, perSec: samplesUs.length / ((performance.now() - start) / 1000) };
}

// ---- failover ----

/**
 * Trials of one kind of failure of the leader. The time runs from the failure to the
 * first command applied through a member that says it leads: members that may answer
 * are polled for their status every few milliseconds, as a client retrying would.
 */
async function failover(kind: 'node' | 'pause' | 'actor', trials: number, timeouts: Partial<CoreTimeouts> | undefined): Promise<number[]> {
  const cluster = await ProcessCluster.start({ machineModules: MACHINE_MODULES, ...(timeouts !== undefined ? { timeouts } : {}) });
  const via = cluster.control;
  const times: number[] = [];
  try {
    const ids = await formCluster(cluster, 'failover');
    for (let trial = 0; trial < trials; trial++) {
      await processCommand(ids, COMMAND, { via, timeoutMs: 30_000 });
      const leader = (await members(ids, { via })).leader;
      if (leader === undefined) throw new Error('no leader before the trial');
      const index = cluster.indexOf(leader.node);
      const candidates = kind === 'actor' ? ids : ids.filter((s) => s.node !== leader.node);
      let t0: number;
      let killed: Promise<void> = Promise.resolve();
      if (kind === 'actor') {
        const pid = await agentCall<Pid | null>(cluster, index, { op: 'whereis', name: leader.name });
        if (pid === null) throw new Error(`no server ${leader.name} on its node`);
        t0 = performance.now();
        via.exit(pid, 'kill');
      } else if (kind === 'pause') {
        t0 = performance.now();
        cluster.pause(index);
      } else {
        t0 = performance.now();
        killed = cluster.kill(index);
      }
      const next = await nextCommand(cluster, candidates, leader, kind === 'actor');
      const committed = next.index;
      times.push(performance.now() - t0);
      await killed;
      const seen = Math.round(next.leaderSeenAt - t0);
      progress(`  ${kind} trial ${trial + 1} (leader on ${cluster.nodes[index]!.shortName}): ${Math.round(times.at(-1)!)} ms (a new leader seen at ${seen} ms)`);
      if (kind === 'node') await cluster.restart(index);
      if (kind === 'pause') cluster.resume(index);
      await rejoined(cluster, leader, committed);
    }
  } finally {
    await cluster.stop();
  }
  return times;
}

/** The index of the first command applied through a candidate that says it leads (not the old leader, unless it may lead again). */
async function nextCommand(cluster: ProcessCluster, candidates: readonly ServerId[], old: ServerId, oldMayLead: boolean): Promise<{ index: number; leaderSeenAt: number }> {
  const via = cluster.control;
  let leaderSeenAt: number | undefined;
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const statuses = await Promise.all(candidates.map((s) => serverStatus(s, { via, timeoutMs: 200 }).catch(() => undefined)));
    for (let i = 0; i < candidates.length; i++) {
      const status = statuses[i];
      const s = candidates[i]!;
      if (status?.role !== 'leader') continue;
      // The killed actor's restarted server could only lead after a new election.
      if (!oldMayLead && s.name === old.name && s.node === old.node) continue;
      leaderSeenAt ??= performance.now();
      try {
        return { index: (await processCommand(s, COMMAND, { via, timeoutMs: 1_000 })).index, leaderSeenAt };
      } catch {
        // Deposed meanwhile: poll again.
      }
    }
    await sleep(2);
  }
  throw new Error('no command was applied within 30 s of the failure');
}

/** Waits until `server` follows or leads again and has applied `index`. */
async function rejoined(cluster: ProcessCluster, server: ServerId, index: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const status = await serverStatus(server, { via: cluster.control, timeoutMs: 500 }).catch(() => undefined);
    if (status !== undefined && status.leader !== undefined && status.lastApplied >= index) return;
    await sleep(20);
  }
  throw new Error(`${server.name} did not rejoin within 60 s`);
}

// ---- profile ----

/** CPU profiles of the three node processes under pipelined load, with the top costs of each. */
async function profile(options: Options, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const cluster = await ProcessCluster.start({ machineModules: MACHINE_MODULES });
  try {
    const ids = await formCluster(cluster, 'bench');
    const leaderIndex = cluster.indexOf(ids[0]!.node);
    const where = process.env.RAFT_BENCH_CLIENTS === 'control' ? 'control' : 'leader';
    const clients: Pid[] = [];
    if (where === 'control') for (let i = 0; i < options.clients; i++) clients.push(cluster.control.spawn(loadClient, { servers: ids, window: options.window }));
    else await agentCall(cluster, leaderIndex, { op: 'load', servers: ids, clients: options.clients, window: options.window });
    await sleep(options.warmup * 1000);
    const ms = options.seconds * 1000;
    const files = await Promise.all([
      ...cluster.nodes.map((n, i) => agentCall<string>(cluster, i, { op: 'profile', ms, file: join(dir, `${i === leaderIndex ? 'leader' : `follower-${n.shortName}`}.cpuprofile`) }, ms + 30_000)),
      ...(where === 'control' ? [profileHere(ms, join(dir, 'control.cpuprofile'))] : []),
    ]);
    for (const pid of clients) cluster.control.exit(pid, 'kill');
    for (const file of files) {
      console.log(`\n${file}`);
      printTable(['self %', 'total %', 'function', 'where'], topCosts(file, 30));
    }
  } finally {
    await cluster.stop();
  }
}

async function profileHere(ms: number, file: string): Promise<string> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await sleep(ms);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Self and total time per function of a .cpuprofile, the costliest first. */
function topCosts(file: string, count: number): string[][] {
  const { nodes } = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\t${n.callFrame.url.replace(/^.*\/(packages|node_modules|tools)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  const walk = (n: ProfileNode, onStack: Set<string>): number => {
    const k = key(n);
    let sum = n.hitCount ?? 0;
    self.set(k, (self.get(k) ?? 0) + sum);
    all += sum;
    const seen = onStack.has(k);
    if (!seen) onStack.add(k);
    for (const c of n.children ?? []) sum += walk(byId.get(c)!, onStack);
    if (!seen) {
      onStack.delete(k);
      total.set(k, (total.get(k) ?? 0) + sum);
    }
    return sum;
  };
  walk(nodes[0]!, new Set());
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, hits]) => {
      const [fn, where] = k.split('\t') as [string, string];
      return [((hits / all) * 100).toFixed(1), (((total.get(k) ?? 0) / all) * 100).toFixed(1), fn, where];
    });
}
