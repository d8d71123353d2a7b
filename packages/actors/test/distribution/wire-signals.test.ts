import { describe, expect, it } from 'vitest';
import { messageToReceiver, packedId, packedScheduler, signalFromWire, signalToWire } from '../../src/distribution/internal/wire-signals.js';
import type { Signal } from '../../src/internal/signals.js';
import { NoProcError, isWireError } from '../../src/errors.js';

const A = 'a@127.0.0.1:4000';
const B = 'b@127.0.0.1:4001';
const CA = 11;
const CB = 22;
const onA = { node: A, scheduler: 3, id: 17, creation: CA };
const onB = { node: B, scheduler: 0, id: 2 ** 40, creation: CB };
const onC = { node: 'c@127.0.0.1:4002', scheduler: 1, id: 5, creation: 33 };
/** A pid of B's earlier incarnation. */
const onOldB = { node: B, scheduler: 0, id: 3, creation: CB - 1 };

/** Sends from A to B and back through the wire form. */
const roundTrip = (s: Signal) => signalFromWire(signalToWire(s, A, B, CA, CB), A, B, CA, CB);

describe('signals on the wire', () => {
  const every: Signal[] = [
    { k: 'msg', to: onB, msg: { hello: [1, 2], from: onA } },
    { k: 'msg', to: onB, msg: { type: '$call', from: { pid: onA, ref: 'r1' }, request: { op: 'get' } } },
    { k: 'call', from: onA, to: onB, ref: 'r0', request: { op: 'get' } },
    { k: 'named', name: 'echo', node: B, msg: 'x' },
    { k: 'monitorName', from: onA, name: 'echo', node: B, ref: 'r2' },
    { k: 'link', from: onA, to: onB },
    { k: 'unlink', from: onA, to: onB },
    { k: 'exit', from: onA, to: onB, reason: 'shutdown', link: true },
    { k: 'monitor', from: onA, to: onB, ref: 'r3' },
    { k: 'demonitor', from: onA, to: onB, ref: 'r3' },
    { k: 'down', to: onB, ref: 'r4', pid: onA, reason: 'normal' },
    { k: 'down', to: onB, ref: 'r5', pid: { name: 'gone', node: A }, reason: 'noproc' },
    { k: 'reply', to: onB, ref: 'r6', ok: true, value: [onC] },
    { k: 'reply', to: onB, ref: 'r6', ok: true, value: null, demonitored: true },
    { k: 'info', to: onB, ref: 'r7', replyTo: onA },
    { k: 'spawn', to: onB, ref: 'r8', replyTo: onA, spec: { module: 'm', export: 'e' }, args: [1], options: {} },
  ];

  it.each(every.map((s) => [s.k, s] as const))('%s comes back as it was sent', (_kind, signal) => {
    expect(roundTrip(signal)).toEqual(signal);
  });

  it('finds a message to an actor of the receiving incarnation (the fast path) and nothing else', () => {
    const onBWorker = { node: B, scheduler: 5, id: 123_456, creation: CB };
    const packed = messageToReceiver(signalToWire({ k: 'msg', to: onBWorker, msg: 'x' }, A, B, CA, CB));
    expect([packedScheduler(packed), packedId(packed)]).toEqual([5, 123_456]);
    const others: Signal[] = [
      { k: 'msg', to: onOldB, msg: 'x' },
      { k: 'msg', to: onA, msg: 'x' },
      { k: 'msg', to: onB, msg: { type: '$call', from: { pid: onA, ref: 'r1' }, request: 1 } },
      { k: 'link', from: onA, to: onB },
    ];
    for (const signal of others) expect(messageToReceiver(signalToWire(signal, A, B, CA, CB))).toBe(-1);
    for (const raw of [[0, 3], [0, 3, 'x', 1], [0, -1, 'x'], [0, 2.5, 'x'], [0, 2 ** 60 + 1, 'x'], [1, 3, 'x'], 'x', null]) expect(messageToReceiver(raw)).toBe(-1);
  });

  it('packs pids of both ends into numbers and spells out a third node', () => {
    const wire = signalToWire({ k: 'link', from: onA, to: onB }, A, B, CA, CB);
    expect(typeof wire[1]).toBe('number');
    expect(typeof wire[2]).toBe('number');
    expect(signalToWire({ k: 'link', from: onC, to: onB }, A, B, CA, CB)[1]).toEqual([onC.node, 1, 5, 33]);
    expect(roundTrip({ k: 'link', from: onC, to: onB })).toEqual({ k: 'link', from: onC, to: onB });
  });

  it("spells out a pid of an end's earlier incarnation, so it keeps its creation", () => {
    expect(signalToWire({ k: 'monitor', from: onA, to: onOldB, ref: 'r' }, A, B, CA, CB)[2]).toEqual([B, 0, 3, CB - 1]);
    expect(roundTrip({ k: 'monitor', from: onA, to: onOldB, ref: 'r' })).toEqual({ k: 'monitor', from: onA, to: onOldB, ref: 'r' });
  });

  it('carries Error reasons and values as wire errors', () => {
    const wire = signalToWire({ k: 'reply', to: onB, ref: 'r', ok: false, value: new NoProcError('x') }, A, B, CA, CB);
    expect(isWireError(wire[4])).toBe(true);
  });

  it('rejects malformed values', () => {
    for (const raw of [null, 5, 'msg', [], [0], [0, -2, 1], [0, 1.5, 1], [0, 2, 1, 9], [99, 2, 3], [1, 2, 4, 7, 'x'], [4, ['n', -1, 0, 1], 2], [4, ['n', 1, 0], 2], { k: 'msg' }]) {
      expect(typeof signalFromWire(raw, A, B, CA, CB)).toBe('string');
    }
  });
});
