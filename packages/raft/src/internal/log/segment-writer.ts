// Moves entries from closed WAL files into each server's segment files, one WAL file
// at a time (so a server's flushes stay in order), servers in parallel through the
// dirty runner; then tells the servers and keeps the WAL file as a spare for the WAL
// to reuse, or deletes it.
import { type LogFs, NodeFs, joinPath } from './fs.js';
import { SEGMENT_WRITER_CONCURRENCY_MAX, WAL_SPARE_FILES_MAX } from './limits.js';
import { type SegmentFlushResult, type SegmentFlushTask, runSegmentFlush } from './segments.js';
import { type ClosedWalFile, type IndexRange, isSpareFileName, spareFileName } from './wal.js';

/** Runs blocking segment work; later the actor runtime's piscina dirty pool. */
export type DirtyRunner = (task: SegmentFlushTask) => Promise<SegmentFlushResult>;

/** What a server's log offers the segment writer. */
export interface SegmentTarget {
  /** The flush of this range that is still needed, or undefined if none. */
  planSegmentFlush(range: IndexRange): SegmentFlushTask | undefined;
  segmentsFlushed(task: SegmentFlushTask, result: SegmentFlushResult): void;
  segmentFlushFailed(task: SegmentFlushTask, err: unknown): void;
}

export interface SegmentWriterOptions {
  readonly lookup: (writerId: string) => SegmentTarget | undefined;
  readonly fs?: LogFs;
  readonly runner?: DirtyRunner;
  readonly concurrency?: number;
  /** Flushed WAL files kept as spares for the WAL to reuse (0 when it does not reuse files). */
  readonly spareFiles?: number;
  /** Where to count (a system passes counters in shared memory, kept across restarts). */
  readonly counters?: SegmentWriterCounters;
  readonly events?: {
    flushed?(file: ClosedWalFile, servers: number): void;
    failed?(file: ClosedWalFile, err: unknown): void;
  };
}

export interface SegmentWriterCounters {
  files: number;
  flushes: number;
  entries: number;
  failures: number;
}

export class SegmentWriter {
  readonly counters: SegmentWriterCounters;
  private readonly fs: LogFs;
  private readonly runner: DirtyRunner;
  private readonly concurrency: number;
  private readonly spareFiles: number;
  private queue: ClosedWalFile[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: SegmentWriterOptions) {
    this.fs = options.fs ?? new NodeFs();
    this.counters = options.counters ?? { files: 0, flushes: 0, entries: 0, failures: 0 };
    const fs = this.fs;
    this.runner = options.runner ?? ((task) => runSegmentFlush(task, fs));
    this.concurrency = Math.max(1, Math.min(options.concurrency ?? SEGMENT_WRITER_CONCURRENCY_MAX, SEGMENT_WRITER_CONCURRENCY_MAX));
    this.spareFiles = Math.max(0, options.spareFiles ?? WAL_SPARE_FILES_MAX);
  }

  /** Takes a rolled-over WAL file. */
  accept(file: ClosedWalFile): void {
    this.queue.push(file);
    if (!this.running) void this.run();
  }

  pendingFiles(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    // Bounded by the queue; each file is taken once.
    while (this.queue.length > 0) {
      const file = this.queue.shift() as ClosedWalFile;
      try {
        const servers = await this.flushFile(file);
        await this.retire(file);
        this.counters.files++;
        this.options.events?.flushed?.(file, servers);
      } catch (err) {
        // The WAL file stays: recovery flushes it again on the next start.
        this.counters.failures++;
        this.options.events?.failed?.(file, err);
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** A flushed WAL file becomes a spare (renamed, so recovery no longer reads it) or goes. */
  private async retire(file: ClosedWalFile): Promise<void> {
    if (this.spareFiles > 0) {
      const dir = file.path.slice(0, file.path.lastIndexOf('/'));
      const spares = (await this.fs.readdir(dir)).filter(isSpareFileName).length;
      if (spares < this.spareFiles) {
        await this.fs.rename(file.path, joinPath(dir, spareFileName(file.seq)));
        return;
      }
    }
    await this.fs.unlink(file.path);
  }

  private async flushFile(file: ClosedWalFile): Promise<number> {
    const jobs: Array<{ target: SegmentTarget; task: SegmentFlushTask }> = [];
    for (const [writerId, range] of file.ranges) {
      const target = this.options.lookup(writerId);
      if (target === undefined) continue; // server deleted
      const task = target.planSegmentFlush(range);
      if (task !== undefined) jobs.push({ target, task });
    }
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) {
        const job = jobs[next++] as (typeof jobs)[number];
        try {
          const result = await this.runner(job.task);
          job.target.segmentsFlushed(job.task, result);
          this.counters.flushes++;
          this.counters.entries += job.task.batch.count;
        } catch (err) {
          job.target.segmentFlushFailed(job.task, err);
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, jobs.length) }, worker));
    if (failure !== undefined) throw failure;
    return jobs.length;
  }
}
