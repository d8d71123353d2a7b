// Pure decisions of the WAL: how much to put in a batch, when to roll over, how to
// report what a batch wrote. The shell (wal.ts) does the I/O.
import { assert } from './errors.js';

export interface BatchLimits {
  readonly maxBatchBytes: number;
  readonly maxBatchEntries: number;
}

/**
 * How many of the pending records form the next batch: everything that arrived while
 * the previous write was in flight (so the batch grows with load), up to the limits.
 * Always at least one, so an oversized record still gets written alone.
 */
export function planBatch(pendingBytes: readonly number[], start: number, limits: BatchLimits): number {
  const available = pendingBytes.length - start;
  assert(available > 0, 'planBatch called with nothing pending');
  let bytes = 0;
  let n = 0;
  while (n < available && n < limits.maxBatchEntries) {
    const size = pendingBytes[start + n] ?? 0;
    if (n > 0 && bytes + size > limits.maxBatchBytes) break;
    bytes += size;
    n++;
  }
  return n;
}

/** Whether a record still fits the open batch; an empty batch takes any record. */
export function fitsBatch(batchBytes: number, batchEntries: number, recordBytes: number, limits: BatchLimits): boolean {
  if (batchEntries === 0) return true;
  return batchEntries < limits.maxBatchEntries && batchBytes + recordBytes <= limits.maxBatchBytes;
}

/** Roll over before this batch if it would push a non-empty file past its size. */
export function needsRollover(filePosition: number, headerBytes: number, batchBytes: number, fileMaxBytes: number): boolean {
  return filePosition > headerBytes && filePosition + batchBytes > fileMaxBytes;
}

/** The first file after start is sized at random in [max/2, max] so nodes do not all roll over together. */
export function firstFileMaxBytes(maxBytes: number, random: () => number): number {
  const r = random();
  assert(r >= 0 && r < 1, `random() returned ${r}`);
  return Math.floor(maxBytes / 2 + (maxBytes / 2) * r);
}

export type GapVerdict = 'accept' | 'gap' | 'drop';

/**
 * Whether a writer's next index is in sequence. An index at or below the last one is a
 * rewrite (a follower overwriting a conflicting suffix) and is accepted. A jump means
 * entries were lost on the way: ask for a resend once and drop until it arrives.
 */
export function checkSequence(lastIndex: number | undefined, awaitingFrom: number | undefined, index: number): GapVerdict {
  if (awaitingFrom !== undefined) return index <= awaitingFrom ? 'accept' : 'drop';
  if (lastIndex === undefined || index <= lastIndex + 1) return 'accept';
  return 'gap';
}

export interface WrittenRun {
  writerId: string;
  term: number;
  from: number;
  to: number;
}

/**
 * Folds a batch (in write order) into `written` notices: one per writer per run of
 * consecutive indexes with one term. A rewrite or term change starts a new run.
 */
export class WrittenRuns {
  private readonly open = new Map<string, WrittenRun>();
  private readonly done: WrittenRun[] = [];

  add(writerId: string, index: number, term: number): void {
    const run = this.open.get(writerId);
    if (run !== undefined && run.term === term && run.to + 1 === index) {
      run.to = index;
      return;
    }
    if (run !== undefined) this.done.push(run);
    this.open.set(writerId, { writerId, term, from: index, to: index });
  }

  finish(): WrittenRun[] {
    const out = this.done;
    for (const run of this.open.values()) out.push(run);
    this.open.clear();
    return out;
  }
}
