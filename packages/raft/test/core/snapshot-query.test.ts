// Snapshots (release cursor, chunked install, truncation) and queries (local, leader,
// consistent by read index).

import { describe, expect, it } from 'vitest';
import { Cluster, MemLog, applyLogEffects, counter, entry, fmt, id, newCore } from './harness.js';

const withSnapshots = (every: number) => {
  const c = new Cluster(['n1', 'n2', 'n3'], { machine: counter(1, every) });
  c.elect('n1');
  c.stabilize();
  return c;
};

const put = (c: Cluster, n: number) => {
  for (let i = 0; i < n; i += 1) c.step('n1', { type: 'command', command: 1, priority: 'normal', from: `c${i}` });
};

describe('snapshots', () => {
  it('takes a snapshot at the release cursor once the entries are written, truncating the log', () => {
    const c = withSnapshots(4);
    put(c, 3);
    c.stabilize();
    expect(c.out.filter((line) => line.includes('snapshot 4/1'))).toEqual(['n1: snapshot 4/1', 'n2: snapshot 4/1', 'n3: snapshot 4/1']);
    expect(c.log('n1').first()).toBe(5);
    expect(c.log('n1').snapshot()?.members.map((m) => m.id.name)).toEqual(['n1', 'n2', 'n3']);
  });

  it('defers the snapshot until the release cursor is written locally', () => {
    const c = withSnapshots(2);
    c.isolated.add('n1'); // n1 does not write while isolated in this harness
    c.isolated.delete('n1');
    c.step('n1', { type: 'command', command: 1, priority: 'normal', from: 'a' });
    while (c.deliverOne());
    c.writeAll('n2');
    c.writeAll('n3');
    while (c.deliverOne());
    // Committed and applied on n1, but n1 has not written index 2 yet.
    expect(c.core('n1').lastApplied).toBe(2);
    expect(c.out.some((line) => line.startsWith('n1: snapshot'))).toBe(false);
    expect(c.writeAll('n1')).toContain('snapshot 2/1');
  });

  it('never snapshots entries this step overwrote, even if they were written before', () => {
    const log = new MemLog();
    log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    log.writeAll();
    const core = newCore('n3', log, { machine: counter(1, 3), persisted: { term: 2, votedFor: undefined } });
    core.start();
    const msg = { type: 'append_entries' as const, term: 2, leaderId: id('n1'), prevIndex: 1, prevTerm: 1, entries: [entry(2, 2), entry(3, 2)], commitIndex: 3 };
    const out = core.step({ type: 'message', from: id('n1'), msg });
    expect(core.lastApplied).toBe(3);
    expect(out.map(fmt).filter((line) => line.startsWith('snapshot'))).toEqual([]);
    applyLogEffects(log, out);
    log.writeAll();
    expect(core.step({ type: 'written', index: 3, term: 2 }).map(fmt)).toContain('snapshot 3/2');
  });

  it('sends a lagging follower the snapshot in chunks, one per round trip, then resumes entries', () => {
    const c = withSnapshots(4);
    c.snapshotChunks = 3;
    c.isolated.add('n3');
    put(c, 9);
    c.stabilize();
    c.isolated.delete('n3');
    c.step('n1', { type: 'tick' });
    const tick = c.step('n1', { type: 'tick' });
    expect(tick).toEqual(['send_snapshot_chunk n3 8 chunk=0']);
    c.stabilize();
    const n3 = c.out.filter((line) => line.startsWith('n3: ') && /snapshot|role/.test(line));
    expect(n3.slice(-9)).toEqual([
      'n3: role receive_snapshot t1 leader=n1',
      'n3: write_snapshot_chunk 8 chunk=0',
      'n3: -> n1 snapshot_reply t1 chunk=0',
      'n3: write_snapshot_chunk 8 chunk=1',
      'n3: -> n1 snapshot_reply t1 chunk=1',
      'n3: write_snapshot_chunk 8 chunk=2',
      'n3: install_snapshot 8',
      'n3: role follower t1 leader=n1',
      'n3: -> n1 snapshot_reply t1 chunk=-1 done 8',
    ]);
    expect([c.core('n3').machineState, c.core('n3').commitIndex, c.log('n3').last().index]).toEqual([9, 10, 10]);
  });

  it('a follower answers a chunk of an unknown transfer with chunk -1 so the leader restarts', () => {
    const c = withSnapshots(4);
    const meta = { index: 9, term: 1, members: [], machineVersion: 1 };
    c.step('n2', { type: 'message', from: id('n1'), msg: { type: 'install_snapshot', term: 1, leaderId: id('n1'), meta, chunkIndex: 2, last: false, data: '' } });
    expect(c.out.at(-1)).toBe('n2: -> n1 snapshot_reply t1 chunk=-1');
  });
});

describe('queries', () => {
  const read = (kind: 'local' | 'leader' | 'consistent', from: string) => ({ type: 'query' as const, kind, fn: (s: unknown) => s, from });

  it('a local query answers from the member’s own state, leader or not', () => {
    const c = withSnapshots(0);
    put(c, 2);
    c.stabilize();
    expect(c.step('n2', read('local', 'q'))).toEqual(['reply "q" query 2']);
  });

  it('a leader query answers at once on the leader and redirects elsewhere', () => {
    const c = withSnapshots(0);
    expect(c.step('n1', read('leader', 'q'))).toEqual(['reply "q" query 0']);
    expect(c.step('n2', read('leader', 'r'))).toEqual(['reply "r" RAFTER_NOT_LEADER leader=n1']);
    expect(c.step('n2', read('consistent', 's'))).toEqual(['reply "s" RAFTER_NOT_LEADER leader=n1']);
  });

  it('a consistent query waits for a quorum heartbeat round and writes nothing to the log', () => {
    const c = withSnapshots(0);
    put(c, 1);
    c.stabilize();
    const last = c.log('n1').last().index;
    expect(c.step('n1', read('consistent', 'q'))).toEqual(['-> n2 heartbeat t1 seq=1', '-> n3 heartbeat t1 seq=1']);
    c.deliverOne(); // n2 gets it
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'heartbeat_reply', term: 1, querySeq: 1 } });
    expect(out).toEqual(['reply "q" query 1']);
    expect(c.log('n1').last().index).toBe(last);
  });

  it('a deposed leader cannot answer: the round fails on a higher term', () => {
    const c = withSnapshots(0);
    c.step('n1', read('consistent', 'q'));
    const out = c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'heartbeat_reply', term: 2, querySeq: 1 } });
    expect(out).toContain('reply "q" RAFTER_NOT_LEADER leader=n1');
    expect(c.core('n1').role).toBe('follower');
  });

  it('a new leader answers only once its noop has committed', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.step('n1', { type: 'trigger_election' });
    while (c.core('n1').role !== 'leader') c.deliverOne();
    c.step('n1', read('consistent', 'q'));
    c.step('n1', { type: 'message', from: id('n2'), msg: { type: 'heartbeat_reply', term: 1, querySeq: 1 } });
    expect(c.out.some((line) => line.includes('reply "q"'))).toBe(false);
    c.stabilize();
    expect(c.out.filter((line) => line.includes('reply "q"'))).toEqual(['n1: reply "q" query 0']);
  });
});
