// Pure decisions of the WAL: how much to put in a batch, when to roll over, how to
// report what a batch wrote. The shell (wal.ts) does the I/O.
import { assert } from './errors.js';

export interface BatchLimits {
  readonly maxBatchBytes: number;
  readonly maxBatchEntries: number;
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

/** A writer as WrittenRuns sees it: its open run lives on the writer, not in a Map. */
export interface RunCursor {
  readonly id: string;
  runs: WrittenRuns | undefined;
  run: number;
}

/**
 * Folds a batch (in write order) into `written` notices: one per writer per run of
 * consecutive indexes with one term. A rewrite or term change starts a new run.
 * Runs come out in the order they started, so each writer's notices stay in order.
 */
export class WrittenRuns {
  private readonly writers: RunCursor[] = [];
  private readonly terms: number[] = [];
  private readonly froms: number[] = [];
  private readonly tos: number[] = [];

  add(writer: RunCursor, index: number, term: number): void {
    this.addRange(writer, index, index, term);
  }

  /** Entries from..to (consecutive, one term) of one writer. */
  addRange(writer: RunCursor, from: number, to: number, term: number): void {
    if (writer.runs === this) {
      const r = writer.run;
      if (this.terms[r] === term && (this.tos[r] as number) + 1 === from) {
        this.tos[r] = to;
        return;
      }
    }
    writer.runs = this;
    writer.run = this.writers.length;
    this.writers.push(writer);
    this.terms.push(term);
    this.froms.push(from);
    this.tos.push(to);
  }

  get length(): number {
    return this.writers.length;
  }

  writerAt(r: number): RunCursor {
    return this.writers[r] as RunCursor;
  }
  termAt(r: number): number {
    return this.terms[r] as number;
  }
  fromAt(r: number): number {
    return this.froms[r] as number;
  }
  toAt(r: number): number {
    return this.tos[r] as number;
  }
}
