// Structure-aware fuzzing of the distribution layer. The node under test runs in a
// child process (a crash there fails the run); the fuzzer speaks to it as an attacker
// on the loopback port would: frames of every kind, encoded by msgpackr with records
// on as the codec encodes them, with any value (fast-check's `anything`) or a plausible
// one in every field, plus raw bytes, truncated frames, oversized length headers and
// structured-clone references. Cases run before the handshake, after a hello, after
// authentication, and against the node's own dial (the fuzzer plays the acceptor).
// After the cases the child must be alive and serve an authenticated peer.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ANSWER, CHALLENGE, HEARTBEAT, HELLO, PROTOCOL_VERSION, READY, REFUSED, RESET, SIGNALS, TICK } from '../../../src/distribution/internal/codec.js';
import { FRAGMENT } from '../../../src/distribution/internal/fragments.js';
import { Connection } from '../../../src/distribution/internal/connection.js';
import { RefusalLog } from '../../../src/distribution/internal/refusal-log.js';
import { HANDSHAKE_FRAME_BYTES_MAX } from '../../../src/distribution/limits.js';
import { Node, parseNodeName, silentLogger } from '../../../src/index.js';
import { pathToFileURL } from 'node:url';

const COOKIE = 'fuzz-cookie';
/** Stands for the name of the node the target dialled in a case (known only when it runs). */
const DIALLED = '<dialled node>';
const FUZZER = 'fuzzer@127.0.0.1:1';
/** The target's frame limit after authentication (its default). */
const FRAME_BYTES_MAX = 64 * 2 ** 20;
/** Longer than any deadline of the node (the handshake's is 10 s). */
const CASE_MS_MAX = 30_000;

export interface FuzzOptions {
  readonly cases: number;
  readonly seed: number;
  /** Called every `progressEvery` cases. */
  readonly onProgress?: (done: number, stats: FuzzStats) => void;
  readonly progressEvery?: number;
}

export interface FuzzStats {
  cases: number;
  /** Connections the target closed (the input was refused). */
  closed: number;
  /** Authenticated cases whose input was handled, after which the connection still served a probe. */
  handled: number;
  /** Inputs msgpackr itself could not encode (dropped from the case). */
  unencodable: number;
}

type Where = 'pre' | 'after-hello' | 'post' | 'dial' | 'dial-ready';

type Piece =
  | { readonly t: 'frame'; readonly value: unknown[] }
  | { readonly t: 'bytes'; readonly bytes: Uint8Array }
  | { readonly t: 'truncated'; readonly value: unknown[]; readonly keepPercent: number }
  | { readonly t: 'oversize'; readonly extra: number }
  | { readonly t: 'references' };

interface Case {
  readonly where: Where;
  readonly pieces: readonly Piece[];
}

/** Runs `cases` cases against a fresh target; throws on the first failure with the seed and case. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzStats> {
  const target = await startTarget();
  const stats: FuzzStats = { cases: 0, closed: 0, handled: 0, unencodable: 0 };
  const fake = await FakeAcceptor.listen();
  const session = new Session(target, fake, stats);
  try {
    const result = await fc.check(
      fc.asyncProperty(caseArbitrary(target.name), async (c) => {
        await session.run(c);
        stats.cases++;
        if (options.onProgress !== undefined && stats.cases % (options.progressEvery ?? 1_000) === 0) options.onProgress(stats.cases, stats);
      }),
      { numRuns: options.cases, seed: options.seed, endOnFailure: true },
    );
    if (result.failed) {
      const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      throw new Error(`fuzz case failed (seed ${options.seed}, path ${result.counterexamplePath}): ${error}\ncase: ${fc.stringify(result.counterexample)}\n${target.stderrTail()}`);
    }
    await session.finalCheck();
    return stats;
  } finally {
    session.stop();
    fake.close();
    target.child.kill('SIGKILL');
  }
}

// ---- the target ----

interface Target {
  readonly child: ChildProcess;
  readonly name: string;
  readonly port: number;
  /** Why it died, or undefined while it lives. */
  death(): string | undefined;
  stderrTail(): string;
}

async function startTarget(): Promise<Target> {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = new URL('../fixtures/fuzz-target.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', loader, script, COOKIE], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let died: string | undefined;
  child.stderr!.on('data', (chunk: Buffer) => { if (process.env.FUZZ_LOG) process.stdout.write(chunk); stderr = (stderr + chunk.toString()).slice(-4_000); });
  child.once('exit', (code, signal) => (died = `target exited with code ${code} signal ${signal}`));
  const name = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
    child.once('exit', () => reject(new Error(`the fuzz target exited before listening:\n${stderr}`)));
  });
  return { child, name, port: parseNodeName(name)!.port, death: () => died, stderrTail: () => (stderr === '' ? '' : `target stderr:\n${stderr}`) };
}

// ---- cases ----

const anything = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withObjectString: true,
});

/** Any value, or one that passes the first checks so that the next ones are reached too. */
const field = (plausible: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 1, arbitrary: anything }, { weight: 5, arbitrary: plausible });
const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

function caseArbitrary(targetName: string): fc.Arbitrary<Case> {
  // Pids of actors that do not exist (ids from 1,000,000) or of a scheduler (id 0),
  // packed as the wire packs them, or spelled out: valid signals reach nothing real.
  const id = fc.oneof(fc.constant(0), fc.integer({ min: 1_000_000, max: 2 ** 40 }));
  const packedPid = fc.tuple(id, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 1 })).map(([i, s, end]) => (i * 256 + s) * 2 + end);
  const spelledPid = fc.tuple(fc.constantFrom(targetName, FUZZER, 'other@127.0.0.1:2'), fc.integer({ min: 0, max: 300 }), id);
  const pid = field(fc.oneof(packedPid, spelledPid));
  const ref = field(fc.string({ maxLength: 12 }));
  const name = field(fc.constantFrom('nobody', 'rafter_failure_detector'));
  const node = field(fc.constantFrom(targetName, FUZZER));
  const wireError = fc.record({ $error: fc.record({ name: field(fc.string()), message: field(fc.string()), code: field(fc.string()), props: field(fc.dictionary(fc.string(), anything)) }, { requiredKeys: [] }) });
  const reason = field(fc.oneof(fc.constantFrom('normal', 'noproc', 'shutdown'), wireError));
  const bool = field(fc.boolean());
  const fieldsByCode: fc.Arbitrary<unknown>[][] = [
    [pid, anything], // 0 msg
    [pid, pid, ref, anything], // 1 call
    [name, node, anything], // 2 named
    [pid, name, node, ref], // 3 monitorName
    [pid, pid], // 4 link
    [pid, pid], // 5 unlink
    [pid, pid, reason, bool], // 6 exit
    [pid, pid, ref], // 7 monitor
    [pid, pid, ref], // 8 demonitor
    [pid, ref, field(fc.oneof(packedPid, fc.record({ name: fc.string(), node: fc.constant(FUZZER) }))), reason], // 9 down
    [pid, ref, bool, anything, field(fc.constant(1))], // 10 reply
    [pid, ref, pid, anything, anything, anything], // 11 spawn
    [pid, ref, pid], // 12 info
    [pid, pid, ref, anything], // 13 call as a message
  ];
  const signal = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 13 }).chain((code) => withArity(code, fieldsByCode[code]!)) },
    { weight: 1, arbitrary: fc.tuple(anything, anything, anything).map((f) => [...f]) },
    { weight: 1, arbitrary: anything },
  );
  // A fragment carries raw bytes or a whole signals frame body (one fragment that is both first and last).
  const plainPackr = new Packr({ useRecords: false, moreTypes: true });
  const packedOrEmpty = (value: unknown): Uint8Array => {
    try {
      return plainPackr.pack(value);
    } catch {
      return new Uint8Array(0);
    }
  };
  const fragmentBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), withArity(SIGNALS, [field(fc.array(signal, { maxLength: 3 }))]).map(packedOrEmpty));
  const fieldsByKind = new Map<number, fc.Arbitrary<unknown>[]>([
    [HELLO, [field(fc.constant(PROTOCOL_VERSION)), field(fc.constant(FUZZER)), field(fc.constant(targetName)), field(hex(16))]],
    [CHALLENGE, [field(fc.constantFrom(DIALLED, targetName)), field(hex(16)), field(hex(32))]],
    [ANSWER, [field(hex(32))]],
    [READY, []],
    [REFUSED, [field(fc.constantFrom('cookie', 'name', 'version', 'simultaneous', 'toString', '__proto__'))]],
    [SIGNALS, [field(fc.array(signal, { maxLength: 3 }))]],
    [TICK, []],
    [HEARTBEAT, [field(fc.constant(0))]],
    [RESET, []],
    [FRAGMENT, [field(fc.integer({ min: 0, max: 5 })), field(fc.integer({ min: 0, max: 3 })), field(fragmentBytes)]],
  ]);
  const frame: fc.Arbitrary<unknown[]> = fc.oneof(
    { weight: 12, arbitrary: withArity(SIGNALS, fieldsByKind.get(SIGNALS)!) },
    { weight: 6, arbitrary: fc.constantFrom(...fieldsByKind.keys()).chain((kind) => withArity(kind, fieldsByKind.get(kind)!)) },
    { weight: 1, arbitrary: fc.tuple(field(fc.integer({ min: 0, max: 255 })), anything).map((f) => [...f]) },
  );
  const piece: fc.Arbitrary<Piece> = fc.oneof(
    { weight: 12, arbitrary: frame.map((value) => ({ t: 'frame' as const, value })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ t: 'bytes' as const, bytes })) },
    { weight: 1, arbitrary: fc.tuple(frame, fc.integer({ min: 0, max: 99 })).map(([value, keepPercent]) => ({ t: 'truncated' as const, value, keepPercent })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 31 }).map((extra) => ({ t: 'oversize' as const, extra })) },
    { weight: 1, arbitrary: fc.constant({ t: 'references' as const }) },
  );
  return fc.record({
    where: fc.constantFrom<Where>(...((process.env.FUZZ_WHERE?.split(',') as Where[] | undefined) ?? ['pre', 'after-hello', 'post', 'post', 'post', 'dial', 'dial-ready'])),
    pieces: fc.array(piece, { minLength: 1, maxLength: 3 }),
  });
}

/** The expected fields; now and then one too few or one too many. */
function withArity(head: number, fields: fc.Arbitrary<unknown>[]): fc.Arbitrary<unknown[]> {
  const delta = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.constant(1) });
  return fc.tuple(fc.tuple(...fields), delta, anything).map(([values, delta, extra]) => {
    const out: unknown[] = [head, ...values];
    if (delta < 0 && values.length > 0) out.pop();
    if (delta > 0) out.push(extra);
    return out;
  });
}

// ---- running a case ----

/** What the target did with the bytes: closed the connection, or (after auth) answered the probe. */
type Outcome = 'closed' | 'handled';

class Session {
  private intruder: Intruder | undefined;
  private probes = 0;
  private dials = 0;
  /** How far the running case got, for the report of one that hangs. */
  private step = '';

  constructor(
    private readonly target: Target,
    private readonly fake: FakeAcceptor,
    private readonly stats: FuzzStats,
  ) {}

  async run(c: Case): Promise<void> {
    // A case that never ends means the node neither handled nor refused the input (or the
    // harness lost track): report it instead of hanging.
    let watchdog: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => {
        this.target.child.kill('SIGUSR2'); // the target dumps its connections to stderr
        setTimeout(() => reject(new Error(`the case did not finish within ${CASE_MS_MAX} ms (last step: ${this.step})`)), 500);
      }, CASE_MS_MAX);
    });
    const outcome = await Promise.race([this.outcome(c), hung]).finally(() => clearTimeout(watchdog));
    const death = this.target.death();
    if (death !== undefined) throw new Error(death);
    this.stats[outcome]++;
    // Bytes that no frame may hold must close the connection, whatever came before.
    const last = terminal(c.pieces);
    if (mustClose(c.pieces) && outcome !== 'closed') throw new Error(`the target accepted a ${last!.t} piece`);
  }

  private async outcome(c: Case): Promise<Outcome> {
    switch (c.where) {
      case 'pre':
        return this.raw(c.pieces, false);
      case 'after-hello':
        return this.raw(c.pieces, true);
      case 'post':
        return this.authenticated(c.pieces);
      case 'dial':
      case 'dial-ready':
        return this.dialled(c.pieces, c.where === 'dial-ready');
    }
  }

  /** A fresh connection to the target that has not proved the cookie. */
  private async raw(pieces: readonly Piece[], helloFirst: boolean): Promise<Outcome> {
    const socket = await open(this.target.port);
    const closed = closing(socket);
    const packr = new Packr({ sequential: true, moreTypes: true });
    if (helloFirst) socket.write(frameOf(packr, [HELLO, PROTOCOL_VERSION, FUZZER, this.target.name, randomBytes(16).toString('hex')]));
    this.write(socket, packr, pieces, HANDSHAKE_FRAME_BYTES_MAX);
    // Unless the target closed at once (as it must for the last kind of piece), end our side.
    if (!mustClose(pieces)) socket.end();
    await closed;
    return 'closed';
  }

  /** Over an authenticated connection: the input, then a probe the target must answer unless it closed. */
  private async authenticated(pieces: readonly Piece[]): Promise<Outcome> {
    const intruder = await this.liveIntruder();
    const closed = intruder.closed.then((): Outcome => 'closed');
    this.write(intruder.socket, intruder.packr, pieces, FRAME_BYTES_MAX);
    // Raw or cut bytes may leave the target waiting for the rest of a frame: end our side.
    if (!mustClose(pieces) && (terminal(pieces)?.t === 'truncated' || pieces.some((p) => p.t === 'bytes'))) intruder.socket.end();
    const ref = `probe-${++this.probes}`;
    const answered = intruder.probe(ref).then((): Outcome => 'handled');
    const outcome = await Promise.race([answered, closed]);
    if (outcome === 'closed') this.intruder = undefined;
    return outcome;
  }

  /**
   * The target dials the fuzzer's acceptor, which answers with the input (after a valid
   * challenge, for `ready`). Each case dials a node name of its own, so that a redial
   * the target makes later for an earlier case (after a refusal as simultaneous) is
   * told apart and dropped.
   */
  private async dialled(pieces: readonly Piece[], ready: boolean): Promise<Outcome> {
    const name = this.fake.nameFor(++this.dials);
    const dial = this.fake.next(name);
    // An info request for an actor that does not exist is answered to `replyTo`: on the
    // fuzzer's acceptor node. A probe behind it shows the target read it (frames are
    // handled in order); if the connection closed first, the request is sent again.
    for (let attempt = 1; ; attempt++) {
      this.step = `sending the dial request for ${name} (attempt ${attempt})`;
      const intruder = await this.liveIntruder();
      intruder.send([SIGNALS, [[12, (1_000_000 * 256) * 2 + 1, 'dial', [name, 0, 1]]]]);
      const read = await Promise.race([intruder.probe(`dial-${this.dials}-${attempt}`).then(() => true), intruder.closed.then(() => false)]);
      if (read) break;
    }
    this.step = `waiting for the dial to ${name}, which the target read`;
    const { socket, hello } = await dial;
    this.step = 'dialled';
    const closed = closing(socket);
    const packr = new Packr({ sequential: true, moreTypes: true });
    if (ready) {
      const challenge = typeof hello[4] === 'string' ? hello[4] : '';
      const digest = createHmac('sha256', COOKIE).update(`accept:${challenge}:${name}`).digest('hex');
      socket.write(frameOf(packr, [CHALLENGE, name, randomBytes(16).toString('hex'), digest]));
    }
    const named = pieces.map((p) => (p.t === 'frame' && p.value[1] === DIALLED ? { ...p, value: [p.value[0], name, ...p.value.slice(2)] } : p));
    this.write(socket, packr, named, HANDSHAKE_FRAME_BYTES_MAX);
    if (!mustClose(pieces)) socket.end();
    this.step = `waiting for the dialled connection to close (destroyed: ${socket.destroyed})`;
    await closed;
    return 'closed';
  }

  /** The authenticated connection, opened again if the node closed it since the last case. */
  private async liveIntruder(): Promise<Intruder> {
    if (this.intruder?.conn.isUp !== true) this.intruder = await Intruder.connect(this.target);
    return this.intruder;
  }

  private write(socket: Socket, packr: Packr, pieces: readonly Piece[], limit: number): void {
    for (const p of pieces) {
      switch (p.t) {
        case 'frame': {
          const bytes = this.encode(packr, p.value);
          if (bytes !== undefined) socket.write(bytes);
          break;
        }
        case 'bytes':
          socket.write(p.bytes);
          break;
        case 'truncated': {
          const bytes = this.encode(packr, p.value);
          if (bytes !== undefined) socket.write(bytes.subarray(0, Math.floor((bytes.length * p.keepPercent) / 100)));
          return;
        }
        case 'oversize': {
          const head = Buffer.alloc(4);
          head.writeUInt32BE(Math.min(limit + p.extra, 2 ** 32 - 1));
          socket.write(head);
          return;
        }
        case 'references':
          socket.write(referencesFrame());
          return;
      }
    }
  }

  private encode(packr: Packr, value: unknown[]): Buffer | undefined {
    try {
      return frameOf(packr, value);
    } catch {
      this.stats.unencodable++;
      return undefined;
    }
  }

  /** The target is alive and a node with the cookie can call it. */
  async finalCheck(): Promise<void> {
    const death = this.target.death();
    if (death !== undefined) throw new Error(death);
    const checker = await Node.start({ name: 'checker', port: 0, cookie: COOKIE, logger: silentLogger, failureDetector: false });
    try {
      const reply = await checker.call({ name: 'echo', node: this.target.name }, 'still serving', { timeoutMs: 10_000 });
      if ((reply as { echoed?: unknown }).echoed !== 'still serving') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
    } finally {
      await checker.stop({ timeoutMs: 1_000 });
    }
  }

  stop(): void {
    this.intruder?.conn.close('fuzzing over', 'debug');
  }
}

/** The piece after which nothing more is written: a cut frame, a length header alone, or references. */
function terminal(pieces: readonly Piece[]): Piece | undefined {
  return pieces.find((p) => p.t === 'truncated' || p.t === 'oversize' || p.t === 'references');
}

/** Ends with a piece the target must refuse at once, whatever came before (no need to end our side). */
function mustClose(pieces: readonly Piece[]): boolean {
  const last = terminal(pieces);
  return last !== undefined && last.t !== 'truncated';
}

function frameOf(packr: Packr, value: unknown[]): Buffer {
  const body = packr.pack(value);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length);
  out.set(body, 4);
  return out;
}

/** A small frame whose body names one object many times (structured-clone references) and holds a cycle. */
function referencesFrame(): Buffer {
  const shared: Record<string, unknown> = { x: 'y' };
  shared.self = shared;
  const packr = new Packr({ structuredClone: true, moreTypes: true });
  return frameOf(packr, [SIGNALS, [[0, (1_000_000 * 256) * 2 + 1, [shared, shared, shared]]]]);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves once the socket is closed (reading whatever the target sends meanwhile). */
function closing(socket: Socket): Promise<void> {
  socket.resume();
  socket.on('error', () => undefined);
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The first frame a socket receives, decoded as plain msgpack (undefined if it closes first). */
function firstFrame(socket: Socket): Promise<unknown> {
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
class Intruder {
  readonly packr = new Packr({ sequential: true, moreTypes: true });
  private readonly waiting = new Map<string, () => void>();

  private constructor(
    readonly conn: Connection,
    readonly socket: Socket,
    readonly closed: Promise<string>,
  ) {}

  static connect(target: Target): Promise<Intruder> {
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
class FakeAcceptor {
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
