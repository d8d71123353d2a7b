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
import { pathToFileURL } from 'node:url';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { CHALLENGE, HELLO, PROTOCOL_VERSION, SIGNALS } from '../../../src/distribution/internal/codec.js';
import { HANDSHAKE_FRAME_BYTES_MAX } from '../../../src/distribution/limits.js';
import { Node, parseNodeName, silentLogger } from '../../../src/index.js';
import { caseArbitrary, DIALLED, FUZZER, mustClose, terminal, type Case, type Piece } from './cases.js';
import { closing, COOKIE, FakeAcceptor, FRAME_BYTES_MAX, frameOf, Intruder, open, referencesFrame } from './connections.js';

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
