// The set of linearized operations and the cache of (set, state) pairs already explored.
// Two searches that reach the same state having linearized the same operations have the
// same future, so the second one is pruned (Lowe's memoization).

import { CACHE_ENTRIES_MAX } from './limits.js';

const FULL_WORD = 0xffff_ffff;

/** A bitset with an incremental (Zobrist) hash, so a cache probe costs O(1) to locate. */
export class LinearizedSet {
  private readonly words: Uint32Array;
  private hashLow = 0;
  private hashHigh = 0;
  // Operations are linearized roughly in invoke order, so the set is a run of full words,
  // a short window, then zeros. These bound the window without scanning every word.
  private fullWordsMin = 0;
  private usedWordsMax = 0;

  constructor(readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  has(id: number): boolean {
    return ((this.words[id >>> 5]! >>> (id & 31)) & 1) === 1;
  }

  add(id: number): void {
    const word = id >>> 5;
    this.words[word] = this.words[word]! | (1 << (id & 31));
    if (word + 1 > this.usedWordsMax) this.usedWordsMax = word + 1;
    this.toggleHash(id);
  }

  remove(id: number): void {
    const word = id >>> 5;
    this.words[word] = this.words[word]! & ~(1 << (id & 31));
    if (word < this.fullWordsMin) this.fullWordsMin = word;
    this.toggleHash(id);
  }

  /** A 53-bit hash: exact integers in a double, usable as a Map key. */
  hash(): number {
    return (this.hashHigh & 0x1f_ffff) * 0x1_0000_0000 + (this.hashLow >>> 0);
  }

  /**
   * Tightens the bounds so that words [fullWords, end) hold every bit not in the run of
   * full words. Allocation-free: it runs on every cache probe.
   */
  tighten(): void {
    while (this.fullWordsMin < this.words.length && this.words[this.fullWordsMin] === FULL_WORD) this.fullWordsMin++;
    while (this.usedWordsMax > this.fullWordsMin && this.words[this.usedWordsMax - 1] === 0) this.usedWordsMax--;
    if (this.usedWordsMax < this.fullWordsMin) this.usedWordsMax = this.fullWordsMin;
  }

  /** Call after tighten(). */
  pack(): PackedSet {
    return { fullWords: this.fullWordsMin, tail: this.words.slice(this.fullWordsMin, this.usedWordsMax) };
  }

  /** Call after tighten(). */
  equals(packed: PackedSet): boolean {
    const fullWords = this.fullWordsMin;
    if (packed.fullWords !== fullWords || packed.tail.length !== this.usedWordsMax - fullWords) return false;
    for (let i = 0; i < packed.tail.length; i++) {
      if (packed.tail[i] !== this.words[fullWords + i]) return false;
    }
    return true;
  }

  private toggleHash(id: number): void {
    this.hashLow ^= mix32(2 * id + 1);
    this.hashHigh ^= mix32(2 * id + 2);
  }
}

export interface PackedSet {
  readonly fullWords: number;
  readonly tail: Uint32Array;
}

/** The indeterminate operations linearized so far, over their own dense ids. */
export class IndeterminateSet {
  readonly words: Uint32Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  add(id: number): void {
    this.words[id >>> 5] = this.words[id >>> 5]! | (1 << (id & 31));
  }

  remove(id: number): void {
    this.words[id >>> 5] = this.words[id >>> 5]! & ~(1 << (id & 31));
  }

  includes(other: Uint32Array): boolean {
    for (let i = 0; i < other.length; i++) {
      if ((other[i]! & ~this.words[i]!) !== 0) return false;
    }
    return true;
  }
}

export interface CacheEntry {
  readonly stateKey: string;
  readonly completed: PackedSet;
  readonly indeterminate: Uint32Array;
  /** Its whole subtree was searched without success. */
  closed: boolean;
}

/** Returned when the cache is full: the search goes on without memoizing. */
const UNCACHED: CacheEntry = { stateKey: '', completed: { fullWords: 0, tail: new Uint32Array(0) }, indeterminate: new Uint32Array(0), closed: false };

/**
 * Keys on the completed operations linearized and the state. Indeterminate operations
 * need never be linearized, so a node that linearized a superset of them is dominated:
 * whatever it can still do, the other could. A closed entry prunes its supersets; an
 * open one (an ancestor on the stack) prunes only an equal node.
 */
export class SearchCache {
  private readonly buckets = new Map<number, CacheEntry[]>();
  private size = 0;

  /** Records the node; null when it is pruned. */
  visit(completed: LinearizedSet, indeterminate: IndeterminateSet, stateKey: string): CacheEntry | null {
    const hash = completed.hash();
    completed.tighten();
    let bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      for (const entry of bucket) {
        if (entry.stateKey !== stateKey || !completed.equals(entry.completed)) continue;
        if (entry.closed ? indeterminate.includes(entry.indeterminate) : equalWords(entry.indeterminate, indeterminate.words)) return null;
      }
    }
    if (this.size >= CACHE_ENTRIES_MAX) return UNCACHED;
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(hash, bucket);
    }
    const entry: CacheEntry = { stateKey, completed: completed.pack(), indeterminate: indeterminate.words.slice(), closed: false };
    bucket.push(entry);
    this.size++;
    return entry;
  }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// murmur3's finalizer: spreads consecutive ids over all 32 bits.
function mix32(seed: number): number {
  let h = Math.imul(seed ^ (seed >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) | 0;
}
