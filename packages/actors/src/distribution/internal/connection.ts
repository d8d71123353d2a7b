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
  TICK,
  TICK_FRAME,
  type Refusal,
} from './codec.js';
import { HANDSHAKE_FRAME_BYTES_MAX, SOCKET_BUFFER_BYTES_MAX, WIRE_NAME_LENGTH_MAX } from '../limits.js';
import type { RefusalLog } from './refusal-log.js';
import { signalToWire } from './wire-signals.js';

export interface ConnectionSettings {
  readonly myName: string;
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
  closed(conn: Connection, reason: string): void;
}

type Phase = 'hello' | 'challenge' | 'answer' | 'ready' | 'up' | 'closed';

export class Connection {
  peer: string | undefined;
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
  private queued: Buffer[] = [];
  private queuedHead = 0;
  private queuedBytes = 0;
  private lastReceivedMs = performance.now();
  private lastSentMs = performance.now();
  private readonly timer: NodeJS.Timeout;
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
    this.peer = expectedPeer;
    this.reader = new FrameReader();
    this.phase = outbound ? 'challenge' : 'hello';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.writeQueued());
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('connection closed by peer'));
    this.handshakeTimer = setTimeout(() => this.close(`handshake did not complete within ${settings.handshakeTimeoutMs} ms`), settings.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(settings.netTickMs / 4)));
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
    this.writeNow(this.codec.encode([HELLO, PROTOCOL_VERSION, this.settings.myName, this.peer, this.myChallenge]));
  }

  send(signal: Signal): void {
    if (this.phase !== 'up') return;
    this.outbox.push(signalToWire(signal, this.settings.myName, this.peer!));
    if (this.flushScheduled) return;
    if (signal.k === 'demonitor') {
      // Nobody waits on a demonitor: let it ride with the next frame (a call's next
      // request, typically), or go on its own at the end of the loop turn.
      if (!this.lazyFlushScheduled) {
        this.lazyFlushScheduled = true;
        setImmediate(this.lazyFlush);
      }
      return;
    }
    this.flushScheduled = true;
    queueMicrotask(this.flush);
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
   * Encodes signals as one frame, or, when that frame would pass maxFrameBytes, throws
   * it away, tells the peer to forget the record shapes, and sends the halves.
   */
  private encodeBatch(batch: unknown[][]): void {
    let bytes: Buffer;
    try {
      bytes = this.codec.encode([SIGNALS, batch]);
    } catch (err) {
      return this.close(`a signal could not be encoded for the wire: ${(err as Error).message}`);
    }
    if (bytes.length - FRAME_HEADER_BYTES <= this.settings.maxFrameBytes) return this.writeData(bytes);
    // The discarded frame may have defined record shapes the peer never sees: reset both ends.
    this.codec.resetEncoder();
    this.writeData(RESET_FRAME);
    if (batch.length === 1) {
      return this.close(`a message of ${bytes.length - FRAME_HEADER_BYTES} bytes exceeds maxFrameBytes (${this.settings.maxFrameBytes}) and cannot be sent`);
    }
    const half = batch.length >> 1;
    this.encodeBatch(batch.slice(0, half));
    if (this.phase === 'up') this.encodeBatch(batch.slice(half));
  }

  /** Data frames keep their order; past the socket's share they wait here, up to maxQueuedBytes. */
  private writeData(bytes: Buffer): void {
    if (this.queuedBytes === 0 && this.socket.writableLength < SOCKET_BUFFER_BYTES_MAX) return this.writeNow(bytes);
    this.queued.push(bytes);
    this.queuedBytes += bytes.length;
    if (this.queuedBytes > this.queuedBytesPeak) this.queuedBytesPeak = this.queuedBytes;
    const waiting = this.queuedBytes + this.socket.writableLength;
    if (waiting > this.settings.maxQueuedBytes) {
      this.close(`peer is overloaded: ${waiting} bytes wait for it to read (maxQueuedBytes ${this.settings.maxQueuedBytes})`);
    }
  }

  private writeQueued(): void {
    while (this.queuedHead < this.queued.length && this.socket.writableLength < SOCKET_BUFFER_BYTES_MAX && this.phase === 'up') {
      const bytes = this.queued[this.queuedHead]!;
      this.queued[this.queuedHead++] = undefined as unknown as Buffer;
      this.queuedBytes -= bytes.length;
      this.writeNow(bytes);
    }
    if (this.queuedHead === this.queued.length) {
      this.queued = [];
      this.queuedHead = 0;
    }
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
      default:
        return this.close(`unknown frame kind ${kind}`);
    }
  }

  /** The acceptor's side: the peer claims a name; nothing of the node changes until it proves the cookie. */
  private onHello(frame: unknown[]): void {
    const [, version, peer, expected, challenge] = frame;
    if (version !== PROTOCOL_VERSION) return this.refuse('version', `peer speaks protocol ${describePeerValue(version)}, this node ${PROTOCOL_VERSION}`);
    if (frame.length !== 5 || !isNodeName(peer) || !isChallenge(challenge)) return this.close('malformed handshake hello');
    this.peer = peer;
    if (expected !== this.settings.myName) return this.refuse('name', `peer ${peer} expected node ${describePeerValue(expected)}, but this is ${this.settings.myName}`);
    if (this.events.decideInbound(peer) === 'simultaneous') {
      return this.refuse('simultaneous', `${peer} and this node dialled each other at once; this node's connection is kept`);
    }
    this.writeNow(this.codec.encode([CHALLENGE, this.settings.myName, this.myChallenge, this.digest('accept', challenge, this.settings.myName)]));
    this.phase = 'answer';
  }

  private onChallenge(frame: unknown[]): void {
    const [, peer, challenge, digest] = frame;
    if (peer !== this.peer) return this.refuse('name', `connected to ${describePeerValue(peer)}, expected ${this.peer}`);
    if (frame.length !== 4 || !isChallenge(challenge) || typeof digest !== 'string') return this.close('malformed handshake challenge');
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
    if (this.phase !== 'up') return;
    const nowMs = performance.now();
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
    if (destroy) this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 1_000).unref();
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
