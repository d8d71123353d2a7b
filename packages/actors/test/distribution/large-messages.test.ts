// Goal: a message too large for a frame fails alone (the call gets a typed error, the
// connection and every monitor on it stay), large messages go out in fragments that
// small messages and heartbeats overtake without breaking the order per destination,
// and a peer that sends a fragment sequence no sender makes loses its connection.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../src/distribution/internal/connection.js';
import { FRAME_HEADER_BYTES, FrameCodec } from '../../src/distribution/internal/codec.js';
import { RefusalLog } from '../../src/distribution/internal/refusal-log.js';
import { encodeFragment, FRAGMENT, FRAGMENT_FIRST, FRAGMENT_LAST, FragmentAssembler, FragmentError } from '../../src/distribution/internal/fragments.js';
import { FRAGMENTED_MESSAGES_MAX } from '../../src/distribution/limits.js';
import type { NodeDistribution } from '../../src/distribution/distribution.js';
import { silentLogger } from '../../src/index.js';
import { inbox } from '../helpers.js';
import { closeReasons, handDriven, peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

const counter = {
  init: () => 0,
  handle: (_msg: unknown, n: number) => n + 1,
  handleCall: (req: unknown, _from: unknown, n: number) => ({ reply: req === 'big' ? 'r'.repeat(2 * 2 ** 20) : n, state: n }),
};

function warnings(node: { records: { level: string; obj: Record<string, unknown> }[] }): string[] {
  return node.records.filter((r) => r.level === 'warn').map((r) => String(r.obj.reason ?? ''));
}

describe('a message too large for a frame', () => {
  it('fails alone: a send is dropped with a logged reason, a call rejects with a code, the monitor survives', async () => {
    const maxFrameBytes = 1 << 20;
    const a = await cluster.node('a', { maxFrameBytes, failureDetector: false });
    const b = await cluster.node('b', { maxFrameBytes, failureDetector: false });
    const target = b.spawn(counter, undefined);
    let down: unknown;
    void a.monitor(target).then((d) => (down = d));
    expect(await a.call(target, 'count')).toBe(0);

    a.send(target, 'x'.repeat(2 * maxFrameBytes));
    await expect(a.call(target, 'y'.repeat(2 * maxFrameBytes))).rejects.toMatchObject({ code: 'ACTORS_MESSAGE_TOO_LARGE', maxFrameBytes });
    // The reply is too large on b's side: the caller still gets the code, not a timeout.
    await expect(a.call(target, 'big')).rejects.toMatchObject({ code: 'ACTORS_MESSAGE_TOO_LARGE' });

    expect(await a.call(target, 'count')).toBe(0);
    expect(down).toBeUndefined();
    expect(a.nodes()).toEqual([b.name]);
    expect(warnings(a).some((r) => r.startsWith(`a message to `) && r.includes('exceeds maxFrameBytes'))).toBe(true);
    expect(warnings(a).some((r) => r.startsWith('a call request to ') && r.includes('exceeds maxFrameBytes'))).toBe(true);
    expect(warnings(b).some((r) => r.startsWith('a reply to ') && r.includes('exceeds maxFrameBytes'))).toBe(true);
  });

  it('splits a batch larger than maxFrameBytes into frames that fit, in order', async () => {
    const maxFrameBytes = 64 * 1024;
    const a = await cluster.node('a', { maxFrameBytes, failureDetector: false });
    const b = await cluster.node('b', { maxFrameBytes, failureDetector: false });
    const box = inbox(b);
    for (let i = 0; i < 100; i++) a.send(box.pid, { i, pad: 'y'.repeat(10_000) });
    for (let i = 0; i < 100; i++) expect((await box.next()).i).toBe(i);
  });
});

describe('fragments', () => {
  it('a small message to another actor overtakes a large one, and one to the same actor does not', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const arrivals: string[] = [];
    const recorder = (label: string) => ({
      init: () => undefined,
      handle: (msg: unknown) => void arrivals.push(`${label}:${typeof msg === 'string' && msg.length > 100 ? 'large' : String(msg)}`),
      handleCall: () => ({ reply: 'ok', state: undefined }),
    });
    const big = b.spawn(recorder('big'), undefined);
    const small = b.spawn(recorder('small'), undefined);
    await a.call(big, 'connect');
    const done = inbox(b);
    a.send(big, 'L'.repeat(4 * 2 ** 20));
    a.send(big, 'after');
    a.send(small, 'overtakes');
    a.send(done.pid, 'end');
    await done.next();
    await expect.poll(() => arrivals.length).toBe(3);
    expect(arrivals).toEqual(['small:overtakes', 'big:large', 'big:after']);
  });

  it('heartbeats keep flowing while a large message is in fragments', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    let beats = 0;
    let beatsAtDelivery = -1;
    const target = b.spawn({
      init: () => undefined,
      handle: () => void (beatsAtDelivery = beats),
      handleCall: () => ({ reply: 'ok', state: undefined }),
    }, undefined);
    await a.call(target, 'connect');
    (b as unknown as { dist: NodeDistribution }).dist.onHeartbeat = () => void beats++;
    const distA = (a as unknown as { dist: NodeDistribution }).dist;
    a.send(target, 'L'.repeat(48 * 2 ** 20));
    // Heartbeats as the detector sends them, one per timer tick, until the large message is in.
    while (beatsAtDelivery < 0) {
      distA.sendHeartbeat(b.name);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(beatsAtDelivery).toBeGreaterThan(3);
  });

  it('keeps the order of many large and small messages to one actor', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const box = inbox(b);
    const other = inbox(b);
    const expected: number[] = [];
    // One turn: frames just over the fragment threshold (which the socket may take at
    // once), larger ones, and small ones to the same and to another actor in between.
    for (let i = 0; i < 60; i++) {
      a.send(box.pid, { i, pad: i % 3 === 0 ? 'p'.repeat(i % 2 === 0 ? 270_000 : 600_000) : '' });
      for (let j = 0; j < 50; j++) a.send(other.pid, { i, j, pad: 'q'.repeat(200) });
      expected.push(i);
    }
    for (const i of expected) expect((await box.next()).i).toBe(i);
    for (const i of expected) for (let j = 0; j < 50; j++) expect(await other.next()).toMatchObject({ i, j });
  });
});

describe('fragments over a socket that takes every write at once', () => {
  /** Two connected in-memory sockets whose writes complete at once, as a loopback kernel buffer with room does. */
  function socketPair(): [Socket, Socket] {
    const ends: Duplex[] = [];
    for (let i = 0; i < 2; i++) {
      ends.push(
        new Duplex({
          read() {},
          write(chunk: Buffer, _encoding, done) {
            // Taken at once; seen by the other end on a later turn, as with a real socket.
            setImmediate(() => ends[1 - i]!.push(chunk));
            done();
          },
        }),
      );
    }
    for (const end of ends) Object.assign(end, { setNoDelay: () => end, remoteAddress: 'memory' });
    return ends as unknown as [Socket, Socket];
  }

  it('keeps the order per destination when frames in fragments finish as soon as they start', async () => {
    const [left, right] = socketPair();
    const settings = (myName: string) => ({ myName, myCreation: 1, cookie: 'secret', maxFrameBytes: 8 << 20, maxQueuedBytes: 64 << 20, netTickMs: 60_000, handshakeTimeoutMs: 5_000, logger: silentLogger, refusals: new RefusalLog(silentLogger) });
    const received: { to: string; i: number }[] = [];
    let total = 0;
    const events = (onUp: () => void) => ({
      decideInbound: () => 'accept' as const,
      up: onUp,
      signals: (_c: Connection, signals: unknown[]) => {
        for (const s of signals) received.push((s as [number, number, { to: string; i: number }])[2]);
        total += signals.length;
      },
      heartbeat: () => undefined,
      closed: () => undefined,
    });
    let upCount = 0;
    let markUp = () => {};
    const bothUp = new Promise<void>((resolve) => (markUp = resolve));
    const up = () => void (++upCount === 2 && markUp());
    const sender = new Connection(left, true, 'b@memory:1', settings('a@memory:1'), events(up));
    const receiver = new Connection(right, false, undefined, settings('b@memory:1'), events(up));
    sender.hello();
    await bothUp;
    const y = { node: 'b@memory:1', scheduler: 0, id: 7, creation: 1 };
    const z = { node: 'b@memory:1', scheduler: 0, id: 8, creation: 1 };
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      sender.send({ k: 'msg', to: y, msg: { to: 'y', i, pad: i % 2 === 0 ? 'p'.repeat(300_000) : '' } });
      for (let j = 0; j < 20; j++) sender.send({ k: 'msg', to: z, msg: { to: 'z', i: i * 100 + j, pad: 'q'.repeat(2_000) } });
      sent += 21;
    }
    await expect.poll(() => total).toBe(sent);
    const toY = received.filter((m) => m.to === 'y').map((m) => m.i);
    expect(toY).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    sender.close('done', 'debug');
    receiver.close('done', 'debug');
  });
});

describe('fragment reassembly', () => {
  const take = () => ({ decode: () => undefined });
  const chunk = Buffer.alloc(10);

  it('refuses sequences that no sender makes', () => {
    const fresh = () => new FragmentAssembler(100);
    expect(() => fresh().add([FRAGMENT, 1, 0, chunk], take)).toThrow(/has not started/);
    expect(() => fresh().add([FRAGMENT, 1, FRAGMENT_LAST, chunk], take)).toThrow(/has not started/);
    const twice = fresh();
    twice.add([FRAGMENT, 1, FRAGMENT_FIRST, chunk], take);
    expect(() => twice.add([FRAGMENT, 1, FRAGMENT_FIRST, chunk], take)).toThrow(/started again/);
    const big = fresh();
    big.add([FRAGMENT, 2, FRAGMENT_FIRST, Buffer.alloc(60)], take);
    expect(() => big.add([FRAGMENT, 2, 0, Buffer.alloc(41)], take)).toThrow(/passes maxFrameBytes/);
    const many = fresh();
    for (let id = 0; id < FRAGMENTED_MESSAGES_MAX; id++) many.add([FRAGMENT, id, FRAGMENT_FIRST, chunk], take);
    expect(() => many.add([FRAGMENT, 99, FRAGMENT_FIRST, chunk], take)).toThrow(/in flight at once/);
    for (const bad of [[FRAGMENT, -1, 1, chunk], [FRAGMENT, 1.5, 1, chunk], [FRAGMENT, 1, 4, chunk], [FRAGMENT, 1, 1, 'text'], [FRAGMENT, 1, 1], [FRAGMENT, 2 ** 32, 1, chunk]]) {
      expect(() => fresh().add(bad, take), JSON.stringify(bad)).toThrow(FragmentError);
    }
  });

  it('bounds what it holds and gives back the whole frame with the decoder of its first fragment', () => {
    const assembler = new FragmentAssembler<string>(100);
    let taken = 0;
    const decoders = () => `decoder ${taken++}`;
    expect(assembler.add([FRAGMENT, 7, FRAGMENT_FIRST, Buffer.from('ab')], decoders)).toBeUndefined();
    expect(assembler.add([FRAGMENT, 8, FRAGMENT_FIRST | FRAGMENT_LAST, Buffer.from('z')], decoders)).toEqual({ body: Buffer.from('z'), decoder: 'decoder 1' });
    expect(assembler.add([FRAGMENT, 7, 0, Buffer.from('cd')], decoders)).toBeUndefined();
    expect(assembler.bufferedBytes).toBe(4);
    expect(assembler.add([FRAGMENT, 7, FRAGMENT_LAST, Buffer.from('e')], decoders)).toEqual({ body: Buffer.from('abcde'), decoder: 'decoder 0' });
    expect(assembler.bufferedBytes).toBe(0);
  });

  it('an authenticated peer that sends a fragment of a frame never started loses its connection, with a logged reason', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const intruder = await handDriven(a, 'intruder@127.0.0.1:9');
    intruder.socket.write(encodeFragment(5, 0, Buffer.from('orphan'), 0, 6));
    expect(await intruder.closed).toBe('connection closed by peer');
    expect(closeReasons(a)).toContain('bad fragment: fragment of frame 5, which has not started');
  });

  it('a hand-built fragment frame is the msgpack value [FRAGMENT, id, flags, bytes], and passes the frame checks', () => {
    const built = encodeFragment(3, FRAGMENT_FIRST, Buffer.from('--hello--'), 2, 7);
    expect(built.readUInt32BE(0)).toBe(built.length - FRAME_HEADER_BYTES);
    const [kind, id, flags, bytes] = new FrameCodec().decode(built.subarray(FRAME_HEADER_BYTES)) as [number, number, number, Uint8Array];
    expect([kind, id, flags, Buffer.from(bytes).toString()]).toEqual([FRAGMENT, 3, FRAGMENT_FIRST, 'hello']);
  });
});
