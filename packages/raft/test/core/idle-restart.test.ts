// Restarting a caught-up member must not depose a healthy leader in an idle cluster:
// its peers still follow a live leader and refuse its pre-vote, and the leader answers
// the pre-vote by re-asserting itself. A node hosting members of many groups restarts
// them all at once, so this runs over 100 idle clusters.

import { describe, expect, it } from 'vitest';
import { Cluster, id, timeout } from './harness.js';

const CLUSTERS = 100;

function idleCluster(commands: number): Cluster {
  const c = new Cluster(['n1', 'n2', 'n3']);
  c.elect('n1');
  for (let i = 0; i < commands; i += 1) c.step('n1', { type: 'command', command: 1, priority: 'normal', from: i });
  c.stabilize();
  c.step('n1', { type: 'tick' });
  c.stabilize();
  return c;
}

describe('a restarted member in an idle cluster', () => {
  it(`starts no election in any of ${CLUSTERS} clusters`, () => {
    let elections = 0;
    for (let i = 0; i < CLUSTERS; i += 1) {
      const c = idleCluster(i % 7);
      const restarted = i % 2 === 0 ? 'n2' : 'n3';
      const other = restarted === 'n2' ? 'n3' : 'n2';
      const term = c.core('n1').currentTerm;
      c.restart(restarted);
      // Its leaderless election timer fires before it hears from the idle leader.
      c.step(restarted, timeout(c.core(restarted)));
      if (i % 3 === 1) {
        // The other follower suspected the leader's node for a moment: the leader's
        // re-assertion clears its pending election too.
        c.step(other, { type: 'node_maybe_down', node: 'n1' });
      }
      c.stabilize();
      for (const name of ['n1', 'n2', 'n3']) if (c.core(name).currentTerm !== term) elections += 1;
      expect(c.core('n1').role).toBe('leader');
      expect(c.core(restarted).role).toBe('follower');
      expect(c.core(restarted).leaderId).toEqual(id('n1'));
      expect(c.core(restarted).commitIndex).toBe(c.core('n1').commitIndex);
      expect(c.core(other).electionReason).toBeUndefined();
    }
    expect(elections).toBe(0);
  });

  it('a follower of a live leader refuses a pre-vote; one whose leader is down grants it', () => {
    const c = idleCluster(2);
    const last = c.log('n3').last();
    const preVote = { type: 'pre_vote' as const, term: c.core('n3').currentTerm, candidateId: id('n3'), lastIndex: last.index, lastTerm: last.term, machineVersion: 1, token: 1 };
    expect(c.step('n2', { type: 'message', from: id('n3'), msg: preVote })).toContain('-> n3 pre_vote_reply t1 denied');
    c.step('n2', { type: 'leader_down', id: id('n1') });
    expect(c.step('n2', { type: 'message', from: id('n3'), msg: preVote })).toContain('-> n3 pre_vote_reply t1 granted');
  });

  it('judges a pre-vote from its own leader by its term: an old one is no sign of the leader gone', () => {
    const c = idleCluster(1);
    c.step('n1', { type: 'transfer_leadership', to: id('n2'), from: 'op' });
    c.stabilize();
    expect(c.core('n2').role).toBe('leader');
    expect(c.core('n3').leaderId).toEqual(id('n2'));
    const last = c.log('n2').last();
    // A pre-vote n2 sent in term 1 arrives late, while n3 follows n2 in term 2.
    const stale = { type: 'pre_vote' as const, term: 1, candidateId: id('n2'), lastIndex: last.index, lastTerm: last.term, machineVersion: 1, token: 9 };
    c.step('n3', { type: 'message', from: id('n2'), msg: stale });
    expect(c.core('n3').leaderId).toEqual(id('n2'));
    expect(c.core('n3').electionReason).toBeUndefined();
    // One in the current term means n2 no longer leads (it restarted): look for a new leader.
    c.step('n3', { type: 'message', from: id('n2'), msg: { ...stale, term: 2 } });
    expect(c.core('n3').leaderId).toBeUndefined();
    expect(c.core('n3').electionReason).toBe('leader_down');
  });
});
