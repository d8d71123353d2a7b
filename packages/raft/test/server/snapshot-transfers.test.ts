// The interpreter's side of snapshot transfers: which chunks a leader puts on the wire
// for each chunk the core asks for, and when a follower acknowledges a chunk.
import { describe, expect, it } from 'vitest';
import type { SnapshotMeta } from '../../src/internal/core/log.js';
import { IncomingSnapshot, OutgoingSnapshot, SNAPSHOT_CHUNKS_IN_FLIGHT_MAX, type SnapshotChunkReader, type SnapshotIntake } from '../../src/server/snapshot-transfers.js';

const meta: SnapshotMeta = { index: 50, term: 2, members: [], machineVersion: 0 };

function fakeReader(chunks: number): { reader: SnapshotChunkReader; reads: number[]; closed: () => number } {
  const reads: number[] = [];
  let closes = 0;
  const reader: SnapshotChunkReader = {
    meta,
    chunks,
    read: async (i) => {
      reads.push(i);
      return { seq: i + 1, last: i === chunks - 1, data: Buffer.from([i]) };
    },
    close: async () => {
      closes++;
    },
  };
  return { reader, reads, closed: () => closes };
}

/** Lets every queued promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('a leader sending a snapshot', () => {
  it('keeps a window of chunks ahead of the acknowledgements and sends each once', async () => {
    const { reader } = fakeReader(10);
    const out = new OutgoingSnapshot(50, async () => reader);
    const sent: number[] = [];
    const send = (i: number) => sent.push(i);
    const fail = (err: unknown) => {
      throw err;
    };
    out.ask(0, send, fail);
    await settle();
    expect(sent).toEqual([...Array(SNAPSHOT_CHUNKS_IN_FLIGHT_MAX).keys()]);
    sent.length = 0;
    out.ask(1, send, fail); // chunk 0 acknowledged
    out.ask(2, send, fail);
    await settle();
    expect(sent).toEqual([SNAPSHOT_CHUNKS_IN_FLIGHT_MAX, SNAPSHOT_CHUNKS_IN_FLIGHT_MAX + 1]);
  });

  it('sends only the chunk asked for again on a resend, and starts over when the core does', async () => {
    const { reader } = fakeReader(10);
    const out = new OutgoingSnapshot(50, async () => reader);
    const sent: number[] = [];
    const send = (i: number) => sent.push(i);
    out.ask(0, send, () => undefined);
    out.ask(1, send, () => undefined);
    await settle();
    sent.length = 0;
    out.ask(1, send, () => undefined); // a tick saw no progress
    await settle();
    expect(sent).toEqual([1]);
    sent.length = 0;
    out.ask(0, send, () => undefined); // the follower lost the transfer: from the start
    await settle();
    expect(sent).toEqual([0, 1, 2, 3]);
  });

  it('stops at the last chunk and closes the file, opening it again for a resend', async () => {
    let opens = 0;
    const { reader, closed } = fakeReader(3);
    const out = new OutgoingSnapshot(50, async () => {
      opens++;
      return reader;
    });
    const sent: Array<[number, boolean]> = [];
    const send = (i: number, chunk: { last: boolean }) => sent.push([i, chunk.last]);
    out.ask(0, send, () => undefined);
    await settle();
    expect(sent).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
    expect(closed()).toBe(1);
    out.ask(2, send, () => undefined);
    out.ask(2, send, () => undefined);
    await settle();
    expect(sent.at(-1)).toEqual([2, true]);
    expect(opens).toBe(2);
  });

  it('fails the transfer when the snapshot was replaced under it', async () => {
    const { reader } = fakeReader(3);
    const out = new OutgoingSnapshot(49, async () => reader);
    const errors: unknown[] = [];
    out.ask(0, () => undefined, (err) => errors.push(err));
    await settle();
    expect(String(errors[0])).toMatch(/now at 50, not 49/);
  });
});

describe('a follower receiving a snapshot', () => {
  it('acknowledges a chunk only once it is written', async () => {
    const writes: Array<{ seq: number; done: () => void }> = [];
    const intake: SnapshotIntake = {
      write: (seq) => new Promise<void>((done) => writes.push({ seq, done })),
      finish: async () => meta,
      abort: async () => undefined,
    };
    const incoming = new IncomingSnapshot(50, intake);
    const acks: number[] = [];
    incoming.write(0, Buffer.from([0]));
    incoming.afterWrites(() => acks.push(0), () => undefined);
    incoming.write(1, Buffer.from([1]));
    incoming.afterWrites(() => acks.push(1), () => undefined);
    await settle();
    expect(acks).toEqual([]);
    writes[0]?.done();
    await settle();
    expect(acks).toEqual([0]);
    expect(writes.map((w) => w.seq)).toEqual([1, 2]);
    writes[1]?.done();
    await settle();
    expect(acks).toEqual([0, 1]);
    expect(await incoming.finish()).toEqual(meta);
  });

  it('starts a replacing transfer only after the old one is cleaned up', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const old: SnapshotIntake = {
      write: () => new Promise<void>((done) => (release = done)),
      finish: async () => meta,
      abort: async () => void order.push('old aborted'),
    };
    const fresh: SnapshotIntake = {
      write: async () => void order.push('new written'),
      finish: async () => meta,
      abort: async () => undefined,
    };
    const first = new IncomingSnapshot(50, old);
    first.write(0, Buffer.from([0]));
    const second = new IncomingSnapshot(50, fresh, first.abort());
    second.write(0, Buffer.from([0]));
    await settle();
    expect(order).toEqual([]);
    release();
    await settle();
    await settle();
    expect(order).toEqual(['old aborted', 'new written']);
  });
});
