// A system's counters in one growable SharedArrayBuffer: the WAL's and the segment
// writer's fields, then one fixed-size slot per server. Only the system's own thread
// writes (plain typed-array stores: each value is an aligned float64, so a reader on
// another thread sees the old or the new value, never a mix); any thread may read.

import { InvalidArgumentError } from '../errors.js';
import { G, S, SEGMENT_WRITER_FIELDS, SERVER_SLOT_VALUES, SERVER_SLOTS_GROWTH, SERVER_SLOTS_MAX, W, WAL_FIELDS } from './layout.js';

/** Values before the first server slot: the WAL's, then the segment writer's, padded. */
export const WAL_BASE = 0;
export const SEGMENT_WRITER_BASE = 8;
export const SERVERS_BASE = 16;
const BYTES = Float64Array.BYTES_PER_ELEMENT;

/** ES2024's growable SharedArrayBuffer (Node 20 has it; the project's lib is ES2023). */
interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  grow(byteLength: number): void;
}
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => GrowableSharedArrayBuffer;

if (WAL_FIELDS.length > SEGMENT_WRITER_BASE - WAL_BASE || SEGMENT_WRITER_FIELDS.length > SERVERS_BASE - SEGMENT_WRITER_BASE) {
  throw new Error('metrics layout: the WAL or segment writer fields overlap the next region');
}

export function slotBase(slot: number): number {
  return SERVERS_BASE + slot * SERVER_SLOT_VALUES;
}

/** The owner's side: allocates server slots and grows the buffer. */
export class CounterBuffer {
  readonly buffer: GrowableSharedArrayBuffer;
  /** Length-tracking: it sees the buffer grow. */
  readonly values: Float64Array;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private capacity: number;
  private generations = 0;

  constructor(initialSlots: number = SERVER_SLOTS_GROWTH) {
    this.capacity = Math.min(initialSlots, SERVER_SLOTS_MAX);
    this.buffer = new GrowableSharedArrayBuffer(slotBase(this.capacity) * BYTES, { maxByteLength: slotBase(SERVER_SLOTS_MAX) * BYTES });
    this.values = new Float64Array(this.buffer);
  }

  /** Takes a slot for a server: zeroed, stamped with a generation no earlier holder had. */
  allocate(): { readonly slot: number; readonly generation: number } {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.nextSlot === this.capacity) this.grow();
      slot = this.nextSlot++;
    }
    const base = slotBase(slot);
    this.values.fill(0, base, base + SERVER_SLOT_VALUES);
    const generation = ++this.generations;
    this.values[base + S.generation] = generation;
    return { slot, generation };
  }

  /** Returns a slot: a reader holding the old generation sees it no longer matches. */
  release(slot: number): void {
    const base = slotBase(slot);
    this.values.fill(0, base, base + SERVER_SLOT_VALUES);
    this.freeSlots.push(slot);
  }

  /** Server slots in use. */
  slotsInUse(): number {
    return this.nextSlot - this.freeSlots.length;
  }

  private grow(): void {
    if (this.capacity >= SERVER_SLOTS_MAX) throw new InvalidArgumentError('server count', `at most ${SERVER_SLOTS_MAX} servers per system`, this.capacity + 1);
    this.capacity = Math.min(this.capacity + SERVER_SLOTS_GROWTH, SERVER_SLOTS_MAX);
    this.buffer.grow(slotBase(this.capacity) * BYTES);
  }
}

/**
 * A counters object over shared memory for code that counts with `counters.x++`
 * (WalWriter, SegmentWriter): each field is an accessor on the buffer, so those
 * classes keep their plain counters and a reader elsewhere sees them live.
 */
export function sharedFields<const T extends readonly string[]>(values: Float64Array, base: number, fields: T): { [K in T[number]]: number } {
  const out = {} as { [K in T[number]]: number };
  fields.forEach((field, i) => {
    Object.defineProperty(out, field, {
      enumerable: true,
      get: () => values[base + i] as number,
      set: (v: number) => {
        values[base + i] = v;
      },
    });
  });
  return out;
}

export function walValue(values: Float64Array, field: keyof typeof W): number {
  return values[WAL_BASE + W[field]] ?? 0;
}

export function segmentWriterValue(values: Float64Array, field: keyof typeof G): number {
  return values[SEGMENT_WRITER_BASE + G[field]] ?? 0;
}
