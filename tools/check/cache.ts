// The set of linearized operations and the cache of (set, state) pairs already explored.
// Two searches that reach the same state having linearized the same operations have the
// same future, so the second one is pruned (Lowe's memoization).

import type { StepBudget } from './budget.js';
import { CACHE_ENTRIES_MAX } from './limits.js';

const FULL_WORD = 0xffff_ffff;

/** A bitset with an incremental (Zobrist) hash, so a cache probe costs O(1) to locate. */
export class LinearizedSet {
  private readonly words: Uint32Array;
  private hashBits = 0;
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

  /**
   * A 30-bit hash of the set and `salt`: a small integer, which V8 keeps unboxed, so a Map
   * probe allocates nothing. Buckets compare the sets in full, so collisions cost only time.
   */
  hash(salt: number): number {
    return (this.hashBits ^ mix32(salt)) & 0x3fff_ffff;
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

  /** Call after tighten(). Plain arrays: far cheaper to allocate than typed ones. */
  packInto(entry: { fullWords: number; tail: number[] }): void {
    entry.fullWords = this.fullWordsMin;
    for (let i = this.fullWordsMin; i < this.usedWordsMax; i++) entry.tail.push(this.words[i]!);
  }

  /** Call after tighten(). */
  equals(fullWords: number, tail: readonly number[]): boolean {
    if (fullWords !== this.fullWordsMin || tail.length !== this.usedWordsMax - fullWords) return false;
    for (let i = 0; i < tail.length; i++) {
      if (tail[i] !== this.words[fullWords + i]) return false;
    }
    return true;
  }

  private toggleHash(id: number): void {
    this.hashBits ^= mix32(id + 1);
  }
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

  includes(other: readonly number[]): boolean {
    for (let i = 0; i < other.length; i++) {
      if ((other[i]! & ~this.words[i]!) !== 0) return false;
    }
    return true;
  }

  equals(other: readonly number[]): boolean {
    for (let i = 0; i < this.words.length; i++) {
      if ((other[i] ?? 0) !== this.words[i]) return false;
    }
    return true;
  }

  /** The words up to the last non-zero one; empty (and shared) when the set is. */
  copy(): readonly number[] {
    let end = this.words.length;
    while (end > 0 && this.words[end - 1] === 0) end--;
    if (end === 0) return NO_WORDS;
    const words: number[] = [];
    for (let i = 0; i < end; i++) words.push(this.words[i]!);
    return words;
  }
}

const NO_WORDS: readonly number[] = [];

export interface CacheEntry {
  readonly stateKey: string;
  /** The completed set: this many full words, then `tail`, then zeros. */
  fullWords: number;
  readonly tail: number[];
  readonly indeterminate: readonly number[];
  /** Its whole subtree was searched without success. */
  closed: boolean;
}

/** Returned when the cache is full: the search goes on without memoizing. */
const UNCACHED: CacheEntry = { stateKey: '', fullWords: 0, tail: [], indeterminate: NO_WORDS, closed: false };

/**
 * Keys on the completed operations linearized and the state. Indeterminate operations
 * need never be linearized, so a node that linearized a superset of them is dominated:
 * whatever it can still do, the other could. A closed entry prunes its supersets; an
 * open one (an ancestor on the stack) prunes only an equal node. Nodes that differ only
 * in their indeterminate operations share a bucket, scanned in full: each entry compared
 * is charged to the step budget, so a long bucket costs budget, not unbounded time.
 */
export class SearchCache {
  private readonly buckets = new Map<number, CacheEntry[]>();
  private size = 0;

  constructor(private readonly budget: StepBudget) {}

  /** Records the node; null when it is pruned. */
  visit(completed: LinearizedSet, indeterminate: IndeterminateSet, stateKey: string): CacheEntry | null {
    const hash = completed.hash(stringHash(stateKey));
    completed.tighten();
    let bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      this.budget.used += bucket.length;
      for (const entry of bucket) {
        if (entry.stateKey !== stateKey || !completed.equals(entry.fullWords, entry.tail)) continue;
        if (entry.closed ? indeterminate.includes(entry.indeterminate) : indeterminate.equals(entry.indeterminate)) return null;
      }
    }
    if (this.size >= CACHE_ENTRIES_MAX) return UNCACHED;
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(hash, bucket);
    }
    const entry: CacheEntry = { stateKey, fullWords: 0, tail: [], indeterminate: indeterminate.copy(), closed: false };
    completed.packInto(entry);
    bucket.push(entry);
    this.size++;
    return entry;
  }
}

// FNV-1a: state keys are short, and equal keys must land in the same bucket.
function stringHash(text: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x0100_0193);
  return h;
}

// murmur3's finalizer: spreads consecutive ids over all 32 bits.
function mix32(seed: number): number {
  let h = Math.imul(seed ^ (seed >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) | 0;
}
