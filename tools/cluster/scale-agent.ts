// A probe in each node process for scale runs (the scale benchmark and test): an actor
// registered as `rafter_scale_agent` that reports, without calling any server, what the
// node's servers and process look like: counts by role, message counters from the
// system's directory, the distribution's signal counters towards the other nodes, heap
// and RSS (after a full GC on request) and the process's CPU time.

import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { getHeapSpaceStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import type { Behaviour, Node } from '@rafter/actors';
import { overview, type RaftSystem, registerMachine } from '@rafter/raft';
import { localSystem } from '../../packages/raft/src/system/system.js';

export const SCALE_AGENT_NAME = 'rafter_scale_agent';

/** A machine whose state is a few bytes: the member's own cost is what is measured. */
registerMachine('tiny', {
  init: () => 0,
  apply: (_meta, command: number, state: number) => ({ state: state + command, reply: state + command }),
});

setFlagsFromString('--expose_gc');

let gcMillis = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMillis += entry.duration;
}).observe({ entryTypes: ['gc'] });
const gc = runInNewContext('gc') as () => void;

export type ScaleAgentRequest =
  | { readonly op: 'stats'; readonly gc?: boolean }
  /** The clusters whose local member leads. */
  | { readonly op: 'leading' }
  /** Up to `limit` local members that know no leader: cluster, role and term (to see why an election stalls). */
  | { readonly op: 'leaderless'; readonly limit: number }
  /** Microseconds one pass of the system's tick check over every server takes (the median of `runs`). */
  | { readonly op: 'tickCost'; readonly runs: number }
  /** Writes a heap snapshot (after a full GC) to `path`, to see what each member holds. */
  | { readonly op: 'heapSnapshot'; readonly path: string };

export interface ProcessClocks {
  readonly cpuMicros: number;
  readonly threadCpuMicros: Record<string, number>;
  readonly gcMillis: number;
  readonly atMs: number;
}

function processClocks(): ProcessClocks {
  const cpu = process.cpuUsage();
  return { cpuMicros: cpu.user + cpu.system, threadCpuMicros: threadCpu(), gcMillis, atMs: Date.now() };
}

export interface ScaleStats {
  readonly node: string;
  readonly servers: number;
  readonly leaders: number;
  readonly followers: number;
  /** Members that know a leader (they lead, or follow one). */
  readonly withLeader: number;
  readonly messagesSent: number;
  readonly messagesReceived: number;
  /** The system's ticks so far, and the ticks it delivered to servers (only those with work for one). */
  readonly systemTicks: number;
  readonly ticksDelivered: number;
  /** Signals to and from the other nodes (the control node left out), heartbeats not counted. */
  readonly peerSignalsSent: number;
  readonly peerSignalsReceived: number;
  readonly heapUsed: number;
  readonly rss: number;
  /** Where RSS beyond the used heap goes: the heap's committed size, memory outside it, and each heap space's committed size. */
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly heapSpaces: Readonly<Record<string, number>>;
  /** Process CPU time (user + system) in microseconds, and the wall clock it was read at. */
  readonly cpuMicros: number;
  /** The same CPU time by thread name (main, V8 workers, libuv pool, ...), where /proc shows threads (Linux). */
  readonly threadCpuMicros: Record<string, number>;
  /** Milliseconds of GC pauses on the main thread so far (forced ones included). */
  readonly gcMillis: number;
  /**
   * The process's clocks when the probe began, before its own work (it reads 10,000
   * servers' counters): a CPU window from one probe's end to the next one's start holds
   * none of the probes' work.
   */
  readonly atStart: ProcessClocks;
  readonly atMs: number;
}

interface AgentState {
  readonly node: Node;
  readonly system: string;
}

const agent: Behaviour<AgentState, AgentState> = {
  init: (_ctx, state) => state,
  handleCall(request: ScaleAgentRequest, _from, state) {
    if (request.op === 'leading') {
      const runtime = localSystem(state.system);
      const names: string[] = [];
      for (const entry of runtime?.directory.values() ?? []) if (entry.role === 'leader') names.push(entry.clusterName);
      return { reply: names, state };
    }
    if (request.op === 'leaderless') {
      const found: { cluster: string; role: string; term: number }[] = [];
      let count = 0;
      for (const entry of localSystem(state.system)?.directory.values() ?? []) {
        if (entry.pid === undefined || entry.role === 'leader' || (entry.role === 'follower' && entry.leader !== undefined)) continue;
        count++;
        if (found.length < request.limit) found.push({ cluster: entry.clusterName, role: entry.role, term: entry.term });
      }
      return { reply: { count, sample: found }, state };
    }
    if (request.op === 'tickCost') return { reply: tickCost(state, request.runs), state };
    if (request.op === 'heapSnapshot') {
      gc();
      return { reply: writeHeapSnapshot(request.path), state };
    }
    if (request.gc === true) {
      gc();
      gc();
    }
    return { reply: stats(state), state };
  },
};

/** What the system's tick spends on the servers that said they want one (none when idle). */
function tickCost(state: AgentState, runs: number): { servers: number; micros: number } {
  const tickers = [...(localSystem(state.system)?.wantingTick ?? [])];
  const samples: number[] = [];
  let wanting = 0;
  for (let r = 0; r < Math.max(1, runs); r++) {
    const t0 = performance.now();
    wanting = 0;
    for (const ticker of tickers) if (ticker.wantsTick()) wanting++;
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  void wanting;
  return { servers: localSystem(state.system)?.tickers.size ?? 0, micros: Math.round(samples[samples.length >> 1] ?? 0) };
}

function stats(state: AgentState): ScaleStats {
  const atStart = processClocks();
  const runtime = localSystem(state.system);
  let servers = 0;
  let leaders = 0;
  let followers = 0;
  let withLeader = 0;
  let messagesSent = 0;
  let messagesReceived = 0;
  // Message counters live in the shared counters (metrics/), read without a call.
  const counters = overview(state.system).servers;
  for (const [name, entry] of runtime?.directory ?? []) {
    if (entry.pid === undefined) continue;
    servers++;
    if (entry.role === 'leader') leaders++;
    if (entry.role === 'follower') followers++;
    if ((entry.role === 'leader' || entry.role === 'follower') && entry.leader !== undefined) withLeader++;
    messagesSent += counters[name]?.messagesSent ?? 0;
    messagesReceived += counters[name]?.messagesReceived ?? 0;
  }
  let peerSignalsSent = 0;
  let peerSignalsReceived = 0;
  for (const peer of state.node.nodes()) {
    if (peer.startsWith('control@')) continue;
    const info = state.node.connectionInfo(peer);
    peerSignalsSent += info?.signalsSent ?? 0;
    peerSignalsReceived += info?.signalsReceived ?? 0;
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    node: state.node.name,
    servers,
    leaders,
    followers,
    withLeader,
    messagesSent,
    messagesReceived,
    systemTicks: runtime?.ticks ?? 0,
    ticksDelivered: runtime?.ticksDelivered ?? 0,
    peerSignalsSent,
    peerSignalsReceived,
    heapUsed: memory.heapUsed,
    rss: memory.rss,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    heapSpaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size])),
    cpuMicros: cpu.user + cpu.system,
    threadCpuMicros: threadCpu(),
    gcMillis,
    atMs: Date.now(),
    atStart,
  };
}

const CLOCK_TICK_MICROS = 10_000; // USER_HZ is 100 on Linux

/** CPU time per thread name, summed over threads of one name; empty where /proc has no task list. */
function threadCpu(): Record<string, number> {
  const byName: Record<string, number> = {};
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return byName;
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      // The name sits in parentheses and may hold spaces; the fields after it are fixed.
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const name = tid === String(process.pid) ? 'main' : stat.slice(open + 1, close).trim();
      const fields = stat.slice(close + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      byName[name] = (byName[name] ?? 0) + ticks * CLOCK_TICK_MICROS;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

/** node-main's hook: the agent starts once the system is up. */
export async function nodeStarted({ node, system }: { node: Node; system: RaftSystem }): Promise<void> {
  await node.start(agent, { node, system: system.name }, { name: SCALE_AGENT_NAME });
}
