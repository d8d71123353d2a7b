// pnpm bench wal [--json] [--recovery] [--runs N]
// Throughput and latency through the shared WAL with 1, 100 and 1,000 writers, fsync
// on, against a raw baseline replaying the same batch sizes (write + fdatasync) in the
// same run. --recovery also times a restart with 1,000 servers and 1,000,000 entries.
import { mkdtempSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LogFileHandle, NodeFs, type OpenMode } from '../../packages/raft/src/internal/log/fs.js';
import { LogSystem } from '../../packages/raft/src/internal/log/system.js';
import { WalWriter } from '../../packages/raft/src/internal/log/wal.js';

const PAYLOAD_BYTES = 64;
const RUN_MS = 1_500;

/** Records the size of every WAL write (one per batch). */
class RecordingFs extends NodeFs {
  batches: number[] = [];
  ioMs = 0;
  override async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const h = await super.open(path, mode, options);
    const batches = this.batches;
    const writeAt = h.writeAt.bind(h);
    const datasync = h.datasync.bind(h);
    let t0 = 0;
    h.writeAt = (bytes: Uint8Array, position: number) => {
      if (position > 0) batches.push(bytes.byteLength);
      t0 = performance.now();
      return writeAt(bytes, position);
    };
    h.datasync = async () => {
      await datasync();
      this.ioMs += performance.now() - t0;
    };
    return h;
  }
}

interface WalRun {
  writers: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  mbPerSec: number;
  entriesPerFsync: number;
  p50Ms: number;
  p99Ms: number;
  batches: number[];
  ioSeconds: number;
}

/** Append-to-written latencies in a growable typed array (no per-entry boxing). */
class Latencies {
  private values = new Float64Array(1 << 20);
  private n = 0;
  addRange(sentAt: Float64Array, from: number, to: number, now: number): void {
    if (this.n + (to - from + 1) > this.values.length) {
      const grown = new Float64Array(Math.max(this.values.length * 2, this.n + (to - from + 1)));
      grown.set(this.values.subarray(0, this.n));
      this.values = grown;
    }
    for (let i = from; i <= to; i++) this.values[this.n++] = now - (sentAt[i % sentAt.length] as number);
  }
  sorted(): Float64Array {
    return this.values.slice(0, this.n).sort();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function runWal(dir: string, writers: number): Promise<WalRun> {
  const fs = new RecordingFs();
  const window = Math.max(16, Math.floor(8_192 / writers));
  const ids = Array.from({ length: writers }, (_, i) => `server-${i}`);
  const next = new Array<number>(writers).fill(1);
  const acked = new Array<number>(writers).fill(0);
  const sentAt = ids.map(() => new Float64Array(window * 2));
  const latencies = new Latencies();
  const payload = Buffer.alloc(PAYLOAD_BYTES, 7);
  const index = new Map(ids.map((id, i) => [id, i]));
  let done = 0;
  let stopping = false;
  // Like a pipelined Raft server, each writer tops its own window up when told `written`.
  const refill = (w: number, now: number): void => {
    const ring = sentAt[w] as Float64Array;
    const id = ids[w] as string;
    let i = next[w] as number;
    const end = (acked[w] as number) + window;
    for (; i <= end; i++) {
      ring[i % ring.length] = now;
      wal.append(id, i, 1, payload);
    }
    next[w] = i;
  };
  const wal = await WalWriter.open({
    dir,
    fs,
    events: {
      written: (id, _term, from, to) => {
        const w = index.get(id) as number;
        const now = performance.now();
        latencies.addRange(sentAt[w] as Float64Array, from, to, now);
        acked[w] = to;
        done += to - from + 1;
        if (!stopping) refill(w, now);
      },
      resend: () => {
        throw new Error('unexpected resend');
      },
      rolledOver: () => undefined,
    },
  });
  const pump = (): void => {
    const now = performance.now();
    for (let w = 0; w < writers; w++) refill(w, now);
  };
  const startBatches = fs.batches.length;
  const t0 = performance.now();
  pump();
  await new Promise<void>((resolve) => setTimeout(resolve, RUN_MS));
  stopping = true;
  await wal.idle();
  const seconds = (performance.now() - t0) / 1000;
  await wal.close();
  const batches = fs.batches.slice(startBatches);
  const bytes = batches.reduce((a, b) => a + b, 0);
  const sorted = latencies.sorted();
  return {
    writers,
    entries: done,
    seconds,
    entriesPerSec: done / seconds,
    mbPerSec: bytes / seconds / 1e6,
    entriesPerFsync: done / Math.max(1, wal.counters.syncs),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    batches,
    ioSeconds: fs.ioMs / 1000,
  };
}

/** The same batch sizes written with write + fdatasync in a loop: the disk's floor. */
async function runRaw(dir: string, batches: readonly number[]): Promise<number> {
  const fh = await fsp.open(join(dir, 'raw.bin'), 'w');
  const max = Math.max(1, ...batches);
  const buf = Buffer.alloc(max, 1);
  let pos = 0;
  const t0 = performance.now();
  for (const n of batches) {
    await fh.write(buf, 0, n, pos);
    await fh.datasync();
    pos += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  await fh.close();
  return seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

interface RecoveryFigures {
  servers: number;
  entries: number;
  writeSec: number;
  fromWalOpenSec: number;
  fromWalFlushedSec: number;
  fromSegmentsSec: number;
}

async function recoveryBench(root: string): Promise<RecoveryFigures> {
  const dir = join(root, 'recovery');
  const servers = 1_000;
  const perServer = 1_000;
  let sys = await LogSystem.open({ dir });
  const logs = [];
  for (let s = 0; s < servers; s++) logs.push(await sys.openServer(`server-${s}`));
  const t0 = performance.now();
  for (let i = 1; i <= perServer; i++) {
    for (const log of logs) log.append([{ index: i, term: 1, payload: { type: 'command', command: i } }]);
    if (i % 50 === 0) await sys.walWriter().idle();
  }
  await sys.idle();
  const writeSec = (performance.now() - t0) / 1000;
  await sys.close();
  // Restart with every entry still in the WAL.
  let t = performance.now();
  sys = await LogSystem.open({ dir });
  const fromWalOpenSec = (performance.now() - t) / 1000;
  await sys.idle();
  const fromWalFlushedSec = (performance.now() - t) / 1000;
  if (sys.serverIds().length !== servers || sys.server('server-7')?.last().index !== perServer) throw new Error('recovery lost entries');
  await sys.close();
  // Restart with every entry in segments.
  t = performance.now();
  sys = await LogSystem.open({ dir });
  const fromSegmentsSec = (performance.now() - t) / 1000;
  if (sys.server('server-999')?.entries(1, perServer).length !== perServer) throw new Error('recovery lost entries');
  await sys.close();
  return { servers, entries: servers * perServer, writeSec, fromWalOpenSec, fromWalFlushedSec, fromSegmentsSec };
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const recovery = argv.includes('--recovery');
  const runsArg = argv.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(argv[runsArg + 1]) : 3;
  const root = mkdtempSync(join(tmpdir(), 'rafter-bench-wal-'));
  try {
    const results: Record<number, { wal: WalRun[]; ratio: number[]; ioRatio: number[]; rawEps: number[] }> = {};
    for (const writers of [1, 100, 1_000]) {
      results[writers] = { wal: [], ratio: [], ioRatio: [], rawEps: [] };
      for (let r = 0; r < runs; r++) {
        const dir = join(root, `w${writers}-${r}`);
        const wal = await runWal(dir, writers);
        const rawSec = await runRaw(dir, wal.batches);
        results[writers]?.wal.push(wal);
        results[writers]?.ratio.push(wal.seconds / rawSec);
        results[writers]?.ioRatio.push(wal.ioSeconds / rawSec);
        results[writers]?.rawEps.push(wal.entries / rawSec);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const pick = (w: number, f: (r: WalRun) => number) => median((results[w]?.wal ?? []).map(f));
    const rec = recovery ? await recoveryBench(root) : undefined;
    const out = {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
      runs,
      payloadBytes: PAYLOAD_BYTES,
      walOverRawRatio: median(results[1_000]?.ratio ?? []),
      walOverRawRatio1Writer: median(results[1]?.ratio ?? []),
      walOverRawRatio100Writers: median(results[100]?.ratio ?? []),
      walIoOverRawRatio: median(results[1_000]?.ioRatio ?? []),
      entriesPerSec1Writer: pick(1, (r) => r.entriesPerSec),
      entriesPerSec100Writers: pick(100, (r) => r.entriesPerSec),
      entriesPerSec1000Writers: pick(1_000, (r) => r.entriesPerSec),
      rawEntriesPerSec1000Writers: median(results[1_000]?.rawEps ?? []),
      mbPerSec1000Writers: pick(1_000, (r) => r.mbPerSec),
      entriesPerFsync1Writer: pick(1, (r) => r.entriesPerFsync),
      entriesPerFsync100Writers: pick(100, (r) => r.entriesPerFsync),
      entriesPerFsync1000Writers: pick(1_000, (r) => r.entriesPerFsync),
      writtenP50Ms: pick(1_000, (r) => r.p50Ms),
      writtenP99Ms: pick(1_000, (r) => r.p99Ms),
      writtenP50Ms1Writer: pick(1, (r) => r.p50Ms),
      writtenP99Ms1Writer: pick(1, (r) => r.p99Ms),
      ...(rec ? { recovery: rec } : {}),
    };
    if (json) {
      console.log(JSON.stringify(out));
      return;
    }
    console.log(`WAL benchmark: ${out.machine.cpu}, ${out.machine.cores} cores, Node ${out.machine.node}; ${PAYLOAD_BYTES}-byte entries, fdatasync per batch, median of ${runs} runs`);
    console.log('writers | entries/s | MB/s | entries/fsync | p50 ms | p99 ms | WAL/raw time | WAL write+sync/raw');
    for (const w of [1, 100, 1_000]) {
      console.log(
        [w, Math.round(pick(w, (r) => r.entriesPerSec)), pick(w, (r) => r.mbPerSec).toFixed(1), pick(w, (r) => r.entriesPerFsync).toFixed(1), pick(w, (r) => r.p50Ms).toFixed(2), pick(w, (r) => r.p99Ms).toFixed(2), median(results[w]?.ratio ?? []).toFixed(2), median(results[w]?.ioRatio ?? []).toFixed(2)].join(' | '),
      );
    }
    if (rec) console.log(`recovery: ${rec.servers} servers, ${rec.entries} entries: write ${rec.writeSec.toFixed(2)} s; restart from WAL ${rec.fromWalOpenSec.toFixed(2)} s (+ flush to segments: ${rec.fromWalFlushedSec.toFixed(2)} s); restart from segments ${rec.fromSegmentsSec.toFixed(2)} s`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
