// pnpm bench wal-actors [--json] [--runs N]
// The WAL through the actors: 1,000 server actors on one node append 64-byte entries
// through openServerLog -> the WAL actor (fsync on) for 1.5 s. The baseline, in the same
// run, is `pnpm bench wal`'s own load (WalWriter driven directly, 1,000 writers, fresh files,
// appendBatch), run through its main().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ActorContext, type Behaviour, Node, type Pid, silentLogger } from '../../packages/actors/src/index.js';
import type { LogEntry } from '@rafter/raft/core';
import { type LogSystemHandle, type ServerLog, type WalNotice, applyWalNotice, encodeValue, isWalNotice, openServerLog, startLogSystem } from '@rafter/raft/storage';
import { machine, median, percentilesUs, printTable, progress } from './lib/report.js';
import { main as walMain } from './wal.js';

const SERVERS = 1_000;
const PAYLOAD_BYTES = 64;
const RUN_MS = 1_500;
/** Entries each server keeps in flight: the WAL bench's window for 1,000 writers. */
const WINDOW = Math.max(16, Math.floor(8_192 / SERVERS));

/** A command whose encoded payload (what the WAL stores) is PAYLOAD_BYTES long. */
function payloadOf(bytes: number): LogEntry['payload'] {
  for (let n = 0; n < bytes; n++) {
    const payload = { type: 'command', command: 'x'.repeat(n) } as const;
    if (encodeValue(payload).byteLength === bytes) return payload;
  }
  throw new Error(`no command encodes to ${bytes} bytes`);
}

/** What all servers of one run share (one thread). */
interface Load {
  readonly handle: LogSystemHandle;
  readonly payload: LogEntry['payload'];
  stopping: boolean;
  written: number;
  /** Append-to-written latency in µs, one sample per entry. */
  readonly latenciesUs: number[];
}

interface ServerState {
  readonly load: Load;
  readonly log: ServerLog;
  acked: number;
  /** Refills in flight: first index and append time of each. */
  readonly refillFrom: number[];
  readonly refillAt: number[];
}

/** Like a pipelined Raft server: tops its window up with one append per `written`. */
const server: Behaviour<ServerState, { load: Load; uid: string }> = {
  async init(ctx: ActorContext, { load, uid }) {
    return { load, log: await openServerLog(ctx, load.handle, uid), acked: 0, refillFrom: [], refillAt: [] };
  },
  handle(msg: WalNotice | 'go', state) {
    if (msg === 'go') {
      refill(state, performance.now());
      return state;
    }
    if (!isWalNotice(msg)) return state;
    applyWalNotice(state.log, msg);
    const written = state.log.lastWritten().index;
    if (written <= state.acked) return state;
    const now = performance.now();
    recordLatencies(state, written, now);
    state.load.written += written - state.acked;
    state.acked = written;
    if (!state.load.stopping) refill(state, now);
    return state;
  },
};

function refill(state: ServerState, now: number): void {
  const last = state.log.last().index;
  const count = state.acked + WINDOW - last;
  // Held after walBusy: a real server takes no new work until the WAL catches up.
  if (count <= 0 || state.log.walHeld()) return;
  const payload = state.load.payload;
  state.log.append(Array.from({ length: count }, (_, k) => ({ index: last + 1 + k, term: 1, payload })));
  state.refillFrom.push(last + 1);
  state.refillAt.push(now);
}

function recordLatencies(state: ServerState, written: number, now: number): void {
  let from = state.acked + 1;
  while (from <= written && state.refillFrom.length > 0) {
    const end = state.refillFrom.length > 1 ? (state.refillFrom[1] as number) - 1 : state.log.last().index;
    const to = Math.min(written, end);
    const us = (now - (state.refillAt[0] as number)) * 1000;
    for (let i = from; i <= to; i++) state.load.latenciesUs.push(us);
    from = to + 1;
    if (to === end) {
      state.refillFrom.shift();
      state.refillAt.shift();
    }
  }
}

interface Figures {
  entriesPerSec: number;
  entriesPerFsync: number;
  writtenP50Ms: number;
  writtenP99Ms: number;
}

/** One run of the actor path (exported for profiling). */
export async function runActors(dir: string, run: number): Promise<Figures> {
  const node = await Node.start({ name: `bench-wal-actors-${run}`, logger: silentLogger, dirtyThreads: 1 });
  const { handle, system } = await startLogSystem(node, { dir });
  try {
    const load: Load = { handle, payload: payloadOf(PAYLOAD_BYTES), stopping: false, written: 0, latenciesUs: [] };
    const pids: Pid[] = [];
    for (let s = 0; s < SERVERS; s++) pids.push(await node.start(server, { load, uid: `server-${s}` }));
    const wal = handle.wal as Pid;
    const t0 = performance.now();
    for (const pid of pids) node.send(pid, 'go');
    await sleep(RUN_MS);
    load.stopping = true;
    const counters = await node.call<{ entries: number; syncs: number }>(wal, { op: 'idle' });
    const seconds = (performance.now() - t0) / 1000;
    const [p50Us, p99Us] = percentilesUs(load.latenciesUs, 50, 99) as [number, number];
    return { entriesPerSec: load.written / seconds, entriesPerFsync: counters.entries / Math.max(1, counters.syncs), writtenP50Ms: p50Us / 1000, writtenP99Ms: p99Us / 1000 };
  } finally {
    await node.stop();
    await system.close();
  }
}

/**
 * One run of `pnpm bench wal --json --writers 1000 --mode batch --files fresh --runs 1`,
 * read from its JSON line: fresh WAL files, as a newly started system's actors write.
 */
async function runBaseline(): Promise<Figures> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => void lines.push(parts.join(' '));
  try {
    await walMain(['--json', '--writers', String(SERVERS), '--mode', 'batch', '--files', 'fresh', '--runs', '1']);
  } finally {
    console.log = log;
  }
  const out = (JSON.parse(lines.at(-1) ?? '{}') as { freshFiles: Record<string, number> }).freshFiles;
  return {
    entriesPerSec: out.entriesPerSec1000Writers as number,
    entriesPerFsync: out.entriesPerFsync1000Writers as number,
    writtenP50Ms: out.writtenP50Ms as number,
    writtenP99Ms: out.writtenP99Ms as number,
  };
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const runs = Number(option(argv, '--runs') ?? 3);
  const root = mkdtempSync(join(tmpdir(), 'rafter-bench-wal-actors-'));
  const actors: Figures[] = [];
  const baseline: Figures[] = [];
  try {
    // Alternating, so both see the same drift in the disk's speed.
    for (let r = 0; r < runs; r++) {
      progress(`run ${r + 1}/${runs}: actors`);
      const dir = join(root, `run-${r}`);
      actors.push(await runActors(dir, r));
      rmSync(dir, { recursive: true, force: true });
      progress(`run ${r + 1}/${runs}: baseline (WalWriter directly)`);
      baseline.push(await runBaseline());
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const med = (xs: Figures[], f: (x: Figures) => number) => median(xs.map(f));
  const figures = (xs: Figures[]) => ({
    entriesPerSec: med(xs, (x) => x.entriesPerSec),
    entriesPerFsync: med(xs, (x) => x.entriesPerFsync),
    writtenP50Ms: med(xs, (x) => x.writtenP50Ms),
    writtenP99Ms: med(xs, (x) => x.writtenP99Ms),
  });
  const out = {
    machine: machine(),
    runs,
    servers: SERVERS,
    payloadBytes: PAYLOAD_BYTES,
    windowEntries: WINDOW,
    ...figures(actors),
    baseline: figures(baseline),
    /** Actor-path throughput over the direct WalWriter's, per run, then the median. */
    actorsOverBaselineRatio: median(actors.map((a, i) => a.entriesPerSec / (baseline[i] as Figures).entriesPerSec)),
    perRun: actors.map((a, i) => ({ actors: a, baseline: baseline[i] })),
  };
  if (json) {
    console.log(JSON.stringify(out));
    return;
  }
  const m = out.machine;
  console.log(`WAL through actors: ${m.cpu}, ${m.cores} cores, Node ${m.node}; ${SERVERS} servers, ${PAYLOAD_BYTES}-byte entries, ${WINDOW} in flight each, fdatasync per batch, median of ${runs} runs`);
  const row = (name: string, f: ReturnType<typeof figures>) => [name, f.entriesPerSec.toFixed(0), f.entriesPerFsync.toFixed(0), f.writtenP50Ms.toFixed(2), f.writtenP99Ms.toFixed(2)];
  printTable(['path', 'entries/s', 'entries/fsync', 'written p50 ms', 'written p99 ms'], [row('server actors -> WAL actor', figures(actors)), row('WalWriter directly (baseline)', out.baseline)]);
  console.log(`actors / baseline throughput: ${out.actorsOverBaselineRatio.toFixed(2)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
