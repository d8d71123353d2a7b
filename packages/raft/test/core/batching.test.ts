// Batching: a `commands` event is one step (one append, one AppendEntries per follower),
// each command keeps its own reply; messages and in-flight data are capped in bytes.

import { describe, expect, it } from 'vitest';
import { RafterError } from '../../src/errors.js';
import { AssertionError, assert, estimateEntryBytes, type CommandRequest, type CoreConfig, type Event, type LogEntry } from '../../src/core.js';
import { COMMANDS_BATCH_MAX, PENDING_COMMANDS_MAX } from '../../src/internal/core/limits.js';
import { Cluster, MemLog, entry, fmt, id, newCore } from './harness.js';

const batch = (count: number, priority: 'normal' | 'low' = 'normal', first = 0): Event => ({
  type: 'commands',
  commands: Array.from({ length: count }, (_, at): CommandRequest => ({ command: 1, priority, from: `c${first + at}` })),
});

/** A three-member cluster led by n1, its noop (index 1) committed everywhere. */
function led(config: Partial<CoreConfig> = {}): Cluster {
  const c = new Cluster(['n1', 'n2', 'n3'], config);
  c.elect('n1');
  return c;
}

const appendsTo = (c: Cluster, name: string) => c.queue.filter((m) => m.to.name === name && m.msg.type === 'append_entries');
const sizes = (c: Cluster, name: string) => appendsTo(c, name).map((m) => (m.msg.type === 'append_entries' ? m.msg.entries.length : -1));

describe('a batch of commands on a leader', () => {
  it('is one append effect and one AppendEntries per follower', () => {
    const c = led();
    const out = c.step('n1', batch(64));
    expect(out.filter((line) => line.startsWith('append'))).toHaveLength(1);
    expect(out.filter((line) => line.startsWith('-> '))).toHaveLength(2);
    expect(sizes(c, 'n2')).toEqual([64]);
    expect(sizes(c, 'n3')).toEqual([64]);
    expect(c.core('n1').log.last().index).toBe(65);
  });

  it('answers each command once its entry commits, all in the step that commits them', () => {
    const c = led();
    expect(c.step('n1', batch(10)).filter((line) => line.startsWith('reply'))).toEqual([]);
    while (c.deliverOne());
    c.writeAll('n1');
    // n2's one reply for the whole batch makes a quorum with the leader.
    const reply = c.writeAll('n2');
    expect(reply).toEqual(['-> n1 append_reply t1 ok last=11/1 next=12']);
    const next = c.queue.shift()!;
    const out = c.step('n1', { type: 'message', from: next.from, msg: next.msg });
    expect(out.filter((line) => line.startsWith('reply'))).toEqual(Array.from({ length: 10 }, (_, at) => `reply "c${at}" ok ${at + 2} ${at + 1}`));
    expect(c.core('n1').commitIndex).toBe(11);
  });

  it('keeps per-command semantics: low priority waits for a step without normal commands', () => {
    const c = led();
    const event: Event = { type: 'commands', commands: [{ command: 1, priority: 'normal', from: 'n' }, { command: 1, priority: 'low', from: 'l' }] };
    expect(c.step('n1', event).find((line) => line.startsWith('append'))).toBe('append [2/1]');
    c.stabilize();
    expect(c.out.filter((line) => line.startsWith('n1: reply'))).toEqual(['n1: reply "n" ok 2 1', 'n1: reply "l" ok 3 2']);
  });

  it('answers overloaded for commands past the batch cap, and only for those', () => {
    const c = led();
    const out = c.step('n1', batch(COMMANDS_BATCH_MAX + 2));
    expect(out.filter((line) => line.startsWith('reply'))).toEqual([`reply "c${COMMANDS_BATCH_MAX}" RAFTER_OVERLOADED leader=n1`, `reply "c${COMMANDS_BATCH_MAX + 1}" RAFTER_OVERLOADED leader=n1`]);
    expect(c.core('n1').log.last().index).toBe(1 + COMMANDS_BATCH_MAX);
  });

  it('answers overloaded once the pending commands reach their cap within a batch', () => {
    const c = led();
    for (let sent = 0; sent < PENDING_COMMANDS_MAX; sent += COMMANDS_BATCH_MAX) c.step('n1', batch(COMMANDS_BATCH_MAX, 'normal', sent));
    const out = c.step('n1', batch(2, 'normal', PENDING_COMMANDS_MAX));
    expect(out.filter((line) => line.startsWith('reply'))).toEqual([`reply "c${PENDING_COMMANDS_MAX}" RAFTER_OVERLOADED leader=n1`, `reply "c${PENDING_COMMANDS_MAX + 1}" RAFTER_OVERLOADED leader=n1`]);
  });
});

describe('a batch of commands on a follower', () => {
  it('answers each command not leader, naming the known leader', () => {
    const c = led();
    expect(c.step('n2', batch(3))).toEqual(['reply "c0" RAFTER_NOT_LEADER leader=n1', 'reply "c1" RAFTER_NOT_LEADER leader=n1', 'reply "c2" RAFTER_NOT_LEADER leader=n1']);
  });

  it('answers one AppendEntries of many entries once per written notice, not per entry', () => {
    const log = new MemLog();
    const core = newCore('n2', log, { persisted: { term: 1, votedFor: undefined } });
    core.start();
    const entries = Array.from({ length: 50 }, (_, at) => entry(at + 1, 1));
    const out = core.step({ type: 'message', from: id('n1'), msg: { type: 'append_entries', term: 1, leaderId: id('n1'), prevIndex: 0, prevTerm: 0, entries, commitIndex: 0 } }).map(fmt);
    expect(out.filter((line) => line.startsWith('-> '))).toEqual([]);
    log.append(entries);
    log.written = 20;
    expect(core.step({ type: 'written', index: 20, term: 1 }).map(fmt)).toEqual(['-> n1 append_reply t1 ok last=20/1 next=51']);
    log.written = 50;
    expect(core.step({ type: 'written', index: 50, term: 1 }).map(fmt)).toEqual(['-> n1 append_reply t1 ok last=50/1 next=51']);
  });
});

describe('byte caps', () => {
  const hundredBytes = { entryBytes: () => 100 };

  it('split a batch into messages of at most appendEntriesBytesMax', () => {
    const c = led({ ...hundredBytes, appendEntriesBytesMax: 250 });
    c.step('n1', batch(5));
    expect(sizes(c, 'n2')).toEqual([2, 2, 1]);
    c.stabilize();
    expect(c.core('n2').log.last().index).toBe(6);
  });

  it('send an entry larger than the message cap alone', () => {
    const heavy = (e: LogEntry) => (e.payload.type === 'command' && e.payload.command === 9 ? 1_000 : 100);
    const c = led({ entryBytes: heavy, appendEntriesBytesMax: 250 });
    const commands = [1, 9, 1, 1].map((command, at): CommandRequest => ({ command, priority: 'normal', from: `c${at}` }));
    c.step('n1', { type: 'commands', commands });
    expect(sizes(c, 'n2')).toEqual([1, 1, 2]);
    c.stabilize();
    expect(c.out.filter((line) => line.startsWith('n1: reply'))).toHaveLength(4);
  });

  it('stop sending to a follower at inflightBytesMax until it acknowledges', () => {
    const c = led({ ...hundredBytes, appendEntriesBytesMax: 200, inflightBytesMax: 300 });
    c.step('n1', batch(8));
    // 200 + 100 bytes fill the room; the other five entries wait.
    expect(sizes(c, 'n2')).toEqual([2, 1]);
    c.isolated.add('n3');
    const toN2 = appendsTo(c, 'n2');
    c.queue = c.queue.filter((m) => m.to.name !== 'n2' && m.to.name !== 'n3');
    for (const m of toN2) c.step('n2', { type: 'message', from: m.from, msg: m.msg });
    c.writeAll('n2');
    // n2 acknowledged everything sent: the next 300 bytes go out.
    const ack = c.queue.shift()!;
    c.step('n1', { type: 'message', from: ack.from, msg: ack.msg });
    expect(sizes(c, 'n2')).toEqual([2, 1]);
    expect(appendsTo(c, 'n2')[0]?.msg).toMatchObject({ prevIndex: 4 });
  });

  it('send an entry larger than the in-flight room alone once nothing else is in flight', () => {
    const heavy = (e: LogEntry) => (e.payload.type === 'command' && e.payload.command === 9 ? 1_000 : 100);
    const c = led({ entryBytes: heavy, inflightBytesMax: 300 });
    const commands = [1, 9].map((command, at): CommandRequest => ({ command, priority: 'normal', from: `c${at}` }));
    c.step('n1', { type: 'commands', commands });
    expect(sizes(c, 'n2')).toEqual([1]);
    c.stabilize();
    expect(c.core('n2').log.last().index).toBe(3);
    expect(c.out.filter((line) => line.startsWith('n1: reply'))).toHaveLength(2);
  });

  it('a tick without progress resends within the caps, the lost messages no longer counted', () => {
    const c = led({ ...hundredBytes, appendEntriesBytesMax: 200, inflightBytesMax: 300 });
    c.step('n1', batch(8));
    c.queue = [];
    c.step('n1', { type: 'tick' }); // records no progress since the previous tick
    c.step('n1', { type: 'tick' });
    expect(sizes(c, 'n2')).toEqual([2, 1]);
    expect(appendsTo(c, 'n2')[0]?.msg).toMatchObject({ prevIndex: 1 });
  });

  it('the default estimate grows with the command and stays small for small ones', () => {
    const small = estimateEntryBytes(entry(1, 1, 1));
    const text = estimateEntryBytes(entry(1, 1, { key: 'k', value: 'x'.repeat(10_000) }));
    const bytes = estimateEntryBytes(entry(1, 1, new Uint8Array(50_000)));
    expect(small).toBeLessThan(64);
    expect(text).toBeGreaterThan(10_000);
    expect(bytes).toBeGreaterThan(50_000);
    expect(estimateEntryBytes(entry(1, 1, [new Map([['a', 'x'.repeat(100)]])]))).toBeGreaterThan(100);
  });

  it('a shell estimate that is not a size is caught', () => {
    // The new leader's noop is the first entry it sends.
    expect(() => led({ entryBytes: () => Number.NaN })).toThrow(AssertionError);
  });
});

describe('AssertionError', () => {
  it('is a RafterError with a stable code', () => {
    let caught: unknown;
    try {
      assert(false, 'broken');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RafterError);
    expect((caught as RafterError).code).toBe('RAFTER_ASSERTION');
  });
});
