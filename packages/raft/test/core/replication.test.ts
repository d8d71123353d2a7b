// Replication: followers answer once written, leaders commit on a written quorum of
// current-term entries, pipelining respects its caps, rewinds take one round trip,
// and an idle leader sends nothing.

import { describe, expect, it } from 'vitest';
import { APPEND_BATCH_ENTRIES_MAX, INFLIGHT_ENTRIES_MAX } from '../../src/internal/core/limits.js';
import { Cluster, MemLog, applyLogEffects, entry, fmt, id, newCore } from './harness.js';

const append = (term: number, prevIndex: number, prevTerm: number, entries: ReturnType<typeof entry>[], commitIndex = 0) => ({
  type: 'message' as const,
  from: id('n1'),
  msg: { type: 'append_entries' as const, term, leaderId: id('n1'), prevIndex, prevTerm, entries, commitIndex },
});

const follower = (log = new MemLog(), term = 1) => {
  const core = newCore('n2', log, { persisted: { term, votedFor: undefined } });
  core.start();
  return { core, log };
};

describe('follower', () => {
  it('appends, then replies only when the entries are written', () => {
    const { core, log } = follower();
    const out = core.step(append(1, 0, 0, [entry(1, 1), entry(2, 1)]));
    expect(out.map(fmt)).toEqual(['role follower t1 leader=n1', 'cancel election', 'append [1/1 2/1]']);
    log.append([entry(1, 1), entry(2, 1)]);
    log.written = 2;
    expect(core.step({ type: 'written', index: 2, term: 1 }).map(fmt)).toEqual(['-> n1 append_reply t1 ok last=2/1 next=3']);
  });

  it('answers at once when it holds and has written everything sent', () => {
    const log = new MemLog();
    log.append([entry(1, 1)]);
    log.writeAll();
    const { core } = follower(log);
    expect(core.step(append(1, 0, 0, [entry(1, 1)])).map(fmt)).toEqual(['role follower t1 leader=n1', 'cancel election', '-> n1 append_reply t1 ok last=1/1 next=2']);
  });

  it('rejects a stale leader with its own term', () => {
    const { core } = follower(new MemLog(), 3);
    expect(core.step(append(2, 0, 0, [entry(1, 2)])).map(fmt)).toEqual(['-> n1 append_reply t3 fail last=0/0 next=1']);
  });

  it('on a missing previous entry, points the leader at its last written entry', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    log.written = 2;
    const { core } = follower(log);
    const out = core.step(append(1, 7, 1, [entry(8, 1)])).map(fmt);
    expect(out.at(-1)).toBe('-> n1 append_reply t1 fail last=2/1 next=3');
  });

  it('on a conflicting term, points before the whole conflicting term (one round trip)', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2)]);
    log.writeAll();
    const { core } = follower(log, 3);
    const out = core.step(append(3, 4, 3, [entry(5, 3)])).map(fmt);
    expect(out.at(-1)).toBe('-> n1 append_reply t3 fail last=1/1 next=2');
  });

  it('overwrites a conflicting suffix, and reports only entries that match the leader', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 2), entry(3, 2)]);
    log.writeAll();
    const { core } = follower(log, 3);
    const out = core.step(append(3, 1, 1, [entry(2, 3)])).map(fmt);
    expect(out).toContain('append [2/3]');
    log.append([entry(2, 3)]);
    log.writeAll();
    expect(core.step({ type: 'written', index: 2, term: 3 }).map(fmt)).toEqual(['-> n1 append_reply t3 ok last=2/3 next=3']);
  });

  it('does not report stale written entries past what the leader sent', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    log.writeAll();
    const { core } = follower(log, 2);
    // Matching entries 1..2 from a new leader: entry 3 is not known to match it.
    expect(core.step(append(2, 1, 1, [entry(2, 1)])).map(fmt).at(-1)).toBe('-> n1 append_reply t2 ok last=2/1 next=3');
  });

  it('advances its commit index to the leader commit, capped by what matches', () => {
    const log = new MemLog();
    const { core } = follower(log);
    core.step(append(1, 0, 0, [entry(1, 1), entry(2, 1)], 5));
    expect(core.commitIndex).toBe(2);
    expect(core.lastApplied).toBe(2);
    expect(core.machineState).toBe(2);
  });

  it('drops and reports, rather than overwrite a committed entry', () => {
    const { core, log } = follower();
    applyLogEffects(log, core.step(append(1, 0, 0, [entry(1, 1), entry(2, 1)], 2)));
    expect(core.commitIndex).toBe(2);
    // No correct leader sends a different entry at 2: a peer's input, never asserted on.
    const out = core.step(append(2, 1, 1, [entry(2, 2)])).map(fmt);
    expect(out.at(-1)).toBe('invalid append_entries from n1: n2@n2 term 2: entries conflict at or below our commit index 2');
    expect(out.some((line) => line.startsWith('append ['))).toBe(false);
    expect(log.termAt(2)).toBe(1);
  });

  it.each([
    ['a gap between entries', append(1, 0, 0, [entry(1, 1), entry(3, 1)]), 'entry 3/1 at 2'],
    ['an entry of a later term than the message', append(1, 0, 0, [entry(1, 2)]), 'entry 1/2 at 1'],
    ['terms falling along the log', append(2, 0, 0, [entry(1, 2), entry(2, 1)]), 'entry 2/1 at 2'],
    ['a negative index', append(1, -1, 0, []), 'after -1/0'],
  ])('drops a malformed append (%s) with a report instead of asserting', (_, event, reason) => {
    const { core } = follower();
    const out = core.step(event).map(fmt);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain(reason);
    expect(core.leaderId).toBeUndefined();
  });

  it('drops an acknowledgement past the leader\'s log', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'append_entries_reply', term: 1, success: true, nextIndex: 100, lastIndex: 99, lastTerm: 1, machineVersion: 1 } });
    expect(out).toEqual(['invalid append_entries_reply from n2: n1@n1 term 1: n2 acked 99 past our last 1']);
    expect(c.core('n1').leading?.peers.get('n2@n2')?.matchIndex).toBe(1);
  });

  it('redirects commands to the leader', () => {
    const { core } = follower();
    core.step(append(1, 0, 0, []));
    expect(core.step({ type: 'command', command: 1, priority: 'normal', from: 'c1' }).map(fmt)).toEqual(['reply "c1" RAFTER_NOT_LEADER leader=n1']);
  });
});

describe('leader', () => {
  it('commits only when a quorum has written, counting its own written index', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.step('n1', { type: 'command', command: 5, priority: 'normal', from: 'c1' });
    // Followers write and reply; the leader has not written its own entry yet.
    while (c.deliverOne());
    c.writeAll('n2');
    c.writeAll('n3');
    while (c.deliverOne());
    expect(c.core('n1').commitIndex).toBe(2); // two followers are a quorum of three
    c.stabilize();
    expect(c.out.filter((line) => line.includes('reply "c1"'))).toEqual(['n1: reply "c1" ok 2 5']);
  });

  it('does not commit on a quorum without its own write when only one follower wrote', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.step('n1', { type: 'command', command: 5, priority: 'normal', from: 'c1' });
    while (c.deliverOne());
    c.writeAll('n2');
    while (c.deliverOne());
    expect(c.core('n1').commitIndex).toBe(1);
    c.writeAll('n1');
    expect(c.core('n1').commitIndex).toBe(2);
  });

  it('never commits an earlier term entry by counting replicas (5.4.2); its noop commits it', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    // An entry of term 1 on n1 and n2 only; n1 becomes leader of term 2.
    for (const name of ['n1', 'n2']) {
      c.log(name).append([entry(1, 1, 7)]);
      c.log(name).writeAll();
    }
    c.core('n1').currentTerm = 1;
    c.core('n2').currentTerm = 1;
    c.step('n1', { type: 'trigger_election' });
    while (c.deliverOne());
    expect(c.core('n1').role).toBe('leader');
    // n2 acknowledges index 1 only (its reply for the noop is held back).
    c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'append_entries_reply', term: 2, success: true, nextIndex: 2, lastIndex: 1, lastTerm: 1, machineVersion: 1 } });
    expect(c.core('n1').commitIndex).toBe(0);
    c.stabilize();
    expect(c.core('n1').commitIndex).toBe(2);
  });

  it('pipelines up to the in-flight cap, in batches of the batch cap', () => {
    const log = new MemLog();
    const count = INFLIGHT_ENTRIES_MAX + 500;
    const entries = [];
    for (let i = 1; i <= count; i += 1) entries.push(entry(i, 1));
    log.append(entries);
    log.writeAll();
    const leader = newCore('n1', log, { persisted: { term: 1, votedFor: undefined } });
    leader.start();
    leader.step({ type: 'trigger_election' });
    leader.step({ type: 'message', from: id('n2'), msg: { type: 'pre_vote_reply', term: 1, granted: true, token: 1 } });
    const out = leader.step({ type: 'message', from: id('n2'), msg: { type: 'request_vote_reply', term: 2, granted: true } });
    const toN2 = out.filter((e) => e.kind === 'send' && e.to.name === 'n2' && e.msg.type === 'append_entries');
    // The new peer starts at our last index: one rewind finds where n2 really is.
    expect(toN2).toHaveLength(1);
    const rewound = leader.step({ type: 'message', from: id('n2'), msg: { type: 'append_entries_reply', term: 2, success: false, nextIndex: 1, lastIndex: 0, lastTerm: 0, machineVersion: 1 } });
    const batches = rewound.flatMap((e) => (e.kind === 'send' && e.msg.type === 'append_entries' ? [e.msg.entries.length] : []));
    expect(batches).toHaveLength(INFLIGHT_ENTRIES_MAX / APPEND_BATCH_ENTRIES_MAX);
    expect(batches.every((n) => n === APPEND_BATCH_ENTRIES_MAX)).toBe(true);
    // An acknowledgement frees room for more.
    const more = leader.step({ type: 'message', from: id('n2'), msg: { type: 'append_entries_reply', term: 2, success: true, nextIndex: 129, lastIndex: 128, lastTerm: 1, machineVersion: 1 } });
    expect(more.filter((e) => e.kind === 'send').length).toBe(1);
  });

  it('a leader that steps down fails what it holds: in-flight commands may still apply, queued ones never will', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.stabilize();
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'appended' });
    c.core('n1').lead.lowQueue.push({ command: 1, from: 'queued' });
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'request_vote', term: 5, candidateId: id('n2'), lastIndex: 9, lastTerm: 4 } });
    expect(out).toContain('reply "appended" RAFTER_LEADERSHIP_LOST leader=n1');
    expect(out).toContain('reply "queued" RAFTER_NOT_LEADER leader=n1');
  });

  it('rewinds once for a run of failures from one gap in a pipeline', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.stabilize();
    const fail = { type: 'append_entries_reply' as const, term: 1, success: false, nextIndex: 2, lastIndex: 1, lastTerm: 1, machineVersion: 1 };
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'a' });
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'b' });
    const first = c.step('n1', { type: 'message', from: id('n2'), msg: fail });
    expect(first).toEqual(['-> n2 append t1 prev=1/1 [2/1 3/1] commit=1']);
    expect(c.step('n1', { type: 'message', from: id('n2'), msg: fail })).toEqual([]);
  });

  it('sends nothing while idle, even on ticks', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'c' });
    c.stabilize();
    c.queue.length = 0;
    expect(c.step('n1', { type: 'tick' })).toEqual([]);
    expect(c.step('n1', { type: 'tick' })).toEqual([]);
  });

  it('a tick resends to a follower that made no progress (lost messages)', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.isolated.add('n3');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'c' });
    c.stabilize();
    c.isolated.delete('n3');
    // The first tick notes where n3 stands; one without progress since resends.
    expect(c.step('n1', { type: 'tick' })).toEqual([]);
    expect(c.step('n1', { type: 'tick' })).toEqual(['-> n3 append t1 prev=1/1 [2/1] commit=2']);
    c.stabilize();
    expect(c.core('n3').commitIndex).toBe(2);
  });

  it('rewinds a follower with a divergent log in few round trips and overwrites it', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    // n1 and n2 hold four entries of term 1; n3 holds entries of term 2 nobody else has.
    for (const name of ['n1', 'n2']) c.log(name).append([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
    c.log('n3').append([entry(1, 1), entry(2, 2, 100), entry(3, 2, 100)]);
    for (const name of ['n1', 'n2', 'n3']) {
      c.log(name).writeAll();
      c.core(name).currentTerm = 2;
    }
    c.elect('n1');
    c.stabilize();
    const terms = (name: string) => c.log(name).entries(1, c.log(name).last().index).map((e) => `${e.index}/${e.term}`);
    expect(terms('n3')).toEqual(['1/1', '2/1', '3/1', '4/1', '5/3']);
    expect(terms('n3')).toEqual(terms('n1'));
    // Past its log, then on the conflicting term: the hint skips the whole term at once.
    const fails = c.out.filter((line) => line.startsWith('n3: -> n1 append_reply') && line.includes('fail'));
    expect(fails).toEqual(['n3: -> n1 append_reply t3 fail last=3/2 next=4', 'n3: -> n1 append_reply t3 fail last=1/1 next=2']);
  });

  it('low-priority commands wait behind normal ones and flush in bounded batches', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.stabilize();
    const low = c.step('n1', { type: 'command', command: 1, priority: 'low', from: 'low1' });
    // Alone in its step, a low-priority command is flushed at the end of it.
    expect(low).toContain('append [2/1]');
    c.stabilize();
    for (let i = 0; i < 100; i += 1) c.core('n1').lead.lowQueue.push({ command: 1, from: `l${i}` });
    const normal = c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'n' });
    expect(normal).toContain('append [3/1]');
    expect(c.core('n1').lead.lowQueue).toHaveLength(100);
    const flush = c.step('n1', { type: 'tick' });
    expect(flush.filter((line) => line.startsWith('append'))[0]?.split(' ').length).toBe(65); // 'append' + 64 entries
    expect(c.core('n1').lead.lowQueue).toHaveLength(36);
  });
});
