// A follower must forget what it validated when the term changes, even when the new
// term's leader has the same id: n1 leads term 1, loses term 2 to n2 (which overwrites
// n1's uncommitted suffix), wins term 3, and n3 missed both elections while holding
// n1's stale term-1 suffix. A batch from n1 that matches n3's log below the divergence
// must not let n3 report (or commit) its stale entries.

import { describe, expect, it } from 'vitest';
import { Cluster, id } from './harness.js';
import type { Member, MembershipKind } from '../../src/core.js';

const PREFIX = 150; // committed in term 1: longer than one AppendEntries batch
const STALE = 150; // n1 + n3 only, term 1, later overwritten by n2
const TERM2 = 200; // n2's term-2 commands: n1's log then reaches past n3's stale suffix

type Trigger = 'lost reply' | 'reordered reply' | 'far rewind';

function propose(c: Cluster, leader: string, count: number, command: number): void {
  for (let i = 0; i < count; i += 1) c.step(leader, { type: 'command', command, priority: 'normal', from: `${leader}-${command}-${i}` });
  c.stabilize();
}

function leaderDown(c: Cluster, leader: string, on: string[]): void {
  for (const name of on) c.step(name, { type: 'leader_down', id: id(leader) });
}

/** Builds the three-term history; returns with n1 leading term 3 and n3 still isolated. */
function staleCluster(kind: MembershipKind): Cluster {
  const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const members: Member[] = names.map((name) => ({ id: id(name), membership: name === 'n3' ? kind : 'voter' }));
  const c = new Cluster(names, {}, members);
  c.elect('n1');
  propose(c, 'n1', PREFIX, 1);
  // Term 1's tail reaches n3 only.
  for (const name of ['n2', 'n4', 'n5']) c.isolated.add(name);
  propose(c, 'n1', STALE, 1);
  expect(c.log('n3').last()).toEqual({ index: 1 + PREFIX + STALE, term: 1 });
  // Term 2: n2 leads without n1 and n3.
  c.isolated.clear();
  c.isolated.add('n1').add('n3');
  leaderDown(c, 'n1', ['n2', 'n4', 'n5']);
  c.elect('n2');
  propose(c, 'n2', TERM2, 2);
  // n1 comes back and follows n2: its term-1 tail is overwritten.
  c.isolated.delete('n1');
  c.step('n2', { type: 'tick' });
  c.stabilize();
  expect(c.core('n1').role).toBe('follower');
  expect(c.log('n1').termAt(1 + PREFIX + STALE)).toBe(2);
  // Term 3: n1 wins again, still without n3.
  c.isolated.add('n2');
  leaderDown(c, 'n2', ['n1', 'n4', 'n5']);
  c.elect('n1');
  expect(c.core('n1').currentTerm).toBe(3);
  expect(c.core('n3').currentTerm).toBe(1);
  return c;
}

/** n1's view of n3 and n3's commit index must only ever cover entries equal to n1's. */
function checkAgreement(c: Cluster): void {
  const leaderLog = c.log('n1');
  const followerLog = c.log('n3');
  const peer = c.core('n1').leading?.peers.get('n3@n3');
  if (peer !== undefined && peer.matchIndex > 0) {
    expect(followerLog.termAt(peer.matchIndex), `n1 believes n3 matches up to ${peer.matchIndex}`).toBe(leaderLog.termAt(peer.matchIndex));
  }
  const commit = c.core('n3').commitIndex;
  expect(followerLog.termAt(commit), `n3 commits ${commit}`).toBe(leaderLog.termAt(commit));
}

function reconnect(c: Cluster, trigger: Trigger): void {
  c.afterDeliver = () => checkAgreement(c);
  c.isolated.delete('n3');
  if (trigger === 'far rewind') {
    // No loss: the leader resends from what it knows n3 holds (nothing yet).
    c.step('n1', { type: 'node_up', node: 'n3' });
    return c.stabilize();
  }
  // A new command probes n3, which fails; the reply is lost or comes late, so the
  // leader's tick resends from the start of the log.
  c.blocked.add('n3>n1');
  propose(c, 'n1', 1, 3);
  c.blocked.delete('n3>n1');
  const late = trigger === 'reordered reply' ? takeReply(c) : undefined;
  c.step('n1', { type: 'tick' });
  if (late !== undefined) c.queue.push(late);
  c.stabilize();
}

function takeReply(c: Cluster): Cluster['queue'][number] {
  // The probe's reply was dropped above; ask again so one is in flight, then hold it.
  c.step('n1', { type: 'command', command: 3, priority: 'normal', from: 'probe' });
  while (c.queue.length > 0 && !(c.queue[0]!.to.name === 'n3')) c.deliverOne();
  c.deliverOne();
  const index = c.queue.findIndex((m) => m.from.name === 'n3' && m.to.name === 'n1');
  expect(index).toBeGreaterThanOrEqual(0);
  return c.queue.splice(index, 1)[0]!;
}

describe('a follower forgets what it validated when the term changes', () => {
  for (const kind of ['voter', 'non_voter'] as const) {
    for (const trigger of ['lost reply', 'reordered reply', 'far rewind'] as const) {
      it(`${kind}, ${trigger}`, () => {
        const c = staleCluster(kind);
        reconnect(c, trigger);
        checkAgreement(c);
        // And it does catch up with the leader.
        expect(c.log('n3').last()).toEqual(c.log('n1').last());
        expect(c.core('n3').commitIndex).toBe(c.core('n1').commitIndex);
      });
    }
  }
});
