// Membership changes one server at a time (voter, promotable, non_voter), leadership
// transfer, and machine versioning.

import { describe, expect, it } from 'vitest';
import { CLUSTER_HISTORY_MAX } from '../../src/internal/core/limits.js';
import { Cluster, counter, id, voters, timeout } from './harness.js';

const elected = () => {
  const c = new Cluster(['n1', 'n2', 'n3']);
  c.elect('n1');
  c.stabilize();
  return c;
};

describe('membership', () => {
  it('is not permitted before the new leader has committed its noop', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.step('n1', { type: 'trigger_election' });
    while (c.core('n1').role !== 'leader') c.deliverOne();
    expect(c.core('n1').commitIndex).toBe(0);
    expect(c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a' })).toEqual([
      'reply "a" RAFTER_CLUSTER_CHANGE_NOT_PERMITTED leader=n1',
    ]);
  });

  it('adds a voter with one cluster entry and replies once it is applied', () => {
    const c = elected();
    c.add('n4', []);
    const out = c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a' });
    expect(out).toContain('append [2/1 cluster]');
    expect(out).toContain('-> n4 append t1 prev=1/1 [2/1] commit=1');
    expect(c.step('n1', { type: 'add_member', member: { id: id('n5'), membership: 'voter' }, from: 'b' })).toEqual([
      'reply "b" RAFTER_CLUSTER_CHANGE_NOT_PERMITTED leader=n1',
    ]);
    c.stabilize();
    expect(c.out).toContain('n1: reply "a" ok 2 "ok"');
    expect(c.core('n4').cluster.current().members.map((m) => m.id.name)).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(c.core('n4').isVoter()).toBe(true);
  });

  it('uses a new configuration as soon as it is appended: quorum of four needs three', () => {
    const c = elected();
    c.add('n4', []);
    c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a' });
    c.stabilize();
    c.isolated.add('n3');
    c.isolated.add('n4');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' });
    c.stabilize();
    expect(c.core('n1').commitIndex).toBe(2); // n1 + n2 are not a quorum of four
  });

  it('promotes a promotable member once it has caught up', () => {
    const c = elected();
    c.add('n4', []);
    c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'promotable' }, from: 'a' });
    expect(c.core('n1').cluster.current().members.find((m) => m.id.name === 'n4')?.membership).toBe('promotable');
    c.stabilize();
    c.step('n1', { type: 'tick' });
    c.stabilize();
    expect(c.core('n1').cluster.current().members.find((m) => m.id.name === 'n4')?.membership).toBe('voter');
    expect(c.core('n4').isVoter()).toBe(true);
  });

  it('a non_voter receives entries but never counts towards a quorum', () => {
    const c = elected();
    c.add('n4', []);
    c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'non_voter' }, from: 'a' });
    c.stabilize();
    c.isolated.add('n2');
    c.isolated.add('n3');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' });
    c.stabilize();
    expect(c.log('n4').last().index).toBe(3);
    expect(c.core('n1').commitIndex).toBe(2);
    expect(c.core('n4').step({ type: 'trigger_election' })).toEqual([]);
  });

  it('removes a follower; a removed leader steps down once the change commits', () => {
    const c = elected();
    c.step('n1', { type: 'remove_member', id: id('n3'), from: 'r' });
    c.stabilize();
    expect(c.core('n1').cluster.current().members.map((m) => m.id.name)).toEqual(['n1', 'n2']);
    const out = c.step('n1', { type: 'remove_member', id: id('n1'), from: 'self' });
    expect(out).toContain('append [3/1 cluster]');
    c.stabilize();
    expect(c.out).toContain('n1: removed');
    expect(c.core('n1').role).toBe('stopped');
    // It handed over to the most caught-up voter, which won at once.
    expect(c.core('n2').role).toBe('leader');
    expect(c.core('n2').cluster.current().members.map((m) => m.id.name)).toEqual(['n2']);
  });

  it('rejects unknown and duplicate members, and removing the last voter', () => {
    const c = new Cluster(['n1'], {}, voters('n1'));
    c.elect('n1');
    c.stabilize();
    expect(c.step('n1', { type: 'remove_member', id: id('n9'), from: 'x' })).toEqual(['reply "x" RAFTER_UNKNOWN_MEMBER leader=n1']);
    expect(c.step('n1', { type: 'add_member', member: { id: id('n1'), membership: 'voter' }, from: 'y' })).toEqual(['reply "y" RAFTER_ALREADY_MEMBER leader=n1']);
    expect(c.step('n1', { type: 'remove_member', id: id('n1'), from: 'z' })).toEqual(['reply "z" RAFTER_CLUSTER_CHANGE_NOT_PERMITTED leader=n1']);
  });
});

describe('configuration history', () => {
  it('is compacted as changes apply, with no snapshot, and a restart replays more changes than it keeps', () => {
    const c = elected();
    c.isolated.add('n4');
    const changes = CLUSTER_HISTORY_MAX + 100;
    for (let i = 0; i < changes; i += 1) {
      const event = i % 2 === 0
        ? { type: 'add_member' as const, member: { id: id('n4'), membership: 'non_voter' as const }, from: i }
        : { type: 'remove_member' as const, id: id('n4'), from: i };
      expect(c.step('n1', event).some((line) => line.includes('RAFTER_'))).toBe(false);
      c.stabilize();
    }
    expect(c.log('n1').snap).toBeUndefined();
    expect(c.core('n1').cluster.current().members.map((m) => m.id.name)).toEqual(['n1', 'n2', 'n3']);
    c.restart('n2');
    expect(c.core('n2').cluster.current().index).toBe(c.core('n1').cluster.current().index);
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'after' });
    c.stabilize();
    expect(c.core('n2').commitIndex).toBe(c.core('n1').commitIndex);
  });
});

describe('leadership transfer', () => {
  it('hands over to a caught-up voter, which is elected without pre-vote', () => {
    const c = elected();
    const out = c.step('n1', { type: 'transfer_leadership', to: id('n2'), from: 't' });
    expect(out).toEqual([
      '-> n2 timeout_now t1',
      'reply "t" ok 1 "transfer_started"',
      'role await_condition t1 leader=-',
      'timer condition 3000',
    ]);
    expect(c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'c' })).toEqual(['reply "c" RAFTER_NOT_LEADER leader=-']);
    c.deliverOne();
    expect(c.core('n2').role).toBe('candidate');
    c.stabilize();
    expect([c.core('n2').role, c.core('n1').role, c.core('n1').leaderId?.name]).toEqual(['leader', 'follower', 'n2']);
    expect(c.out.some((line) => line.startsWith('n2: -> n1 pre_vote t'))).toBe(false);
  });

  it('refuses a target that is behind or not a voter', () => {
    const c = elected();
    c.isolated.add('n3');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' });
    c.stabilize();
    expect(c.step('n1', { type: 'transfer_leadership', to: id('n3'), from: 't' })).toEqual(['reply "t" RAFTER_NOT_CAUGHT_UP leader=n1']);
    expect(c.step('n1', { type: 'transfer_leadership', to: id('n9'), from: 'u' })).toEqual(['reply "u" RAFTER_UNKNOWN_MEMBER leader=n1']);
  });

  it('gives up leadership when the transfer does not happen in time', () => {
    const c = elected();
    c.isolated.add('n2');
    c.step('n1', { type: 'transfer_leadership', to: id('n2'), from: 't' });
    c.stabilize();
    expect(c.step('n1', timeout(c.core('n1'), 'condition'))).toEqual(['cancel condition', 'role follower t1 leader=-', 'timer election 500']);
  });
});

describe('machine versioning', () => {
  it('a member that cannot run the version in a noop stops applying', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { machine: counter(2) });
    // n3 runs older code.
    c.cores.delete('n3');
    c.logs.delete('n3');
    c.add('n3', voters('n1', 'n2', 'n3'), { machine: counter(1) });
    c.elect('n1');
    c.step('n1', { type: 'command', command: 5, priority: 'normal', from: 'x' });
    c.stabilize();
    expect([c.core('n2').machineState, c.core('n2').machineVersion]).toEqual([5, 2]);
    expect([c.core('n3').machineState, c.core('n3').upgradeRequired, c.core('n3').lastApplied]).toEqual([0, true, 0]);
    expect(c.core('n3').commitIndex).toBe(2);
  });

  it('a member with older code cannot win a pre-vote against newer voters', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { machine: counter(2) });
    c.elect('n1');
    c.stabilize();
    c.cores.delete('n3');
    c.logs.delete('n3');
    const old = c.add('n3', voters('n1', 'n2', 'n3'), { machine: counter(1) });
    expect(old.step({ type: 'trigger_election' }).map((e) => e.kind)).toContain('send');
    c.take('n3', []);
    c.step('n2', { type: 'message', from: id('n3'), msg: { type: 'pre_vote', term: 1, candidateId: id('n3'), lastIndex: 1, lastTerm: 1, machineVersion: 1, token: 1 } });
    expect(c.out.at(-1)).toBe('n2: -> n3 pre_vote_reply t1 denied');
  });

  it('never goes backwards: a leader on older code (elected without pre-vote) does not lower it', () => {
    // n1 and n2 run version 2, n3 version 1; no pre-vote, so n3 can win an election.
    const c = new Cluster(['n1', 'n2'], { machine: counter(2), preVote: false }, voters('n1', 'n2', 'n3'));
    c.add('n3', voters('n1', 'n2', 'n3'), { machine: counter(1), preVote: false });
    c.elect('n1');
    c.step('n1', { type: 'command', command: 5, priority: 'normal', from: 'x' });
    c.stabilize();
    expect(c.core('n2').machineVersion).toBe(2);
    c.isolated.add('n1');
    c.step('n2', { type: 'leader_down', id: id('n1') });
    c.step('n3', { type: 'leader_down', id: id('n1') });
    c.elect('n3');
    c.isolated.clear();
    c.stabilize();
    // n3's noop carried version 1; the members that ran version 2 stay on it.
    expect(c.core('n2').lastApplied).toBe(c.core('n3').commitIndex);
    expect(c.core('n2').machineVersion).toBe(2);
    const applied: number[] = [];
    c.core('n2').machine.apply = (meta, command, state) => {
      applied.push(meta.machineVersion);
      return counter(2).apply(meta, command, state);
    };
    c.step('n3', { type: 'command', command: 1, priority: 'normal', from: 'y' });
    c.stabilize();
    // n1 and n2 share the machine object: both apply the command at version 2.
    expect(applied).toEqual([2, 2]);
  });

  it('refuses to transfer leadership to a member that cannot run the effective version', () => {
    const c = new Cluster(['n1', 'n2'], { machine: counter(2) }, voters('n1', 'n2', 'n3'));
    c.add('n3', voters('n1', 'n2', 'n3'), { machine: counter(1) });
    c.elect('n1');
    c.stabilize();
    expect(c.core('n1').leading?.peers.get('n3@n3')?.matchIndex).toBe(c.log('n1').last().index);
    expect(c.step('n1', { type: 'transfer_leadership', to: id('n3'), from: 't' })).toEqual(['reply "t" RAFTER_MACHINE_VERSION_TOO_OLD leader=n1']);
    expect(c.step('n1', { type: 'transfer_leadership', to: id('n2'), from: 'u' })[0]).toBe('-> n2 timeout_now t1');
  });
});
