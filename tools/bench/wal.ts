// pnpm bench wal [--json] [--recovery] [--runs N] [--writers 1,100,1000] [--mode batch,entry] [--files reused,fresh]
// Throughput and latency through the shared WAL with 1, 100 and 1,000 writers, fsync
// on, against a raw baseline replaying the same batch sizes (write + fdatasync) in the
// same run. --recovery also times a restart with 1,000 servers and 1,000,000 entries.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogSystem, type LogFileHandle, NodeFs, type OpenMode, WalWriter, spareFileName, storageLimits } from '@rafter/raft/storage';

const PAYLOAD_BYTES = 64;
/**
 * Each measured phase is short: under sustained writes this machine's disk drains a
 * burst budget and slows (a 1.5 s WAL run left the raw pass after it at half speed),
 * which biased every ratio towards the WAL. Half a second after a rest keeps both
 * phases at the disk's full speed.
 */
const RUN_MS = 500;

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

/** How the load generator hands a refill to the WAL: one appendBatch call, or one call per entry. */
type AppendMode = 'batch' | 'entry';
/**
 * The WAL's files: `reused`, the steady state of a running system, writes over spare
 * files (flushed files the segment writer kept); `fresh`, the first files after a
 * start, grows new ones.
 */
type FileMode = 'reused' | 'fresh';

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

/**
 * Append-to-written latencies as (value, count) pairs: all entries of one refill share
 * their append time, so a written notice adds one pair per refill it covers, not one
 * value per entry. Percentiles are over entries.
 */
class Latencies {
  private values = new Float64Array(1 << 16);
  private counts = new Float64Array(1 << 16);
  private n = 0;
  add(value: number, count: number): void {
    if (this.n === this.values.length) {
      const values = new Float64Array(this.n * 2);
      const counts = new Float64Array(this.n * 2);
      values.set(this.values);
      counts.set(this.counts);
      this.values = values;
      this.counts = counts;
    }
    this.values[this.n] = value;
    this.counts[this.n++] = count;
  }
  percentiles(ps: readonly number[]): number[] {
    const values = this.values;
    const order = Uint32Array.from({ length: this.n }, (_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
    let total = 0;
    for (let i = 0; i < this.n; i++) total += this.counts[i] as number;
    return ps.map((p) => {
      const rank = Math.floor(p * total);
      let seen = 0;
      for (const i of order) {
        seen += this.counts[i] as number;
        if (seen > rank) return values[i] as number;
      }
      return values[order[order.length - 1] ?? 0] ?? 0;
    });
  }
}

/**
 * Each writer's refills in flight: where each one started and when it was appended, in a
 * ring per writer (at most `window` refills of at least one entry each are unacknowledged).
 */
class Refills {
  private readonly starts: Float64Array;
  private readonly times: Float64Array;
  private readonly head: Uint32Array;
  private readonly tail: Uint32Array;
  constructor(
    writers: number,
    private readonly ring: number,
  ) {
    this.starts = new Float64Array(writers * ring);
    this.times = new Float64Array(writers * ring);
    this.head = new Uint32Array(writers);
    this.tail = new Uint32Array(writers);
  }
  record(w: number, start: number, now: number): void {
    const t = this.tail[w] as number;
    this.starts[w * this.ring + t] = start;
    this.times[w * this.ring + t] = now;
    this.tail[w] = (t + 1) % this.ring;
    if (this.tail[w] === this.head[w]) throw new Error(`writer ${w}: more refills in flight than the ring holds`);
  }
  /** Entries from..to of writer w are written (`next` is its next unsent index). */
  written(w: number, from: number, to: number, next: number, now: number, latencies: Latencies): void {
    const base = w * this.ring;
    while (from <= to) {
      const h = this.head[w] as number;
      const after = (h + 1) % this.ring;
      const end = after === this.tail[w] ? next - 1 : (this.starts[base + after] as number) - 1;
      const upTo = Math.min(to, end);
      latencies.add(now - (this.times[base + h] as number), upTo - from + 1);
      from = upTo + 1;
      if (upTo === end) this.head[w] = after;
    }
  }
}

async function runWal(dir: string, writers: number, mode: AppendMode): Promise<WalRun> {
  mkdirSync(dir, { recursive: true });
  const fs = new RecordingFs();
  const window = Math.max(16, Math.floor(8_192 / writers));
  const ids = Array.from({ length: writers }, (_, i) => `server-${i}`);
  const next = new Array<number>(writers).fill(1);
  const acked = new Array<number>(writers).fill(0);
  const refills = new Refills(writers, window + 2);
  const latencies = new Latencies();
  const payload = Buffer.alloc(PAYLOAD_BYTES, 7);
  const windowPayloads = new Array<Buffer>(window).fill(payload);
  const index = new Map(ids.map((id, i) => [id, i]));
  let done = 0;
  let stopping = false;
  // Like a pipelined Raft server, each writer tops its own window up when told `written`:
  // in 'batch' mode with one appendBatch call (a leader appending the commands that
  // arrived meanwhile), in 'entry' mode with one single-entry call per entry.
  const refill = (w: number, now: number): void => {
    const from = next[w] as number;
    const count = (acked[w] as number) + window - from + 1;
    if (count <= 0) return;
    refills.record(w, from, now);
    const id = ids[w] as string;
    if (mode === 'batch') wal.appendBatch(id, from, 1, count === window ? windowPayloads : windowPayloads.slice(0, count));
    else for (let i = from; i < from + count; i++) wal.appendBatch(id, i, 1, [payload]);
    next[w] = from + count;
  };
  const wal = await WalWriter.open({
    dir,
    fs,
    // First file at its full default size, as every later one is, whatever the run.
    random: () => 0.999_999,
    events: {
      written: (id, _term, from, to) => {
        const w = index.get(id) as number;
        const now = performance.now();
        refills.written(w, from, to, next[w] as number, now, latencies);
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
  const [p50Ms, p99Ms] = latencies.percentiles([0.5, 0.99]) as [number, number];
  return {
    writers,
    entries: done,
    seconds,
    entriesPerSec: done / seconds,
    mbPerSec: bytes / seconds / 1e6,
    entriesPerFsync: done / Math.max(1, wal.counters.syncs),
    p50Ms,
    p99Ms,
    batches,
    ioSeconds: fs.ioMs / 1000,
  };
}

/**
 * Idle time before every measured phase (WAL run and raw pass alike). This machine's
 * disk slows down under sustained writes and recovers when idle: back to back, the
 * raw pass right after a WAL run took up to 2x longer than after a pause, which
 * flattered the WAL. With the same pause before each, both start from the same rest.
 */
const REST_MS = 2_000;

/**
 * Syncs the file system first (sync(1) commits the journal): this machine's root file system is mounted
 * with `discard`, so the blocks of files deleted or truncated since the last commit
 * are trimmed at the next one. Left pending, that trim (hundreds of MB after a run's
 * files are removed) lands in whichever phase commits next: a raw pass growing its
 * file commits at every sync, a WAL writing over a spare does not, so the WAL looked
 * up to twice as fast as it is.
 */
function rest(): Promise<void> {
  execFileSync('sync');
  return new Promise((resolve) => setTimeout(resolve, REST_MS));
}

/**
 * After a run over reused files: its WAL files become the next run's spares, as the
 * segment writer makes them once it has flushed a file.
 */
function keepAsSpares(dir: string): void {
  const wals = readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
  for (const [i, name] of wals.entries()) {
    if (i < storageLimits.WAL_SPARE_FILES_MAX) renameSync(join(dir, name), join(dir, spareFileName(i + 1)));
    else rmSync(join(dir, name));
  }
}

/**
 * The same batch sizes written with write + fdatasync in a loop: the disk's floor.
 * `overwrite`: over a file an earlier pass wrote, as the WAL writes over a spare.
 */
async function runRaw(path: string, batches: readonly number[], overwrite = false): Promise<number> {
  const fh = await fsp.open(path, overwrite ? 'r+' : 'w');
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

interface ModeResults {
  wal: WalRun[];
  ratio: number[];
  ioRatio: number[];
  rawEps: number[];
  /** WAL time over a raw pass that overwrites a written file (reused files only). */
  overwriteRatio: number[];
  /** Slower raw pass over the faster one: the disk's noise within a run. */
  rawSpread: number[];
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const recovery = argv.includes('--recovery');
  const runs = Number(option(argv, '--runs') ?? 3);
  // --writers, --mode and --files narrow a run down; the JSON keys of what was skipped are null.
  const writerCounts = option(argv, '--writers')?.split(',').map(Number) ?? [1, 100, 1_000];
  const modes = (option(argv, '--mode')?.split(',') ?? ['batch']) as AppendMode[];
  const fileModes = (option(argv, '--files')?.split(',') ?? ['reused', 'fresh']) as FileMode[];
  const root = mkdtempSync(join(tmpdir(), 'rafter-bench-wal-'));
  try {
    const results = new Map<string, ModeResults>();
    const key = (mode: AppendMode, files: FileMode, writers: number) => `${mode}/${files}/${writers}`;
    for (const writers of writerCounts) {
      const reusedDir = (mode: AppendMode) => join(root, `reused-${mode}-w${writers}`);
      // One unmeasured run per reused series leaves the spares a running system has.
      if (fileModes.includes('reused')) {
        for (const mode of modes) {
          await runWal(reusedDir(mode), writers, mode);
          keepAsSpares(reusedDir(mode));
        }
      }
      // Series alternate run by run so all see the same drift in the disk's speed.
      for (let r = 0; r < runs; r++) {
        for (const mode of modes) {
          for (const files of fileModes) {
            const dir = files === 'reused' ? reusedDir(mode) : join(root, `fresh-${mode}-w${writers}-${r}`);
            await rest();
            const wal = await runWal(dir, writers, mode);
            // The floor is the faster of two raw passes, each growing a new file: on this
            // machine's disk one pass in a few runs at half speed for reasons outside the
            // process, and a slow floor would flatter the WAL.
            await rest();
            const rawA = await runRaw(join(dir, 'raw-a.bin'), wal.batches);
            await rest();
            const rawB = await runRaw(join(dir, 'raw-b.bin'), wal.batches);
            const rawSec = Math.min(rawA, rawB);
            let overwriteSec: number | undefined;
            if (files === 'reused') {
              await rest();
              overwriteSec = await runRaw(join(dir, 'raw-a.bin'), wal.batches, true);
            }
            const res = results.get(key(mode, files, writers)) ?? { wal: [], ratio: [], ioRatio: [], rawEps: [], overwriteRatio: [], rawSpread: [] };
            results.set(key(mode, files, writers), res);
            res.wal.push(wal);
            res.ratio.push(wal.seconds / rawSec);
            res.ioRatio.push(wal.ioSeconds / rawSec);
            res.rawEps.push(wal.entries / rawSec);
            res.rawSpread.push(Math.max(rawA, rawB) / rawSec);
            if (overwriteSec !== undefined) res.overwriteRatio.push(wal.seconds / overwriteSec);
            if (files === 'reused') {
              rmSync(join(dir, 'raw-a.bin'));
              rmSync(join(dir, 'raw-b.bin'));
              keepAsSpares(dir);
            } else {
              rmSync(dir, { recursive: true, force: true });
            }
          }
        }
      }
    }
    const of = (mode: AppendMode, files: FileMode, w: number, f: (r: ModeResults) => number[]): number | null => {
      const res = results.get(key(mode, files, w));
      const xs = res === undefined ? [] : f(res);
      return xs.length === 0 ? null : median(xs);
    };
    const pick = (mode: AppendMode, files: FileMode, w: number, f: (r: WalRun) => number) => of(mode, files, w, (res) => res.wal.map(f));
    const figures = (mode: AppendMode, files: FileMode) => ({
      walOverRawRatio: of(mode, files, 1_000, (r) => r.ratio),
      walOverRawRatioRuns: results.get(key(mode, files, 1_000))?.ratio.map((x) => Math.round(x * 100) / 100) ?? null,
      walOverRawRatio1Writer: of(mode, files, 1, (r) => r.ratio),
      walOverRawRatio100Writers: of(mode, files, 100, (r) => r.ratio),
      walIoOverRawRatio: of(mode, files, 1_000, (r) => r.ioRatio),
      entriesPerSec1Writer: pick(mode, files, 1, (r) => r.entriesPerSec),
      entriesPerSec100Writers: pick(mode, files, 100, (r) => r.entriesPerSec),
      entriesPerSec1000Writers: pick(mode, files, 1_000, (r) => r.entriesPerSec),
      rawEntriesPerSec1000Writers: of(mode, files, 1_000, (r) => r.rawEps),
      rawPassSpread1000Writers: of(mode, files, 1_000, (r) => r.rawSpread),
      mbPerSec1000Writers: pick(mode, files, 1_000, (r) => r.mbPerSec),
      entriesPerFsync1Writer: pick(mode, files, 1, (r) => r.entriesPerFsync),
      entriesPerFsync100Writers: pick(mode, files, 100, (r) => r.entriesPerFsync),
      entriesPerFsync1000Writers: pick(mode, files, 1_000, (r) => r.entriesPerFsync),
      writtenP50Ms: pick(mode, files, 1_000, (r) => r.p50Ms),
      writtenP99Ms: pick(mode, files, 1_000, (r) => r.p99Ms),
      writtenP50Ms1Writer: pick(mode, files, 1, (r) => r.p50Ms),
      writtenP99Ms1Writer: pick(mode, files, 1, (r) => r.p99Ms),
    });
    const rec = recovery ? await recoveryBench(root) : undefined;
    const out = {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
      runs,
      payloadBytes: PAYLOAD_BYTES,
      // The top-level figures: refills handed over with appendBatch, the WAL in its
      // steady state (writing over spare files), raw baseline growing a new file.
      appendMode: 'appendBatch',
      walFiles: 'reused',
      ...figures('batch', 'reused'),
      // The same WAL runs against a raw pass that also overwrites a written file: the
      // WAL's own cost with the disk's metadata work equal on both sides.
      walOverOverwriteRawRatio: of('batch', 'reused', 1_000, (r) => r.overwriteRatio),
      walOverOverwriteRawRatio1Writer: of('batch', 'reused', 1, (r) => r.overwriteRatio),
      // The first files after a start, which the WAL creates and grows.
      freshFiles: figures('batch', 'fresh'),
      // One single-entry call per entry (--mode entry), over reused files.
      perEntryAppend: modes.includes('entry') ? figures('entry', 'reused') : null,
      ...(rec ? { recovery: rec } : {}),
    };
    if (json) {
      console.log(JSON.stringify(out));
      return;
    }
    console.log(`WAL benchmark: ${out.machine.cpu}, ${out.machine.cores} cores, Node ${out.machine.node}; ${PAYLOAD_BYTES}-byte entries, fdatasync per batch, median of ${runs} runs`);
    console.log('append | WAL files | writers | entries/s | MB/s | entries/fsync | p50 ms | p99 ms | WAL/raw time | WAL write+sync/raw | WAL/raw overwrite');
    const fmt = (x: number | null, digits: number) => (x === null ? '-' : x.toFixed(digits));
    for (const mode of modes) {
      for (const files of fileModes) {
        for (const w of writerCounts) {
          console.log(
            [
              mode === 'batch' ? 'appendBatch' : 'append',
              files,
              w,
              fmt(pick(mode, files, w, (r) => r.entriesPerSec), 0),
              fmt(pick(mode, files, w, (r) => r.mbPerSec), 1),
              fmt(pick(mode, files, w, (r) => r.entriesPerFsync), 1),
              fmt(pick(mode, files, w, (r) => r.p50Ms), 2),
              fmt(pick(mode, files, w, (r) => r.p99Ms), 2),
              fmt(of(mode, files, w, (r) => r.ratio), 2),
              fmt(of(mode, files, w, (r) => r.ioRatio), 2),
              fmt(of(mode, files, w, (r) => r.overwriteRatio), 2),
            ].join(' | '),
          );
        }
      }
    }
    if (rec) console.log(`recovery: ${rec.servers} servers, ${rec.entries} entries: write ${rec.writeSec.toFixed(2)} s; restart from WAL ${rec.fromWalOpenSec.toFixed(2)} s (+ flush to segments: ${rec.fromWalFlushedSec.toFixed(2)} s); restart from segments ${rec.fromSegmentsSec.toFixed(2)} s`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
