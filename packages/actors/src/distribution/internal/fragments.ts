// Frames too large to go out whole without holding up the others travel in fragments
// of FRAGMENT_BYTES, interleaved with other frames (as Erlang's distribution does since
// OTP 22), so heartbeats and small messages never wait behind a 60 MiB frame.
//
// Order per destination holds: while a frame is in fragments, a signal for any of its
// destinations waits until the last fragment is out. A frame with a by-name signal
// holds everything (a name and a pid may be the same actor), and so does a by-name signal.
//
// A fragmented frame was encoded with the record shapes the connection shared so far;
// the sender then starts its encoder afresh, and the receiver, at the first fragment,
// hands its decoder to that frame and starts afresh too. Frames that overtake the
// fragments therefore never refer to shapes defined inside them.

import { isByName, type Signal } from '../../internal/signals.js';
import { FRAGMENT_BYTES, FRAGMENTED_MESSAGES_MAX } from '../limits.js';
import { FRAME_HEADER_BYTES } from './codec.js';

/** Frame kind: [FRAGMENT, id, flags, bytes]. */
export const FRAGMENT = 14;
export const FRAGMENT_FIRST = 1;
export const FRAGMENT_LAST = 2;

/** msgpack of [FRAGMENT, id, flags, bin]: fixarray, fixint, uint32, fixint, bin32 header. */
const FRAGMENT_PREFIX_BYTES = 1 + 1 + 5 + 1 + 5;

/** One fragment as a whole frame (length header included), built without an encoder: it carries no record shapes. */
export function encodeFragment(id: number, flags: number, source: Buffer, start: number, end: number): Buffer {
  const length = end - start;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + FRAGMENT_PREFIX_BYTES + length);
  let at = out.writeUInt32BE(FRAGMENT_PREFIX_BYTES + length, 0);
  at = out.writeUInt8(0x94, at);
  at = out.writeUInt8(FRAGMENT, at);
  at = out.writeUInt8(0xce, at);
  at = out.writeUInt32BE(id, at);
  at = out.writeUInt8(flags, at);
  at = out.writeUInt8(0xc6, at);
  at = out.writeUInt32BE(length, at);
  source.copy(out, at, start, end);
  return out;
}

/** A frame on its way out in fragments. */
export class OutgoingFragments {
  /** Signals for one of its destinations, sent after its last fragment. */
  readonly held: Signal[] = [];
  private offset = FRAME_HEADER_BYTES;

  private constructor(
    readonly id: number,
    /** The whole encoded frame, length header included. */
    private readonly frame: Buffer,
    /** Ids of the pids it carries signals to (ids of other schedulers or nodes only make it hold more). */
    private readonly destinations: ReadonlySet<number>,
    private readonly holdsEverything: boolean,
  ) {}

  static of(id: number, frame: Buffer, signals: readonly Signal[]): OutgoingFragments {
    const destinations = new Set<number>();
    let byName = false;
    for (const signal of signals) {
      if (isByName(signal)) byName = true;
      else destinations.add(signal.to.id);
    }
    return new OutgoingFragments(id, frame, destinations, byName);
  }

  /** True when `signal` must wait for this frame to keep the order per destination. */
  holds(signal: Signal): boolean {
    return this.holdsEverything || isByName(signal) || this.destinations.has(signal.to.id);
  }

  get remainingBytes(): number {
    return this.frame.length - this.offset;
  }

  get done(): boolean {
    return this.offset === this.frame.length;
  }

  /** The next fragment as a frame. */
  next(): Buffer {
    const start = this.offset;
    const end = Math.min(this.frame.length, start + FRAGMENT_BYTES);
    const flags = (start === FRAME_HEADER_BYTES ? FRAGMENT_FIRST : 0) | (end === this.frame.length ? FRAGMENT_LAST : 0);
    this.offset = end;
    return encodeFragment(this.id, flags, this.frame, start, end);
  }
}

/** Thrown on a fragment sequence that no well-behaved sender makes; the connection closes. */
export class FragmentError extends Error {}

interface Reassembly<D> {
  readonly chunks: Uint8Array[];
  bytes: number;
  readonly decoder: D;
}

/**
 * Puts fragmented frames back together, at most FRAGMENTED_MESSAGES_MAX at once and
 * each at most maxFrameBytes, so a peer holds at most that much memory here.
 */
export class FragmentAssembler<D> {
  private readonly inFlight = new Map<number, Reassembly<D>>();

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held for frames not yet complete. */
  get bufferedBytes(): number {
    let total = 0;
    for (const r of this.inFlight.values()) total += r.bytes;
    return total;
  }

  /**
   * Adds one FRAGMENT frame; returns the frame body and the decoder it was encoded
   * against once its last fragment is in. `takeDecoder` is called at a first fragment.
   */
  add(frame: readonly unknown[], takeDecoder: () => D): { body: Buffer; decoder: D } | undefined {
    const [, id, flags, chunk] = frame;
    if (frame.length !== 4 || !Number.isInteger(id) || (id as number) < 0 || (id as number) > 0xffff_ffff) throw new FragmentError('malformed fragment frame');
    if (flags !== 0 && flags !== FRAGMENT_FIRST && flags !== FRAGMENT_LAST && flags !== (FRAGMENT_FIRST | FRAGMENT_LAST)) throw new FragmentError(`fragment flags ${String(flags)} are not defined`);
    if (!(chunk instanceof Uint8Array)) throw new FragmentError('fragment without bytes');
    const key = id as number;
    let reassembly = this.inFlight.get(key);
    if ((flags & FRAGMENT_FIRST) !== 0) {
      if (reassembly !== undefined) throw new FragmentError(`fragmented frame ${key} started again before its last fragment`);
      if (this.inFlight.size >= FRAGMENTED_MESSAGES_MAX) throw new FragmentError(`more than ${FRAGMENTED_MESSAGES_MAX} fragmented frames in flight at once`);
      reassembly = { chunks: [], bytes: 0, decoder: takeDecoder() };
      this.inFlight.set(key, reassembly);
    } else if (reassembly === undefined) {
      throw new FragmentError(`fragment of frame ${key}, which has not started`);
    }
    reassembly.bytes += chunk.length;
    if (reassembly.bytes > this.maxFrameBytes) throw new FragmentError(`fragmented frame ${key} passes maxFrameBytes (${this.maxFrameBytes})`);
    reassembly.chunks.push(chunk);
    if ((flags & FRAGMENT_LAST) === 0) return undefined;
    this.inFlight.delete(key);
    return { body: Buffer.concat(reassembly.chunks, reassembly.bytes), decoder: reassembly.decoder };
  }

  clear(): void {
    this.inFlight.clear();
  }
}
