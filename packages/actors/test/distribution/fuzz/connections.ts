// The fuzzer's ends of its connections: an authenticated one it drives by hand, and a
// listener that plays the nodes the target dials. Plus raw socket and frame helpers.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { SIGNALS } from '../../../src/distribution/internal/codec.js';
import { Connection } from '../../../src/distribution/internal/connection.js';
import { RefusalLog } from '../../../src/distribution/internal/refusal-log.js';
import { silentLogger } from '../../../src/index.js';
import { FUZZER } from './cases.js';

export const COOKIE = 'fuzz-cookie';
/** The target's frame limit after authentication (its default). */
export const FRAME_BYTES_MAX = 64 * 2 ** 20;

export interface TargetAddress {
  readonly name: string;
  readonly port: number;
}

export function frameOf(packr: Packr, value: unknown[]): Buffer {
  const body = packr.pack(value);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length);
  out.set(body, 4);
  return out;
}

/** A small frame whose body names one object many times (structured-clone references) and holds a cycle. */
export function referencesFrame(): Buffer {
  const shared: Record<string, unknown> = { x: 'y' };
  shared.self = shared;
  const packr = new Packr({ structuredClone: true, moreTypes: true });
  return frameOf(packr, [SIGNALS, [[0, (1_000_000 * 256) * 2 + 1, [shared, shared, shared]]]]);
}

export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves once the socket is closed (reading whatever the target sends meanwhile). */
export function closing(socket: Socket): Promise<void> {
  socket.resume();
  socket.on('error', () => undefined);
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The first frame a socket receives, decoded as plain msgpack (undefined if it closes first). */
export function firstFrame(socket: Socket): Promise<unknown> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4 || buffered.length < 4 + buffered.readUInt32BE(0)) return;
      socket.off('data', onData);
      try {
        resolve(new Packr({ sequential: true, moreTypes: true }).unpack(buffered.subarray(4, 4 + buffered.readUInt32BE(0))));
      } catch {
        resolve(undefined);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(undefined));
  });
}

/** An authenticated connection to the target, driven by hand. */
export class Intruder {
  readonly packr = new Packr({ sequential: true, moreTypes: true });
  private readonly waiting = new Map<string, () => void>();

  private constructor(
    readonly conn: Connection,
    readonly socket: Socket,
    readonly closed: Promise<string>,
  ) {}

  static connect(target: TargetAddress): Promise<Intruder> {
    return new Promise((resolve, reject) => {
      let closedResolve: (reason: string) => void = () => undefined;
      const closed = new Promise<string>((r) => (closedResolve = r));
      const socket = connect({ host: '127.0.0.1', port: target.port });
      let intruder: Intruder | undefined;
      const settings = {
        myName: FUZZER,
        cookie: COOKIE,
        maxFrameBytes: FRAME_BYTES_MAX,
        maxQueuedBytes: FRAME_BYTES_MAX,
        netTickMs: 600_000,
        handshakeTimeoutMs: 10_000,
        logger: silentLogger,
        refusals: new RefusalLog(silentLogger),
      };
      const conn = new Connection(socket, true, target.name, settings, {
        decideInbound: () => 'accept',
        up: () => resolve((intruder = new Intruder(conn, socket, closed))),
        signals: (_conn, signals) => {
          for (const s of signals) if (Array.isArray(s) && s[0] === 9 && typeof s[2] === 'string') intruder?.waiting.get(s[2])?.();
        },
        heartbeat: () => undefined,
        closed: (_conn, reason) => {
          closedResolve(reason);
          reject(new Error(`the fuzzer's handshake failed: ${reason}`));
        },
      });
      socket.once('connect', () => conn.hello());
    });
  }

  send(frame: unknown[]): void {
    this.socket.write(frameOf(this.packr, frame));
  }

  /** Monitors an actor that does not exist: the target answers DOWN with `ref` while the connection serves. */
  probe(ref: string): Promise<void> {
    const answered = new Promise<void>((resolve) => this.waiting.set(ref, resolve));
    this.send([SIGNALS, [[7, 2 * 256 * 2, (1_000_001 * 256) * 2 + 1, ref]]]);
    return answered.finally(() => this.waiting.delete(ref));
  }
}

/** A listener that plays the nodes the target dials: hands each dial to the case that expects its name. */
export class FakeAcceptor {
  private readonly waiting = new Map<string, (dial: { socket: Socket; hello: unknown[] }) => void>();

  private constructor(
    private readonly server: Server,
    private readonly port: number,
  ) {
    server.on('connection', (socket: Socket) => {
      socket.on('error', () => undefined);
      void firstFrame(socket).then((hello) => {
        const expected = Array.isArray(hello) && typeof hello[3] === 'string' ? hello[3] : '';
        const waiter = this.waiting.get(expected);
        if (waiter === undefined) return void socket.destroy(); // a redial for an earlier case
        this.waiting.delete(expected);
        waiter({ socket, hello: hello as unknown[] });
      });
    });
  }

  static async listen(): Promise<FakeAcceptor> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return new FakeAcceptor(server, address.port);
  }

  nameFor(n: number): string {
    return `fake${n}@127.0.0.1:${this.port}`;
  }

  next(name: string): Promise<{ socket: Socket; hello: unknown[] }> {
    return new Promise((resolve) => this.waiting.set(name, resolve));
  }

  close(): void {
    this.server.close();
  }
}
