// Interchangeable indeterminate operations, so the search tries only one of each class.

import type { Operation } from './history.js';

const NONE = -1;

/**
 * Indeterminate operations with the same op are interchangeable, so only the earliest
 * unplaced one of each class may be placed: any order using a later twin works with the
 * earlier one in its place. Without this, k twins multiply the search by k!.
 */
export class TwinClasses {
  private readonly classOf: Int32Array;
  private readonly rank: Int32Array;
  private readonly placed: Int32Array;

  constructor(operations: readonly Operation[]) {
    this.classOf = new Int32Array(operations.length).fill(NONE);
    this.rank = new Int32Array(operations.length);
    const classes = new Map<string, { index: number; size: number }>();
    // Operations are in invoke order within a partition, so rank follows the list order.
    const order = operations.map((_, id) => id).sort((a, b) => operations[a]!.invokeMs - operations[b]!.invokeMs || a - b);
    for (const id of order) {
      const operation = operations[id]!;
      if (operation.returnMs !== Infinity) continue;
      const key = twinKey(operation);
      if (key === undefined) continue;
      let twinClass = classes.get(key);
      if (twinClass === undefined) {
        twinClass = { index: classes.size, size: 0 };
        classes.set(key, twinClass);
      }
      this.classOf[id] = twinClass.index;
      this.rank[id] = twinClass.size++;
    }
    this.placed = new Int32Array(classes.size);
  }

  isNext(id: number): boolean {
    const twinClass = this.classOf[id]!;
    return twinClass === NONE || this.placed[twinClass] === this.rank[id];
  }

  place(id: number): void {
    const twinClass = this.classOf[id]!;
    if (twinClass !== NONE) this.placed[twinClass]!++;
  }

  unplace(id: number): void {
    const twinClass = this.classOf[id]!;
    if (twinClass !== NONE) this.placed[twinClass]!--;
  }
}

function twinKey(operation: Operation): string | undefined {
  try {
    return JSON.stringify([operation.op.type, operation.op.key, operation.op.value]);
  } catch {
    return undefined; // not serializable: treat as unique
  }
}
