// Goal: whatever bytes arrive, before or after a handshake, a node closes only the
// offending connection (or handles the frame) and goes on serving everyone else.

import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, HELLO, PROTOCOL_VERSION, SIGNALS } from '../../src/distribution/internal/codec.js';
import { Connection } from '../../src/distribution/internal/connection.js';
import { signalToWire } from '../../src/distribution/internal/wire-signals.js';
import { parseNodeName, silentLogger, type Node, type Pid } from '../../src/index.js';
import type { Signal } from '../../src/internal/signals.js';
import { inbox, type Inbox } from '../helpers.js';
import { peers } from './peers.js';

const cluster = peers();
let a: Node;
let b: Node;
let port: number;
let probe: Inbox;
beforeAll(async () => {
  a = await cluster.node('a', { failureDetector: false });
  b = await cluster.node('b', { failureDetector: false });
  port = parseNodeName(a.name)!.port;
  probe = inbox(a);
});
afterAll(() => cluster.cleanup());

const echo = {
  init: () => null,
  handleCall: (req: unknown, _from: unknown, s: null) => ({ reply: req, state: s }),
};

async function stillServes(): Promise<void> {
  const server = a.spawn(echo, undefined);
  expect(await b.call(server, 'still serving')).toBe('still serving');
}

/** Writes raw bytes on a fresh socket; resolves once the node has closed it (or it ended). */
function rawSend(bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(bytes);
      socket.end();
    });
    // A refusal frame may come back: read it, or the socket never reaches 'close'.
    socket.resume();
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

function framed(body: Uint8Array, declared = body.length): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(declared >>> 0);
  return Buffer.concat([head, body]);
}

const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });

const preHandshake = fc.oneof(
  bytes(200).map((b) => Buffer.from(b)), // random bytes
  bytes(200).map((b) => framed(b)), // a frame of random bytes
  fc.tuple(bytes(64), fc.integer({ min: 65, max: 2 ** 32 - 1 })).map(([b, n]) => framed(b, n)), // truncated or oversized
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.anything()).map(([kind, x]) => encodeFrame([kind, x])), // any kind first
  fc.tuple(fc.anything(), fc.anything(), fc.anything(), fc.anything()).map((f) => encodeFrame([HELLO, ...f])), // a bad hello
  fc.string({ maxLength: 40 }).map((s) => encodeFrame([HELLO, PROTOCOL_VERSION, 'x@127.0.0.1:1', s, 'c'.repeat(32)])),
);

describe('fuzz', () => {
  it('survives thousands of bad inputs before the handshake', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(preHandshake, { minLength: 1, maxLength: 8 }), async (inputs) => {
        await Promise.all(inputs.map(rawSend));
      }),
      { numRuns: 500, seed: 4242 },
    );
    await stillServes();
  });

  let intruders = 0;
  /** An authenticated connection to `a` that the test drives by hand. */
  function intruder(): Promise<{ conn: Connection; socket: Socket; closed: Promise<string>; name: string }> {
    return new Promise((resolve, reject) => {
      let closedResolve: (reason: string) => void = () => undefined;
      const closed = new Promise<string>((r) => (closedResolve = r));
      const socket = connect({ host: '127.0.0.1', port });
      const name = `intruder${++intruders}@127.0.0.1:1`;
      const conn = new Connection(
        socket,
        true,
        a.name,
        { myName: name, myCreation: 1, cookie: 'secret', maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, netTickMs: 10_000, handshakeTimeoutMs: 5_000, logger: silentLogger },
        {
          acceptInbound: () => 'accept',
          up: () => resolve({ conn, socket, closed, name }),
          signals: () => undefined,
          heartbeat: () => undefined,
          closed: (_conn, reason) => {
            closedResolve(reason);
            reject(new Error(`intruder handshake failed: ${reason}`));
          },
        },
      );
      socket.once('connect', () => conn.hello());
    });
  }

  const pidOn = (node: fc.Arbitrary<string>) =>
    fc.record({ node, scheduler: fc.oneof(fc.constant(0), fc.integer({ min: -2, max: 300 }), fc.double()), id: fc.oneof(fc.integer({ min: 1_000_000, max: 2 ** 31 }), fc.double(), fc.constant(0)) });

  // Signal-shaped values that reach only actors that do not exist (ids from 1,000,000) or
  // the scheduler itself (id 0), so the node stays whole for the final check.
  const signalLike = fc.record(
    {
      k: fc.constantFrom('msg', 'named', 'monitorName', 'link', 'unlink', 'exit', 'monitor', 'demonitor', 'down', 'reply', 'info', 'spawn', 'nonsense'),
      to: fc.oneof(pidOn(fc.constant('')), fc.anything()),
      from: fc.oneof(pidOn(fc.constantFrom('intruder@127.0.0.1:1', 'other@127.0.0.1:2')), fc.anything()),
      ref: fc.oneof(fc.string(), fc.anything()),
      name: fc.oneof(fc.constantFrom('nobody', 'rafter_failure_detector'), fc.anything()),
      node: fc.anything(),
      reason: fc.anything(),
      link: fc.boolean(),
      ok: fc.boolean(),
      value: fc.anything(),
      msg: fc.anything(),
      replyTo: fc.anything(),
    },
    { requiredKeys: ['k'] },
  );

  // Pids as the wire packs them ((id * 256 + scheduler) * 2 + end), again only of
  // actors that do not exist, or malformed.
  const wirePid = fc.oneof(
    fc
      .tuple(fc.oneof(fc.constant(0), fc.integer({ min: 1_000_000, max: 2 ** 40 })), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 1 }))
      .map(([id, scheduler, end]) => (id * 256 + scheduler) * 2 + end),
    fc.integer({ min: 2 ** 50, max: Number.MAX_SAFE_INTEGER }),
    fc.double().filter((x) => !Number.isInteger(x) || x < 0),
    fc.tuple(fc.constantFrom('other@127.0.0.1:2', ''), fc.anything(), fc.anything()),
  );
  const wireSignalLike = fc
    .tuple(fc.integer({ min: -1, max: 14 }), wirePid, fc.oneof(wirePid, fc.anything()), fc.oneof(fc.string(), wirePid, fc.anything()), fc.anything(), fc.anything(), fc.anything())
    .chain((fields) => fc.integer({ min: 1, max: fields.length }).map((n) => fields.slice(0, n)));

  // Well-formed signals to actors that do not exist: the node must bounce or drop them.
  const validSignal = fc.record({
    k: fc.constantFrom('msg', 'call', 'link', 'unlink', 'exit', 'monitor', 'demonitor', 'down', 'reply', 'info'),
    id: fc.integer({ min: 1_000_000, max: 2 ** 40 }),
    ref: fc.string(),
    value: fc.anything(),
  });

  const postHandshake = fc.oneof(
    fc.array(validSignal, { minLength: 1, maxLength: 5 }).map((valid) => ({ valid })),
    fc.array(wireSignalLike, { maxLength: 5 }).map((signals) => ({ signals })),
    fc.array(signalLike, { maxLength: 5 }).map((signals) => ({ signals })),
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.anything()).map(([kind, x]) => ({ frame: [kind, x] })),
    fc.anything().map((x) => ({ frame: [SIGNALS, x] })),
    bytes(100).map((b) => ({ raw: framed(b) })),
  );

  it('survives bad frames and bad signals from an authenticated peer', async () => {
    let probes = 0;
    const outcomes = { handled: 0, closed: 0 };
    await fc.assert(
      fc.asyncProperty(postHandshake, async (input) => {
        const { conn, socket, closed, name } = await intruder();
        const fillNode = (s: unknown) => {
          if (Array.isArray(s) || typeof s !== 'object' || s === null) return s;
          const to = (s as { to?: Partial<Pid> }).to;
          if (typeof to === 'object' && to !== null && 'node' in to && to.node === '') return { ...s, to: { ...to, node: a.name } };
          return s;
        };
        if ('valid' in input) {
          const self = { node: name, scheduler: 0, id: 1, creation: 1 };
          const built = input.valid.map(({ k, id, ref, value }) => {
            const to = { node: a.name, scheduler: 0, id, creation: a.creation };
            return signalToWire({ k, to, from: self, ref, msg: value, request: value, reason: value, link: true, pid: self, ok: true, value, replyTo: self } as Signal, name, a.name, 1, a.creation);
          });
          socket.write(encodeFrame([SIGNALS, built]));
        } else if ('signals' in input) socket.write(encodeFrame([SIGNALS, input.signals.map(fillNode)]));
        else if ('frame' in input) socket.write(encodeFrame(input.frame));
        else socket.write(input.raw);
        // Then a probe: either it arrives (the input was handled) or the node closed the connection.
        const n = ++probes;
        socket.write(encodeFrame([SIGNALS, [signalToWire({ k: 'msg', to: probe.pid, msg: n }, name, a.name, 1, a.creation)]]));
        const outcome = await Promise.race([probe.next((m) => m === n).then(() => 'handled'), closed.then(() => 'closed')]);
        expect(['handled', 'closed']).toContain(outcome);
        outcomes[outcome as 'handled' | 'closed']++;
        conn.close('fuzz case over', 'debug');
      }),
      { numRuns: 1_000, seed: 4343 },
    );
    // Both paths were taken: some inputs are served, others close the connection.
    expect(outcomes.handled).toBeGreaterThan(100);
    expect(outcomes.closed).toBeGreaterThan(100);
    await stillServes();
  });
});
