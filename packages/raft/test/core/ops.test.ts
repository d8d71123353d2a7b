// Operations in the core: cluster deletion through the log (every member ends once it
// applied it; the leader waits for members that are behind), forced shrink to a lone
// survivor, membership changes conditional on the expected members, and compaction
// asked for from outside apply.

import { describe, expect, it } from 'vitest';
import { Cluster, id, timeout } from './harness.js';

const elected = (names = ['n1', 'n2', 'n3']) => {
  const c = new Cluster(names);
  c.elect('n1');
  c.stabilize();
  return c;
};

const deletedLines = (c: Cluster) => c.out.filter((line) => line.endsWith(': deleted')).map((line) => line.split(':')[0]);

describe('deleting a cluster', () => {
  it('commits one entry that every member applies: each calls eol and is deleted, the leader last', () => {
    const c = elected();
    c.step('n1', { type: 'command', command: 5, priority: 'normal', from: 'a' });
    c.stabilize();
    const out = c.step('n1', { type: 'delete_cluster', from: 'd' });
    expect(out).toContain('append [3/1 delete_cluster]');
    c.stabilize();
    expect(c.out).toContain('n1: reply "d" ok 3 "ok"');
    for (const name of ['n1', 'n2', 'n3']) {
      expect(c.out).toContain(`${name}: end_of_life 5`);
      expect(c.core(name).role).toBe('stopped');
    }
    const deleted = deletedLines(c);
    expect(deleted.sort()).toEqual(['n1', 'n2', 'n3']);
    // The leader ends only once every follower holds the entry and was sent its commit.
    const leaderEnd = c.out.indexOf('n1: deleted');
    for (const follower of ['n2', 'n3']) {
      expect(c.out.findIndex((l) => l.startsWith(`n1: -> ${follower} append`) && l.endsWith('commit=3'))).toBeLessThan(leaderEnd);
      expect(c.out.findIndex((l) => l.startsWith(`${follower}: -> n1 append_reply`) && l.includes('last=3/'))).toBeLessThan(leaderEnd);
    }
  });

  it('refuses commands, membership changes, transfers and a second deletion once the entry is appended', () => {
    const c = elected();
    c.step('n1', { type: 'delete_cluster', from: 'd' });
    expect(c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' })).toEqual(['reply "x" RAFTER_CLUSTER_DELETED leader=n1']);
    expect(c.step('n1', { type: 'command', command: 1, priority: 'low', from: 'y' })).toEqual(['reply "y" RAFTER_CLUSTER_DELETED leader=n1']);
    expect(c.step('n1', { type: 'delete_cluster', from: 'e' })).toEqual(['reply "e" RAFTER_CLUSTER_DELETED leader=n1']);
    expect(c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'z' })).toEqual(['reply "z" RAFTER_CLUSTER_DELETED leader=n1']);
    expect(c.step('n1', { type: 'transfer_leadership', to: id('n2'), from: 't' })).toEqual(['reply "t" RAFTER_CLUSTER_DELETED leader=n1']);
  });

  it('low-priority commands queued before the deletion are refused, not appended after it', () => {
    const c = elected();
    c.step('n1', { type: 'commands', commands: [{ command: 1, priority: 'low', from: 'l' }, { command: 2, priority: 'normal', from: 'n' }] });
    c.step('n1', { type: 'delete_cluster', from: 'd' });
    c.stabilize();
    expect(c.out).toContain('n1: reply "l" RAFTER_CLUSTER_DELETED leader=n1');
    expect(c.log('n1').last().index).toBe(3);
  });

  it('the leader stays while a member is down, and ends once that member came back and got the entry', () => {
    const c = elected();
    c.isolated.add('n3');
    c.step('n1', { type: 'delete_cluster', from: 'd' });
    c.stabilize();
    expect(c.out).toContain('n1: reply "d" ok 2 "ok"');
    expect(deletedLines(c)).toEqual(['n2']);
    expect(c.core('n1').role).toBe('leader');
    expect(c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' })).toEqual(['reply "x" RAFTER_CLUSTER_DELETED leader=n1']);
    // n3 comes back: the leader's tick resends what it misses.
    c.isolated.delete('n3');
    c.restart('n3');
    c.step('n1', { type: 'tick' });
    c.step('n1', { type: 'tick' });
    c.stabilize();
    expect(deletedLines(c).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(c.out).toContain('n3: end_of_life 0');
  });

  it('a delete entry that never committed and was overwritten leaves its member free to lead', () => {
    const c = elected();
    c.isolated.add('n1');
    c.step('n1', { type: 'delete_cluster', from: 'd' });
    expect(c.core('n1').deleteEntryIndex).toBe(2);
    for (const name of ['n2', 'n3']) c.step(name, { type: 'leader_down', id: id('n1') });
    c.elect('n2');
    c.step('n2', { type: 'command', command: 4, priority: 'normal', from: 'a' });
    c.stabilize();
    // n1 back: its entry 2 is overwritten by n2's log.
    c.isolated.delete('n1');
    c.step('n2', { type: 'tick' });
    c.stabilize();
    expect(c.core('n1').deleteEntryIndex).toBeUndefined();
    c.step('n2', { type: 'transfer_leadership', to: id('n1'), from: 't' });
    c.stabilize();
    expect(c.core('n1').role).toBe('leader');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'x' });
    c.stabilize();
    expect(c.out).toContain('n1: reply "x" ok 5 5');
    expect(c.core('n3').role).toBe('follower');
  });

  it('a member that applied the deletion before a crash deletes itself again on restart', () => {
    const c = elected();
    c.step('n1', { type: 'delete_cluster', from: 'd' });
    c.stabilize();
    const lines = c.restart('n2');
    expect(lines).toContain('end_of_life 0');
    expect(lines).toContain('deleted');
  });
});

describe('forced shrink to the current member', () => {
  it('makes a lone survivor the only voter: it elects itself and commits alone', () => {
    const c = elected();
    c.step('n1', { type: 'command', command: 7, priority: 'normal', from: 'a' });
    c.stabilize();
    // n1 and n2 are gone for good: n3 cannot elect itself.
    c.isolated.add('n1');
    c.isolated.add('n2');
    c.step('n3', { type: 'leader_down', id: id('n1') });
    c.step('n3', timeout(c.core('n3')));
    c.stabilize();
    expect(c.core('n3').role).not.toBe('leader');
    const out = c.step('n3', { type: 'force_shrink', from: 'f' });
    expect(out).toContain('reply "f" ok 3 "ok"');
    c.stabilize();
    const n3 = c.core('n3');
    expect(n3.role).toBe('leader');
    expect(n3.cluster.current().members.map((m) => m.id.name)).toEqual(['n3']);
    c.step('n3', { type: 'command', command: 1, priority: 'normal', from: 'b' });
    c.stabilize();
    expect(c.out).toContain('n3: reply "b" ok 5 8');
    expect(n3.commitIndex).toBe(5);
  });

  it('a shrunk leader can grow again: a new member is added and replicates', () => {
    const c = elected();
    c.isolated.add('n2');
    c.isolated.add('n3');
    c.step('n1', { type: 'force_shrink', from: 'f' });
    c.stabilize();
    expect(c.core('n1').role).toBe('leader');
    c.add('n4', []);
    c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a' });
    c.stabilize();
    expect(c.core('n4').cluster.current().members.map((m) => m.id.name)).toEqual(['n1', 'n4']);
    expect(c.core('n4').commitIndex).toBe(c.core('n1').commitIndex);
  });
});

describe('membership changes with expected members', () => {
  it('applies when the members are the expected ones, in any order', () => {
    const c = elected();
    c.add('n4', []);
    c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a', expected: [id('n3'), id('n1'), id('n2')] });
    c.stabilize();
    expect(c.out).toContain('n1: reply "a" ok 2 "ok"');
  });

  it('fails with RAFTER_PEERS_CHANGED otherwise, appending nothing', () => {
    const c = elected();
    const last = c.log('n1').last().index;
    expect(c.step('n1', { type: 'add_member', member: { id: id('n4'), membership: 'voter' }, from: 'a', expected: [id('n1'), id('n2')] })).toEqual([
      'reply "a" RAFTER_PEERS_CHANGED leader=n1',
    ]);
    expect(c.step('n1', { type: 'remove_member', id: id('n3'), from: 'b', expected: [id('n1'), id('n2'), id('n3'), id('n4')] })).toEqual([
      'reply "b" RAFTER_PEERS_CHANGED leader=n1',
    ]);
    expect(c.log('n1').last().index).toBe(last);
  });
});

describe('compaction from outside apply', () => {
  it('takes a snapshot at the applied index with the current machine state', () => {
    const c = elected();
    for (const n of [1, 2, 3]) c.step('n1', { type: 'command', command: n, priority: 'normal', from: `c${n}` });
    c.stabilize();
    const out = c.step('n1', { type: 'compact' });
    expect(out).toContain('snapshot 4/1');
    expect(c.log('n1').snapState).toBe(6);
    // Nothing new applied since: no second snapshot.
    expect(c.step('n1', { type: 'compact' })).toEqual([]);
  });
});
