// One TCP (or TLS) connection to another node: the cookie handshake, then batched
// signal frames, a liveness tick, heartbeats ahead of queued data, and a bound on
// what may wait for a peer that does not read.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from '../../logger.js';
import type { Signal } from '../../internal/signals.js';
import {
  ANSWER,
  CHALLENGE,
  FRAME_HEADER_BYTES,
  FrameCodec,
  FrameReader,
  HEARTBEAT,
  HEARTBEAT_FRAME,
  HELLO,
  PROTOCOL_VERSION,
  READY,
  REFUSED,
  RESET,
  RESET_FRAME,
  SIGNALS,
  SIGNALS_FRAME_OVERHEAD_BYTES,
  signalsFrame,
  TICK,
  TICK_FRAME,
  UnsendableError,
  type Refusal,
} from './codec.js';
import { FRAGMENTED_MESSAGES_MAX, HANDSHAKE_FRAME_BYTES_MAX, SOCKET_BUFFER_BYTES_MAX, UNFRAGMENTED_FRAME_BYTES_MAX, WIRE_NAME_LENGTH_MAX } from '../limits.js';
import type { RefusalLog } from './refusal-log.js';
import { isCreation, signalFromWire, signalToWire } from './wire-signals.js';
import { FRAGMENT, FragmentAssembler, FragmentError, OutgoingFragments } from './fragments.js';
import { refuseUnsendable } from './unsendable.js';
import { MessageTooLargeError, UnsendableMessageError, type ActorError } from '../../errors.js';
// The runtime's own: an actor's send that schedules a flush must not make the flush that actor's code.
import { nodeQueueMicrotask, nodeSetImmediate, nodeSetTimeout } from '../../internal/callback-owners.js';
import { ownString } from '../../internal/own-string.js';

export interface ConnectionSettings {
  readonly myName: string;
  /** This node incarnation's creation; the peer packs our pids only when they carry it. */
  readonly myCreation: number;
  readonly cookie: string;
  readonly maxFrameBytes: number;
  readonly maxQueuedBytes: number;
  readonly netTickMs: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  /** Where connections that never came up are logged, at a bounded rate. */
  readonly refusals: RefusalLog;
}

/** What the node does with an inbound handshake that names `peer`. */
export type InboundDecision = 'accept' | 'simultaneous';

export interface ConnectionEvents {
  /**
   * An inbound hello names its node: go on, or refuse because our own dial wins? The
   * peer has proved nothing yet, so the answer must not change any state of the node.
   */
  decideInbound(peer: string): InboundDecision;
  up(conn: Connection): void;
  signals(conn: Connection, signals: unknown[]): void;
  heartbeat(conn: Connection): void;
  /** A signal was not sent (too large, or not encodable); `answer` stands in for it. */
  unsendable?(conn: Connection, signal: Signal, answer: Signal): void;
  closed(conn: Connection, reason: string): void;
}

type Phase = 'hello' | 'challenge' | 'answer' | 'ready' | 'up' | 'closed';

export class Connection {
  peer: string | undefined;
  /** The peer incarnation's creation, learned in the handshake. */
  peerCreation = 0;
  /** Set when the peer refused our dial because its own dial to us wins: not a failure. */
  refusedAsSimultaneous = false;
  private phase: Phase;
  private readonly reader: FrameReader;
  private readonly codec = new FrameCodec();
  private readonly myChallenge = randomBytes(16).toString('hex');
  private outbox: unknown[][] = [];
  private flushScheduled = false;
  private lazyFlushScheduled = false;
  /** Encoded data frames waiting for the socket to drain (the socket holds at most SOCKET_BUFFER_BYTES_MAX). */
  private queued: (Buffer | OutgoingFragments)[] = [];
  private queuedHead = 0;
  private queuedBytes = 0;
  private lastReceivedMs = performance.now();
  private lastSentMs = performance.now();
  private readonly tickMs: number;
  private lastTickMs = performance.now();
  private readonly timer: NodeJS.Timeout;
  /** Frames in fragments not yet all sent, in the order encoded; the first `FRAGMENTED_MESSAGES_MAX` queued ones interleave. */
  private fragmentsOut: OutgoingFragments[] = [];
  private fragmentsSending: OutgoingFragments[] = [];
  private fragmentTurn = 0;
  private nextFragmentsId = 0;
  private pumpPaused = false;
  private readonly fragmentsIn: FragmentAssembler<{ decode(body: Buffer): unknown }>;
  /** Larger frame bodies go out in fragments. */
  private readonly unfragmentedBytesMax: number;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** For observability and tests. */
  signalsSent = 0;
  signalsReceived = 0;
  queuedBytesPeak = 0;

  constructor(
    readonly socket: Socket,
    readonly outbound: boolean,
    expectedPeer: string | undefined,
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
  ) {
    this.peer = expectedPeer === undefined ? undefined : ownString(expectedPeer);
    this.reader = new FrameReader();
    this.fragmentsIn = new FragmentAssembler(settings.maxFrameBytes);
    this.unfragmentedBytesMax = Math.min(UNFRAGMENTED_FRAME_BYTES_MAX, settings.maxFrameBytes);
    this.phase = outbound ? 'challenge' : 'hello';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.writeQueued());
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('connection closed by peer'));
    this.handshakeTimer = setTimeout(() => this.close(`handshake did not complete within ${settings.handshakeTimeoutMs} ms`), settings.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    this.tickMs = Math.max(10, Math.floor(settings.netTickMs / 4));
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  get isUp(): boolean {
    return this.phase === 'up';
  }

  /** Bytes encoded for the peer and not yet handed to the socket. */
  get queuedByteCount(): number {
    return this.queuedBytes;
  }

  /** Starts the handshake of an outbound connection once the socket is connected. */
  hello(): void {
    this.writeNow(this.codec.encode([HELLO, PROTOCOL_VERSION, this.settings.myName, this.peer, this.myChallenge, this.settings.myCreation]));
  }

  send(signal: Signal): void {
    if (this.phase !== 'up') return;
    if (this.fragmentsOut.length > 0 && this.holdBehindFragments(signal)) return;
    this.outbox.push(signalToWire(signal, this.settings.myName, this.peer!, this.settings.myCreation, this.peerCreation));
    if (this.flushScheduled) return;
    if (signal.k === 'demonitor') {
      // Nobody waits on a demonitor: let it ride with the next frame (a call's next
      // request, typically), or go on its own at the end of the loop turn.
      if (!this.lazyFlushScheduled) {
        this.lazyFlushScheduled = true;
        nodeSetImmediate(this.lazyFlush);
      }
      return;
    }
    this.flushScheduled = true;
    nodeQueueMicrotask(this.flush);
  }

  /** Keeps the order per destination: a signal for a destination of a frame still in fragments waits for it. */
  private holdBehindFragments(signal: Signal): boolean {
    for (const out of this.fragmentsOut) {
      if (!out.holds(signal)) continue;
      out.held.push(signal);
      return true;
    }
    return false;
  }

  private readonly lazyFlush = (): void => {
    this.lazyFlushScheduled = false;
    if (!this.flushScheduled) this.flush();
  };

  /** The priority lane: straight to the socket, ahead of queued data frames. */
  sendHeartbeat(): void {
    if (this.phase === 'up') this.writeNow(HEARTBEAT_FRAME);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.phase !== 'up') return;
    const batch = this.outbox;
    this.outbox = [];
    this.signalsSent += batch.length;
    this.encodeBatch(batch);
  };

  /**
   * Encodes signals as one frame. A frame too large to go out whole is thrown away (the
   * peer is told to forget its record shapes) and its signals go one by one: small ones
   * together, a large one in fragments of its own, one that passes maxFrameBytes or
   * cannot be encoded fails alone (see unsendable.ts).
   */
  private encodeBatch(wire: unknown[][]): void {
    let bytes: Buffer | undefined;
    let failure: unknown;
    try {
      bytes = this.codec.encode([SIGNALS, wire]);
    } catch (err) {
      failure = err;
    }
    const bodyBytes = bytes === undefined ? Infinity : bytes.length - FRAME_HEADER_BYTES;
    if (bodyBytes <= this.unfragmentedBytesMax) return this.writeData(bytes!);
    if (wire.length === 1 && bodyBytes <= this.settings.maxFrameBytes) return this.writeFragmented(bytes!, [this.signalOf(wire[0]!)]);
    this.codec.resetEncoder();
    this.writeData(RESET_FRAME);
    if (wire.length === 1) return this.refuseSignal(this.signalOf(wire[0]!), this.unsendableError(bodyBytes, failure));
    this.encodeOneByOne(wire.map((w) => this.signalOf(w)), wire);
  }

  /** The signal back from its wire form (the slow path only: the hot path keeps just the wire form). */
  private signalOf(wire: unknown[]): Signal {
    const signal = signalFromWire(wire, this.settings.myName, this.peer!, this.settings.myCreation, this.peerCreation);
    if (typeof signal !== 'string') return signal;
    // Cannot happen (the two are inverses); a by-name stand-in holds everything after it, so order still holds.
    this.settings.logger.error({ peer: this.peer, reason: signal }, 'a signal encoded for the peer does not decode');
    return { k: 'named', name: '', node: this.peer!, msg: undefined };
  }

  private encodeOneByOne(batch: Signal[], wire: unknown[][]): void {
    // No fragment goes out before the whole batch is encoded: a frame in fragments that
    // finished now would release signals it holds behind later ones of this batch.
    this.pumpPaused = true;
    try {
      this.encodeEach(batch, wire);
    } finally {
      this.pumpPaused = false;
    }
    this.writeQueued();
  }

  private encodeEach(batch: Signal[], wire: unknown[][]): void {
    let group: Buffer[] = [];
    let groupBytes = 0;
    const smallMax = this.unfragmentedBytesMax - SIGNALS_FRAME_OVERHEAD_BYTES;
    for (let i = 0; i < batch.length && this.phase === 'up'; i++) {
      // A signal after a large one for the same destination waits for its fragments.
      if (this.fragmentsOut.length > 0 && this.holdBehindFragments(batch[i]!)) continue;
      let part: Buffer | undefined;
      let failure: unknown;
      try {
        part = this.codec.encodeValue(wire[i]);
      } catch (err) {
        failure = err;
      }
      if (part !== undefined && part.length <= smallMax) {
        if (groupBytes + part.length > smallMax) {
          this.writeData(signalsFrame(group, groupBytes));
          group = [];
          groupBytes = 0;
        }
        group.push(part);
        groupBytes += part.length;
        continue;
      }
      if (group.length > 0) this.writeData(signalsFrame(group, groupBytes));
      group = [];
      groupBytes = 0;
      if (part !== undefined && part.length + SIGNALS_FRAME_OVERHEAD_BYTES <= this.settings.maxFrameBytes) {
        this.writeFragmented(signalsFrame([part], part.length), [batch[i]!]);
        continue;
      }
      // Shapes it may have defined never reach the peer.
      this.codec.resetEncoder();
      this.writeData(RESET_FRAME);
      this.refuseSignal(batch[i]!, this.unsendableError(part?.length ?? Infinity, failure));
    }
    if (group.length > 0 && this.phase === 'up') this.writeData(signalsFrame(group, groupBytes));
  }

  /** Why a signal was not sent: its size once encoded, or the encoder's or the frame check's error. */
  private unsendableError(bodyBytes: number, failure: unknown): ActorError {
    if (bodyBytes !== Infinity) return new MessageTooLargeError(this.peer!, bodyBytes, this.settings.maxFrameBytes);
    const why = failure instanceof Error ? failure.message : String(failure);
    return new UnsendableMessageError(this.peer!, why, failure instanceof UnsendableError);
  }

  private refuseSignal(signal: Signal, error: ActorError): void {
    const refusal = refuseUnsendable(signal, error);
    this.settings.logger.warn({ peer: this.peer, reason: refusal.log }, 'distribution signal not sent');
    if (refusal.answer !== undefined) this.events.unsendable?.(this, signal, refusal.answer);
  }

  /** Sends a large frame in fragments; later frames start new record shapes, since the peer decodes this one out of turn. */
  private writeFragmented(frame: Buffer, batch: Signal[]): void {
    this.codec.resetEncoder();
    const out = OutgoingFragments.of(this.nextFragmentsId, frame, batch);
    this.nextFragmentsId = (this.nextFragmentsId + 1) >>> 0;
    this.fragmentsOut.push(out);
    this.enqueue(out, out.remainingBytes);
  }

  /** Data frames keep their order; past the socket's share they wait here, up to maxQueuedBytes. */
  private writeData(bytes: Buffer): void {
    if (this.queuedBytes === 0 && this.socket.writableLength < SOCKET_BUFFER_BYTES_MAX) return this.writeNow(bytes);
    this.enqueue(bytes, bytes.length);
  }

  private enqueue(item: Buffer | OutgoingFragments, bytes: number): void {
    this.queued.push(item);
    this.queuedBytes += bytes;
    if (this.queuedBytes > this.queuedBytesPeak) this.queuedBytesPeak = this.queuedBytes;
    const waiting = this.queuedBytes + this.socket.writableLength;
    if (waiting > this.settings.maxQueuedBytes) {
      return this.close(`peer is overloaded: ${waiting} bytes wait for it to read (maxQueuedBytes ${this.settings.maxQueuedBytes})`);
    }
    if (!this.pumpPaused) this.writeQueued();
  }

  /** Fills the socket's share, taking turns between queued frames and fragments of the frames in fragments. */
  private writeQueued(): void {
    while (this.phase === 'up' && this.socket.writableLength < SOCKET_BUFFER_BYTES_MAX) {
      const wroteFrame = this.writeNextQueued();
      const wroteFragment = this.writeNextFragment();
      if (!wroteFrame && !wroteFragment) break;
    }
    if (this.queuedHead === this.queued.length) {
      this.queued = [];
      this.queuedHead = 0;
    }
  }

  private writeNextQueued(): boolean {
    if (this.queuedHead === this.queued.length) return false;
    const item = this.queued[this.queuedHead]!;
    if (item instanceof OutgoingFragments) {
      // Its first fragment goes in the order it was encoded; it waits while the peer reassembles as many as it accepts.
      if (this.fragmentsSending.length >= FRAGMENTED_MESSAGES_MAX) return false;
      this.queued[this.queuedHead++] = undefined as unknown as Buffer;
      this.fragmentsSending.push(item);
      this.writeFragment(item);
      return true;
    }
    this.queued[this.queuedHead++] = undefined as unknown as Buffer;
    this.queuedBytes -= item.length;
    this.writeNow(item);
    return true;
  }

  private writeNextFragment(): boolean {
    if (this.fragmentsSending.length === 0 || this.phase !== 'up') return false;
    this.fragmentTurn = (this.fragmentTurn + 1) % this.fragmentsSending.length;
    this.writeFragment(this.fragmentsSending[this.fragmentTurn]!);
    return true;
  }

  private writeFragment(out: OutgoingFragments): void {
    const before = out.remainingBytes;
    this.writeNow(out.next());
    this.queuedBytes -= before - out.remainingBytes;
    if (!out.done) return;
    this.fragmentsSending = this.fragmentsSending.filter((o) => o !== out);
    this.fragmentsOut = this.fragmentsOut.filter((o) => o !== out);
    for (const signal of out.held) this.send(signal);
  }

  private writeNow(bytes: Buffer): void {
    this.lastSentMs = performance.now();
    this.socket.write(bytes);
  }

  /**
   * Nothing a peer sends may throw out of this socket callback: every failure closes
   * this one connection with the reason. Until the peer is authenticated, a frame may
   * be only a few KiB, refused from its length header alone.
   */
  private receive(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.lastReceivedMs = performance.now();
    this.reader.push(chunk);
    for (;;) {
      if ((this.phase as Phase) === 'closed') return;
      const up = this.phase === 'up';
      let frame: unknown;
      try {
        const body = this.reader.next(up ? this.settings.maxFrameBytes : HANDSHAKE_FRAME_BYTES_MAX);
        if (body === undefined) return;
        frame = up ? this.codec.decode(body) : this.codec.decodeHandshake(body);
      } catch (err) {
        return this.close(`bad frame${up ? '' : ' before the handshake completed'}: ${errorText(err)}`);
      }
      if (!Array.isArray(frame) || typeof frame[0] !== 'number') return this.close('malformed frame: not a [kind, ...] array');
      try {
        this.handle(frame);
      } catch (err) {
        return this.close(`frame of kind ${frame[0]} could not be handled: ${errorText(err)}`);
      }
    }
  }

  private handle(frame: unknown[]): void {
    const kind = frame[0] as number;
    if (kind === REFUSED && this.phase !== 'up' && this.phase !== 'closed') return this.onRefused(frame[1]);
    switch (this.phase) {
      case 'hello':
        if (kind !== HELLO) return this.close(`frame of kind ${kind} before the handshake`);
        return this.onHello(frame);
      case 'challenge':
        if (kind !== CHALLENGE) return this.close(`expected the handshake challenge, got kind ${kind}`);
        return this.onChallenge(frame);
      case 'answer':
        if (kind !== ANSWER) return this.close(`expected the handshake answer, got kind ${kind}`);
        return this.onAnswer(frame);
      case 'ready':
        if (kind !== READY) return this.close(`expected handshake completion, got kind ${kind}`);
        return this.becomeUp();
      case 'up':
        return this.handleUp(kind, frame);
      case 'closed':
        return;
    }
  }

  private handleUp(kind: number, frame: unknown[]): void {
    switch (kind) {
      case SIGNALS:
        if (!Array.isArray(frame[1])) return this.close('malformed signals frame');
        this.signalsReceived += frame[1].length;
        return this.events.signals(this, frame[1]);
      case HEARTBEAT:
        return this.events.heartbeat(this);
      case TICK:
        return;
      case RESET:
        return this.codec.resetDecoder();
      case FRAGMENT:
        return this.onFragment(frame);
      default:
        return this.close(`unknown frame kind ${kind}`);
    }
  }

  private onFragment(frame: unknown[]): void {
    let whole: { body: Buffer; decoder: { decode(body: Buffer): unknown } } | undefined;
    try {
      whole = this.fragmentsIn.add(frame, () => this.codec.takeDecoder());
    } catch (err) {
      if (!(err instanceof FragmentError)) throw err;
      return this.close(`bad fragment: ${err.message}`);
    }
    if (whole === undefined) return;
    let inner: unknown;
    try {
      inner = whole.decoder.decode(whole.body);
    } catch (err) {
      return this.close(`undecodable fragmented frame: ${(err as Error).message}`);
    }
    if (!Array.isArray(inner) || inner[0] !== SIGNALS) return this.close('malformed fragmented frame: not a signals frame');
    this.handleUp(SIGNALS, inner);
  }

  /** The acceptor's side: the peer claims a name; nothing of the node changes until it proves the cookie. */
  private onHello(frame: unknown[]): void {
    const [, version, peer, expected, challenge, creation] = frame;
    if (version !== PROTOCOL_VERSION) return this.refuse('version', `peer speaks protocol ${describePeerValue(version)}, this node ${PROTOCOL_VERSION}`);
    if (frame.length !== 6 || !isNodeName(peer) || !isChallenge(challenge) || !isCreation(creation)) return this.close('malformed handshake hello');
    this.peer = ownString(peer);
    this.peerCreation = creation;
    if (expected !== this.settings.myName) return this.refuse('name', `peer ${peer} expected node ${describePeerValue(expected)}, but this is ${this.settings.myName}`);
    if (this.events.decideInbound(peer) === 'simultaneous') {
      return this.refuse('simultaneous', `${peer} and this node dialled each other at once; this node's connection is kept`);
    }
    this.writeNow(this.codec.encode([CHALLENGE, this.settings.myName, this.myChallenge, this.digest('accept', challenge, this.settings.myName), this.settings.myCreation]));
    this.phase = 'answer';
  }

  private onChallenge(frame: unknown[]): void {
    const [, peer, challenge, digest, creation] = frame;
    if (peer !== this.peer) return this.refuse('name', `connected to ${describePeerValue(peer)}, expected ${this.peer}`);
    if (frame.length !== 5 || !isChallenge(challenge) || typeof digest !== 'string' || !isCreation(creation)) return this.close('malformed handshake challenge');
    this.peerCreation = creation;
    if (!this.matches(digest, this.digest('accept', this.myChallenge, this.peer!))) {
      return this.refuse('cookie', `cookie mismatch: node ${peer} does not hold this node's cookie`);
    }
    this.writeNow(this.codec.encode([ANSWER, this.digest('connect', challenge, this.settings.myName)]));
    this.phase = 'ready';
  }

  private onAnswer(frame: unknown[]): void {
    const digest = frame[1];
    if (typeof digest !== 'string' || !this.matches(digest, this.digest('connect', this.myChallenge, this.peer!))) {
      return this.refuse('cookie', `cookie mismatch: node ${this.peer} does not hold this node's cookie`);
    }
    this.writeNow(this.codec.encode([READY]));
    this.becomeUp();
  }

  private onRefused(code: unknown): void {
    if (code === 'simultaneous') {
      this.refusedAsSimultaneous = true;
      return this.close('simultaneous connect: the peer keeps its own connection to this node', 'debug');
    }
    const why: Record<Refusal, string> = {
      cookie: 'cookie mismatch: the peer does not hold this node\'s cookie',
      name: 'node name mismatch: the peer is not the node this one expected, or expected another',
      version: 'protocol version mismatch',
      simultaneous: '',
    };
    const text = typeof code === 'string' && Object.hasOwn(why, code) ? why[code as Refusal] : `unknown reason ${describePeerValue(code)}`;
    this.close(`peer refused the handshake: ${text}`);
  }

  private becomeUp(): void {
    this.phase = 'up';
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.events.up(this);
  }

  /** HMAC of the peer's challenge: proves the cookie without sending it. */
  private digest(role: string, challenge: string, name: string): string {
    return createHmac('sha256', this.settings.cookie).update(`${role}:${challenge}:${name}`).digest('hex');
  }

  private matches(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }

  private tick(): void {
    const nowMs = performance.now();
    // A tick a whole interval late means this process was paused: what the peer sent
    // meanwhile is still unread, so the pause does not count as the peer's silence.
    const lateMs = nowMs - this.lastTickMs - this.tickMs;
    this.lastTickMs = nowMs;
    if (lateMs > this.tickMs) this.lastReceivedMs = Math.min(nowMs, this.lastReceivedMs + lateMs);
    if (this.phase !== 'up') return;
    const silentMs = Math.round(nowMs - this.lastReceivedMs);
    if (silentMs > this.settings.netTickMs) {
      return this.close(`peer stopped answering: nothing received for ${silentMs} ms (net tick ${this.settings.netTickMs} ms)`);
    }
    if (nowMs - this.lastSentMs >= this.settings.netTickMs / 4) this.writeNow(TICK_FRAME);
  }

  /** Tells the peer why before closing, so both sides log a reason. */
  private refuse(code: Refusal, reason: string): void {
    if (this.phase === 'closed') return;
    this.socket.end(this.codec.encode([REFUSED, code]));
    this.close(reason, code === 'simultaneous' ? 'debug' : 'warn', false);
  }

  close(reason: string, level: 'warn' | 'info' | 'debug' = 'warn', destroy = true): void {
    if (this.phase === 'closed') return;
    const wasUp = this.phase === 'up';
    this.phase = 'closed';
    clearInterval(this.timer);
    clearTimeout(this.handshakeTimer);
    this.reader.clear();
    this.outbox = [];
    this.queued = [];
    this.queuedBytes = 0;
    this.fragmentsOut = [];
    this.fragmentsSending = [];
    this.fragmentsIn.clear();
    if (destroy) this.socket.destroy();
    else nodeSetTimeout(() => this.socket.destroy(), 1_000).unref();
    const quiet = wasUp && reason.startsWith('connection closed');
    const record = { peer: this.peer ?? this.socket.remoteAddress, reason };
    // A connection that never came up is logged at a bounded rate: anyone can open one.
    if (!wasUp && level === 'warn') this.settings.refusals.warn({ ...record, address: this.socket.remoteAddress }, this.outbound ? 'distribution connection failed' : 'distribution connection refused');
    else this.settings.logger[quiet ? 'info' : level](record, 'distribution connection closed');
    this.events.closed(this, reason);
  }
}

function isChallenge(value: unknown): value is string {
  return typeof value === 'string' && value.length === 32;
}

/** A node name as `Node.start` makes them (name@host:port), of a sane length. */
function isNodeName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= WIRE_NAME_LENGTH_MAX && /^[A-Za-z0-9_.-]+@[^@\s]+:\d{1,5}$/.test(value);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : describePeerValue(err);
}

/** A value a peer sent, for a log record: never throws, never long. */
function describePeerValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? typeof value);
  } catch {
    text = `a value of type ${typeof value}`;
  }
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}
