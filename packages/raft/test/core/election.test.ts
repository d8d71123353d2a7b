// Elections: event-in / effects-out for pre-vote, votes persisted before replies, terms,
// and the shell events that trigger elections (no heartbeats exist to time out on).

import { describe, expect, it } from 'vitest';
import { CorruptStateError } from '../../src/index.js';
import { Cluster, MemLog, counter, entry, fmt, id, newCore, voters, timeout } from './harness.js';

const started = (name = 'n1', log = new MemLog(), extra = {}) => {
  const core = newCore(name, log, extra);
  const effects = core.start().map(fmt);
  return { core, effects, log };
};

describe('starting', () => {
  it('a leaderless voter arms its election timer', () => {
    expect(started().effects).toEqual(['role follower t0 leader=-', 'timer election 500']);
  });

  it('a member that is not a voter never arms it', () => {
    const { effects } = started('n4');
    expect(effects).toEqual(['role follower t0 leader=-']);
  });

  it('a member that is not a voter ignores pre-votes', () => {
    const { core } = started('n4');
    const msg = { type: 'pre_vote' as const, term: 0, candidateId: id('n1'), lastIndex: 0, lastTerm: 0, machineVersion: 1, token: 1 };
    expect(core.step({ type: 'message', from: id('n1'), msg })).toEqual([]);
  });

  it('refuses to start with a persisted term below its log\'s last term (typed error)', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 3)]);
    let error: unknown;
    try {
      started('n1', log, { persisted: { term: 2, votedFor: undefined } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CorruptStateError);
    expect((error as CorruptStateError).code).toBe('RAFTER_CORRUPT_STATE');
    expect((error as Error).message).toContain('persisted term 2 is below its log\'s last term 3');
  });

  it('restores term and vote from persisted state', () => {
    const { core } = started('n1', new MemLog(), { persisted: { term: 7, votedFor: id('n2') } });
    expect([core.currentTerm, core.votedFor?.name]).toEqual([7, 'n2']);
  });
});

describe('pre-vote', () => {
  it('an election timeout starts a pre-vote without raising the term', () => {
    const { core } = started();
    expect(core.step(timeout(core)).map(fmt)).toEqual([
      'role pre_vote t0 leader=-',
      '-> n2 pre_vote t0 last=0/0 v1',
      '-> n3 pre_vote t0 last=0/0 v1',
      'timer election 500',
    ]);
    expect(core.currentTerm).toBe(0);
  });

  it('a pre-vote majority starts the real election: no request leaves before the vote is durable', () => {
    const { core } = started();
    core.step(timeout(core));
    expect(core.step({ type: 'message', from: id('n2'), msg: { type: 'pre_vote_reply', term: 0, granted: true, token: 1 } }).map(fmt)).toEqual([
      'persist t1 vote=n1 sync',
      'role candidate t1 leader=-',
      'timer election 500',
    ]);
    // A notice for another vote (an older one, say) releases nothing.
    expect(core.step({ type: 'persisted', term: 1, votedFor: id('n2') })).toEqual([]);
    expect(core.step({ type: 'persisted', term: 1, votedFor: id('n1') }).map(fmt)).toEqual([
      '-> n2 request_vote t1 last=0/0',
      '-> n3 request_vote t1 last=0/0',
    ]);
  });

  it('a candidate alone in its cluster leads only once its vote is durable', () => {
    const core = newCore('n1', new MemLog(), { initialMembers: voters('n1') });
    core.start();
    expect(core.step(timeout(core)).map(fmt)).toEqual([
      'role pre_vote t0 leader=-',
      'timer election 500',
      'persist t1 vote=n1 sync',
      'role candidate t1 leader=-',
      'timer election 500',
    ]);
    expect(core.step({ type: 'persisted', term: 1, votedFor: id('n1') }).map(fmt)).toContain('role leader t1 leader=n1');
  });

  it('ignores pre-vote replies of an earlier round', () => {
    const { core } = started();
    core.step(timeout(core));
    core.step(timeout(core));
    expect(core.step({ type: 'message', from: id('n2'), msg: { type: 'pre_vote_reply', term: 0, granted: true, token: 1 } })).toEqual([]);
    expect(core.role).toBe('pre_vote');
  });

  const preVote = (lastIndex: number, lastTerm: number, machineVersion = 1) => ({
    type: 'pre_vote' as const,
    term: 2,
    candidateId: id('n2'),
    lastIndex,
    lastTerm,
    machineVersion,
    token: 9,
  });

  it.each([
    ['longer log, same term', 3, 2, 1, 'granted'],
    ['same log', 2, 2, 1, 'granted'],
    ['higher last term', 1, 3, 1, 'granted'],
    ['shorter log', 1, 2, 1, 'denied'],
    ['lower last term', 5, 1, 1, 'denied'],
    ['older machine version than ours', 3, 2, 0, 'denied'],
    ['newer machine version we can run', 3, 2, 2, 'granted'],
    ['newer machine version we cannot run', 3, 2, 3, 'denied'],
  ])('a voter answers a pre-vote (%s): %s', (_, lastIndex, lastTerm, version, answer) => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 2)]);
    log.writeAll();
    const { core } = started('n1', log, { persisted: { term: 2, votedFor: undefined }, machine: counter(2) });
    core.machineVersion = 1;
    const out = core.step({ type: 'message', from: id('n2'), msg: preVote(lastIndex, lastTerm, version) }).map(fmt);
    expect(out).toEqual([`-> n2 pre_vote_reply t2 ${answer}`]);
    expect(core.currentTerm).toBe(2);
  });
});

describe('votes', () => {
  const vote = (candidate: string, term: number, lastIndex = 0, lastTerm = 0) => ({
    type: 'message' as const,
    from: id(candidate),
    msg: { type: 'request_vote' as const, term, candidateId: id(candidate), lastIndex, lastTerm },
  });

  it('grants one vote per term, persisting it before the reply', () => {
    const { core } = started();
    // Only the vote is synced, not the term bump before it; the reply waits for it.
    expect(core.step(vote('n2', 1)).map(fmt)).toEqual(['persist t1 vote=- ', 'persist t1 vote=n2 sync', 'timer election 500'].map((l) => l.trim()));
    expect(core.step({ type: 'persisted', term: 1, votedFor: id('n2') }).map(fmt)).toEqual(['-> n2 vote_reply t1 granted']);
    expect(core.step(vote('n3', 1)).map(fmt)).toEqual(['-> n3 vote_reply t1 denied']);
    // A repeated request from the same candidate gets the same answer.
    expect(core.step(vote('n2', 1)).map(fmt)).toEqual(['timer election 500', '-> n2 vote_reply t1 granted']);
  });

  it('denies a candidate whose log is behind, but still adopts its term', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 1)]);
    const { core } = started('n1', log, { persisted: { term: 1, votedFor: undefined } });
    expect(core.step(vote('n2', 3, 1, 1)).map(fmt)).toEqual(['persist t3 vote=-', '-> n2 vote_reply t3 denied']);
  });

  it('denies a stale term', () => {
    const { core } = started('n1', new MemLog(), { persisted: { term: 5, votedFor: undefined } });
    expect(core.step(vote('n2', 4)).map(fmt)).toEqual(['-> n2 vote_reply t5 denied']);
  });

  it('a candidate with a majority becomes leader and appends a noop carrying its machine version', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.step('n1', { type: 'trigger_election' });
    c.deliverOne(); // pre_vote to n2
    c.deliverOne(); // pre_vote to n3
    c.deliverOne(); // n2 grants: election
    c.deliverOne(); // n3 grants (ignored, already candidate)
    c.deliverOne(); // request_vote to n2
    c.deliverOne(); // request_vote to n3
    expect(c.core('n1').role).toBe('candidate');
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'request_vote_reply', term: 1, granted: true } });
    expect(out).toEqual([
      'cancel election',
      'role leader t1 leader=n1',
      'append [1/1 noop]',
      '-> n2 append t1 prev=0/0 [1/1] commit=0',
      '-> n3 append t1 prev=0/0 [1/1] commit=0',
    ]);
    expect(c.log('n1').entries(1, 1)[0]?.payload).toEqual({ type: 'noop', machineVersion: 1 });
  });

  it('a higher term in any message turns a leader into a follower', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'request_vote_reply', term: 9, granted: false } });
    expect(out).toEqual(['persist t9 vote=-', 'cancel condition', 'role follower t9 leader=-', 'timer election 500']);
  });
});

describe('election triggers', () => {
  const following = () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    return c;
  };

  it('leader DOWN arms a short random election delay', () => {
    const c = following();
    expect(c.step('n2', { type: 'leader_down', id: id('n1') })).toEqual(['role follower t1 leader=-', 'timer election 100']);
  });

  it('DOWN of a member that is not our leader is ignored', () => {
    const c = following();
    expect(c.step('n2', { type: 'leader_down', id: id('n3') })).toEqual([]);
  });

  it("node-maybe-down of the leader's node arms a longer delay, which node-up cancels", () => {
    const c = following();
    expect(c.step('n2', { type: 'node_maybe_down', node: 'n1' })).toEqual(['timer election 1000']);
    expect(c.step('n2', { type: 'node_up', node: 'n1' })).toEqual(['cancel election']);
    expect(c.step('n2', { type: 'node_maybe_down', node: 'n3' })).toEqual([]);
  });

  it('a pre-vote from our own leader means it no longer leads: we look for a new one', () => {
    const c = following();
    const msg = { type: 'pre_vote' as const, term: 1, candidateId: id('n1'), lastIndex: 0, lastTerm: 0, machineVersion: 1, token: 1 };
    expect(c.step('n2', { type: 'message', from: id('n1'), msg })).toEqual([
      'role follower t1 leader=-',
      'timer election 100',
      '-> n1 pre_vote_reply t1 denied',
    ]);
  });

  it('an explicit trigger starts a pre-vote at once; a leader ignores it', () => {
    const c = following();
    expect(c.step('n2', { type: 'trigger_election' })[0]).toBe('role pre_vote t1 leader=-');
    expect(c.step('n1', { type: 'trigger_election' })).toEqual([]);
  });

  it('after DOWN, the election completes and the old leader follows the new one', () => {
    const c = following();
    c.isolated.add('n1');
    // Every follower's monitor fires; one that still heard a live leader would refuse.
    c.step('n2', { type: 'leader_down', id: id('n1') });
    c.step('n3', { type: 'leader_down', id: id('n1') });
    c.step('n2', timeout(c.core('n2'), 'election'));
    c.stabilize();
    expect(c.core('n2').role).toBe('leader');
    c.isolated.delete('n1');
    c.step('n2', { type: 'tick' });
    c.stabilize();
    expect([c.core('n1').role, c.core('n1').leaderId?.name, c.core('n1').currentTerm]).toEqual(['follower', 'n2', 2]);
  });

  it('voters() lists voters only', () => {
    expect(voters('a').map((m) => m.membership)).toEqual(['voter']);
  });
});
