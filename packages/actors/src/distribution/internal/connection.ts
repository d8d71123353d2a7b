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
import { SOCKET_BUFFER_BYTES_MAX } from '../limits.js';
import { isCreation, signalToWire } from './wire-signals.js';

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
}

/** What the node does with an inbound handshake that names `peer`. */
export type InboundDecision = 'accept' | 'simultaneous';

export interface ConnectionEvents {
  /** An inbound handshake names its node: go on, or refuse because our own dial wins? */
  acceptInbound(conn: Connection, peer: string): InboundDecision;
  up(conn: Connection): void;
  signals(conn: Connection, signals: unknown[]): void;
  heartbeat(conn: Connection): void;
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
  private queued: Buffer[] = [];
  private queuedHead = 0;
  private queuedBytes = 0;
  private lastReceivedMs = performance.now();
  private lastSentMs = performance.now();
  private readonly timer: NodeJS.Timeout;
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
    this.reader = new FrameReader(settings.maxFrameBytes);
    this.phase = outbound ? 'challenge' : 'hello';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.writeQueued());
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('connection closed by peer'));
    const handshakeDeadlineMs = performance.now() + settings.handshakeTimeoutMs;
    this.timer = setInterval(() => this.tick(handshakeDeadlineMs), Math.max(10, Math.floor(settings.netTickMs / 4)));
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
    this.outbox.push(signalToWire(signal, this.settings.myName, this.peer!, this.settings.myCreation, this.peerCreation));
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

  private receive(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.lastReceivedMs = performance.now();
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      return this.close(`bad frame: ${(err as Error).message}`);
    }
    for (const body of bodies) {
      if ((this.phase as Phase) === 'closed') return;
      let frame: unknown;
      try {
        frame = this.codec.decode(body);
      } catch (err) {
        return this.close(`undecodable frame: ${(err as Error).message}`);
      }
      if (!Array.isArray(frame) || typeof frame[0] !== 'number') return this.close('malformed frame: not a [kind, ...] array');
      this.handle(frame);
    }
  }

  private handle(frame: unknown[]): void {
    const kind = frame[0];
    if (kind === REFUSED && this.phase !== 'up' && this.phase !== 'closed') return this.onRefused(frame[1]);
    switch (this.phase) {
      case 'hello':
        if (kind !== HELLO) return this.close(`frame of kind ${String(kind)} before the handshake`);
        return this.onHello(frame);
      case 'challenge':
        if (kind !== CHALLENGE) return this.close(`expected the handshake challenge, got kind ${String(kind)}`);
        return this.onChallenge(frame);
      case 'answer':
        if (kind !== ANSWER) return this.close(`expected the handshake answer, got kind ${String(kind)}`);
        return this.onAnswer(frame);
      case 'ready':
        if (kind !== READY) return this.close(`expected handshake completion, got kind ${String(kind)}`);
        return this.becomeUp();
      case 'up':
        return this.handleUp(kind, frame);
      case 'closed':
        return;
    }
  }

  private handleUp(kind: unknown, frame: unknown[]): void {
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
        return this.close(`unknown frame kind ${String(kind)}`);
    }
  }

  private onHello(frame: unknown[]): void {
    const [, version, peer, expected, challenge, creation] = frame;
    if (version !== PROTOCOL_VERSION) return this.refuse('version', `peer speaks protocol ${String(version)}, this node ${PROTOCOL_VERSION}`);
    if (typeof peer !== 'string' || typeof challenge !== 'string' || challenge.length !== 32 || !isCreation(creation)) return this.close('malformed handshake hello');
    this.peer = peer;
    this.peerCreation = creation;
    if (expected !== this.settings.myName) return this.refuse('name', `peer ${peer} expected node ${String(expected)}, but this is ${this.settings.myName}`);
    if (this.events.acceptInbound(this, peer) === 'simultaneous') {
      return this.refuse('simultaneous', `${peer} and this node dialled each other at once; this node's connection is kept`);
    }
    this.writeNow(this.codec.encode([CHALLENGE, this.settings.myName, this.myChallenge, this.digest('accept', challenge, this.settings.myName), this.settings.myCreation]));
    this.phase = 'answer';
  }

  private onChallenge(frame: unknown[]): void {
    const [, peer, challenge, digest, creation] = frame;
    if (peer !== this.peer) return this.refuse('name', `connected to ${String(peer)}, expected ${this.peer}`);
    if (typeof challenge !== 'string' || challenge.length !== 32 || typeof digest !== 'string' || !isCreation(creation)) return this.close('malformed handshake challenge');
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
    const text = typeof code === 'string' && code in why ? why[code as Refusal] : `unknown reason ${String(code)}`;
    this.close(`peer refused the handshake: ${text}`);
  }

  private becomeUp(): void {
    this.phase = 'up';
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

  private tick(handshakeDeadlineMs: number): void {
    const nowMs = performance.now();
    if (this.phase !== 'up') {
      if (nowMs > handshakeDeadlineMs) this.close('handshake did not complete in time');
      return;
    }
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
    this.outbox = [];
    this.queued = [];
    this.queuedBytes = 0;
    if (destroy) this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 1_000).unref();
    const quiet = wasUp && reason.startsWith('connection closed');
    this.settings.logger[quiet ? 'info' : level]({ peer: this.peer ?? this.socket.remoteAddress, reason }, 'distribution connection closed');
    this.events.closed(this, reason);
  }
}
