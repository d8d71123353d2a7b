// Goal: a message the receiving node's frame check would refuse (nested too deep, a
// BigInt too large) fails at the sender, alone: a send is dropped with a logged reason,
// a call rejects with a typed error, and the connection every other actor of the two
// nodes shares stays up, monitors included. The sender's copy of the check keeps the
// record shapes in step with the receiver's, however many shapes go round.

import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, FrameCodec, SIGNALS, signalsFrame, UnsendableError } from '../../src/distribution/internal/codec.js';
import { BIGINT_BYTES_MAX, FRAME_DEPTH_MAX } from '../../src/distribution/limits.js';
import { inbox } from '../helpers.js';
import { peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { inner: value };
  return value;
}

const hugeBigInt = 1n << BigInt(8 * (BIGINT_BYTES_MAX + 16));

const echo = {
  init: () => undefined,
  handle: () => undefined,
  handleCall: (req: unknown) => ({ reply: req === 'deep reply' ? nested(FRAME_DEPTH_MAX + 10) : req, state: undefined }),
};

function warnings(node: { records: { level: string; obj: Record<string, unknown> }[] }): string[] {
  return node.records.filter((r) => r.level === 'warn').map((r) => String(r.obj.reason ?? ''));
}

describe('a message the receiver would refuse', () => {
  it.each([
    ['nested deeper than the frame check allows', nested(FRAME_DEPTH_MAX + 10)],
    ['a BigInt larger than the frame check allows', { n: hugeBigInt }],
  ])('%s fails at the sender alone, and the monitor between the nodes does not fire', async (_what, message) => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const box = inbox(b);
    const target = b.spawn(echo, undefined);
    let down: unknown;
    void a.monitor(target).then((d) => (down = d));
    expect(await a.call(target, 'ready')).toBe('ready');

    a.send(box.pid, message);
    await expect(a.call(target, message)).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT', name: 'UnsendableMessageError', remoteNode: b.name });
    a.send(box.pid, 'after');
    expect(await box.next()).toBe('after');

    expect(await a.call(target, 'still up')).toBe('still up');
    expect(down).toBeUndefined();
    expect(a.nodes()).toEqual([b.name]);
    expect(warnings(b)).toEqual([]);
    expect(warnings(a).filter((r) => r.startsWith('a message to ')).length).toBe(1);
    expect(warnings(a).filter((r) => r.startsWith('a call request to ')).length).toBe(1);
  });

  it('a reply the caller would refuse reaches it as the typed error', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const target = b.spawn(echo, undefined);
    await expect(a.call(target, 'deep reply')).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT', name: 'UnsendableMessageError', remoteNode: a.name });
    expect(await a.call(target, 'next')).toBe('next');
    expect(a.nodes()).toEqual([b.name]);
  });

  it('one refused signal in a batch leaves the others of the batch to arrive in order', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const box = inbox(b);
    await a.call(b.spawn(echo, undefined), 'connect');
    for (let i = 0; i < 10; i++) a.send(box.pid, i === 5 ? nested(FRAME_DEPTH_MAX) : { i });
    for (let i = 0; i < 10; i++) if (i !== 5) expect(await box.next()).toEqual({ i });
    expect(a.nodes()).toEqual([b.name]);
  });
});

describe("the sender's frame check", () => {
  it('refuses exactly at the receiving end: a signal nested to the limit passes, one level more does not', () => {
    const sender = new FrameCodec();
    // Frame array, signals array, then the signal's own levels.
    const deepest = nested(FRAME_DEPTH_MAX - 3);
    const receiver = new FrameCodec();
    const part = sender.encodeValue([0, 1, deepest]);
    expect(() => receiver.decode(signalsFrame([part], part.length).subarray(FRAME_HEADER_BYTES))).not.toThrow();
    expect(() => sender.encodeValue([0, 1, nested(FRAME_DEPTH_MAX - 2)])).toThrow(UnsendableError);
  });

  it('keeps the record shapes as the receiver has them while msgpackr reuses record ids', () => {
    const sender = new FrameCodec();
    const receiver = new FrameCodec();
    // Over 64 shapes go round msgpackr's record ids. Small frames (which the sender does
    // not need to check for bounds) define shapes that the large frames after them use.
    const shape = (key: string, i: number) => [0, 1, { [key]: i, nested: { [key]: [i, { [`${key}x`]: true }] } }];
    for (let round = 0; round < 60; round++) {
      const signals: unknown[][] = [];
      if (round % 2 === 0) signals.push(shape(`small${round}`, round));
      else for (let i = 0; i < 30; i++) signals.push(shape(i < 5 ? `small${round - 1 - 2 * i}` : `k${(round * 7 + i) % 150}`, i));
      const frame = sender.encode([SIGNALS, signals]);
      expect(receiver.decode(frame.subarray(FRAME_HEADER_BYTES))).toEqual([SIGNALS, signals]);
    }
  });

  it('whatever the sender lets through, the receiver accepts, frame after frame', () => {
    const sender = new FrameCodec();
    const receiver = new FrameCodec();
    const value = fc.oneof(
      fc.anything({ maxDepth: 4, withBigInt: true, withDate: true, withSet: true, withMap: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }),
      fc.integer({ min: FRAME_DEPTH_MAX - 8, max: FRAME_DEPTH_MAX + 2 }).map(nested),
      fc.integer({ min: 8 * (BIGINT_BYTES_MAX - 8), max: 8 * (BIGINT_BYTES_MAX + 8) }).map((bits) => ({ n: 1n << BigInt(bits) })),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 8 }), (messages) => {
        const signals = messages.map((msg) => [0, 1, msg]);
        let frame: Buffer;
        try {
          frame = sender.encode([SIGNALS, signals]);
        } catch {
          // The connection sends a RESET frame after a frame it did not send.
          sender.resetEncoder();
          receiver.resetDecoder();
          return;
        }
        expect(() => receiver.decode(frame.subarray(FRAME_HEADER_BYTES))).not.toThrow();
      }),
      { numRuns: 150 },
    );
  });
});
