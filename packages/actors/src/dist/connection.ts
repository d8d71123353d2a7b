// One TCP (or TLS) connection to another node: the cookie handshake, then batched
// signal frames, a liveness tick, and a bound on what may wait in the socket buffer.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import type { Signal } from '../internal/signals.js';
import { ANSWER, CHALLENGE, FrameCodec, FrameReader, HEARTBEAT, HELLO, PROTOCOL_VERSION, READY, SIGNALS, TICK, wireSignal } from './codec.js';

export interface ConnectionSettings {
  readonly myName: string;
  readonly cookie: string;
  readonly maxFrameBytes: number;
  readonly maxQueuedBytes: number;
  readonly netTickMs: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
}

export interface ConnectionEvents {
  /** An inbound handshake names its node: may it replace or join the existing connection? */
  acceptInbound(conn: Connection, peer: string): boolean;
  up(conn: Connection): void;
  signals(conn: Connection, signals: unknown[]): void;
  heartbeat(conn: Connection, payload: unknown): void;
  closed(conn: Connection, reason: string): void;
}

type Phase = 'hello' | 'challenge' | 'answer' | 'ready' | 'up' | 'closed';

export class Connection {
  peer: string | undefined;
  private phase: Phase;
  private readonly reader: FrameReader;
  private readonly codec = new FrameCodec();
  private readonly myChallenge = randomBytes(16).toString('hex');
  private peerChallenge = '';
  private outbox: Signal[] = [];
  private flushScheduled = false;
  private lastReceivedMs = Date.now();
  private lastSentMs = Date.now();
  private readonly timer: NodeJS.Timeout;
  /** Frames and signals, for observability. */
  signalsSent = 0;
  signalsReceived = 0;

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
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('connection closed by peer'));
    const handshakeDeadline = Date.now() + settings.handshakeTimeoutMs;
    this.timer = setInterval(() => this.tick(handshakeDeadline), Math.max(10, Math.floor(settings.netTickMs / 4)));
    this.timer.unref();
  }

  get isUp(): boolean {
    return this.phase === 'up';
  }

  /** Starts the handshake of an outbound connection once the socket is connected. */
  hello(): void {
    this.write([HELLO, PROTOCOL_VERSION, this.settings.myName, this.peer, this.myChallenge]);
  }

  send(signal: Signal): void {
    if (this.phase !== 'up') return;
    this.outbox.push(wireSignal(signal));
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

  private lazyFlushScheduled = false;

  private readonly lazyFlush = (): void => {
    this.lazyFlushScheduled = false;
    if (!this.flushScheduled) this.flush();
  };

  /** Sends ahead of queued signals (heartbeats must not wait behind bulk traffic). */
  sendPriority(payload: unknown): void {
    if (this.phase === 'up') this.write([HEARTBEAT, payload]);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.phase !== 'up') return;
    const batch = this.outbox;
    this.outbox = [];
    this.signalsSent += batch.length;
    this.write([SIGNALS, batch]);
    if (this.socket.writableLength > this.settings.maxQueuedBytes) {
      this.close(`peer is not reading: ${this.socket.writableLength} bytes queued for it (limit ${this.settings.maxQueuedBytes})`);
    }
  };

  private write(frame: unknown[]): void {
    // The encoder and the peer's decoder share record shapes frame by frame, so a frame
    // that is encoded but not sent would desynchronise them: close instead.
    let bytes: Buffer;
    try {
      bytes = this.codec.encode(frame);
    } catch (err) {
      return this.close(`a signal could not be encoded for the wire: ${(err as Error).message}`);
    }
    if (bytes.length - 4 > this.settings.maxFrameBytes) {
      return this.close(`a frame of ${bytes.length - 4} bytes exceeds maxFrameBytes (${this.settings.maxFrameBytes}): a message is too large to send`);
    }
    this.lastSentMs = Date.now();
    this.socket.write(bytes);
  }

  private receive(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.lastReceivedMs = Date.now();
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
        if (kind === SIGNALS && Array.isArray(frame[1])) {
          this.signalsReceived += frame[1].length;
          return this.events.signals(this, frame[1]);
        }
        if (kind === TICK) return;
        if (kind === HEARTBEAT) return this.events.heartbeat(this, frame[1]);
        return this.close(`unknown frame kind ${String(kind)}`);
      case 'closed':
        return;
    }
  }

  private onHello(frame: unknown[]): void {
    const [, version, peer, expected, challenge] = frame as [number, unknown, unknown, unknown, unknown];
    if (version !== PROTOCOL_VERSION) return this.close(`peer speaks protocol ${String(version)}, this node ${PROTOCOL_VERSION}`);
    if (typeof peer !== 'string' || typeof challenge !== 'string' || challenge.length !== 32) return this.close('malformed handshake hello');
    if (expected !== this.settings.myName) return this.close(`peer ${peer} expected node ${String(expected)}, but this is ${this.settings.myName}`);
    this.peer = peer;
    if (!this.events.acceptInbound(this, peer)) return this.close(`a connection with ${peer} already exists`);
    this.peerChallenge = challenge;
    this.write([CHALLENGE, this.settings.myName, this.myChallenge, this.digest('accept', challenge as string, this.settings.myName)]);
    this.phase = 'answer';
  }

  private onChallenge(frame: unknown[]): void {
    const [, peer, challenge, digest] = frame;
    if (peer !== this.peer) return this.close(`connected to ${String(peer)}, expected ${this.peer}`);
    if (typeof challenge !== 'string' || challenge.length !== 32 || typeof digest !== 'string') return this.close('malformed handshake challenge');
    if (!this.matches(digest, this.digest('accept', this.myChallenge, this.peer!))) {
      return this.close(`cookie mismatch: node ${peer} does not hold this node's cookie`);
    }
    this.write([ANSWER, this.digest('connect', challenge, this.settings.myName)]);
    this.phase = 'ready';
  }

  private onAnswer(frame: unknown[]): void {
    const digest = frame[1];
    if (typeof digest !== 'string' || !this.matches(digest, this.digest('connect', this.myChallenge, this.peer!))) {
      return this.close(`cookie mismatch: node ${this.peer} does not hold this node's cookie`);
    }
    this.write([READY]);
    this.becomeUp();
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

  private tick(handshakeDeadline: number): void {
    const now = Date.now();
    if (this.phase !== 'up') {
      if (now > handshakeDeadline) this.close('handshake did not complete in time');
      return;
    }
    if (now - this.lastReceivedMs > this.settings.netTickMs) {
      return this.close(`peer stopped answering: nothing received for ${now - this.lastReceivedMs} ms (net tick ${this.settings.netTickMs} ms)`);
    }
    if (now - this.lastSentMs >= this.settings.netTickMs / 4) this.write([TICK]);
  }

  close(reason: string): void {
    if (this.phase === 'closed') return;
    const wasUp = this.phase === 'up';
    this.phase = 'closed';
    clearInterval(this.timer);
    this.outbox = [];
    this.socket.destroy();
    if (!wasUp || !reason.startsWith('connection closed')) {
      this.settings.logger.warn({ peer: this.peer ?? this.socket.remoteAddress, reason }, 'distribution connection closed');
    }
    this.events.closed(this, reason);
  }
}
