// The contracts a shell with asynchronous storage relies on: written notices carry their
// term (stale ones are ignored), a failed write stops the core, snapshots are one at a
// time until storage answers, and a restart re-applies up to the stored applied index.

import { describe, expect, it } from 'vitest';
import { WriteFailedError } from '../../src/index.js';
import { Cluster, MemLog, counter, entry, fmt, id, newCore } from './harness.js';

describe('written notices', () => {
  it('ignores a notice for an entry overwritten since it was written', () => {
    const log = new MemLog();
    const core = newCore('n2', log, { persisted: { term: 2, votedFor: undefined } });
    core.start();
    const append = (term: number, prevIndex: number, prevTerm: number, entries: ReturnType<typeof entry>[]) => ({
      type: 'message' as const,
      from: id('n1'),
      msg: { type: 'append_entries' as const, term, leaderId: id('n1'), prevIndex, prevTerm, entries, commitIndex: 0 },
    });
    core.step(append(2, 0, 0, [entry(1, 2), entry(2, 2)]));
    log.append([entry(1, 2), entry(2, 2)]);
    // A new leader overwrites entry 2 before the old write of 2/2 is reported.
    core.step(append(3, 1, 2, [entry(2, 3)]));
    log.append([entry(2, 3)]);
    log.written = 1;
    expect(core.step({ type: 'written', index: 2, term: 2 })).toEqual([]);
    log.written = 2;
    expect(core.step({ type: 'written', index: 2, term: 3 }).map(fmt)).toEqual(['-> n1 append_reply t3 ok last=2/3 next=3']);
  });

  it('a failed write stops the core with a typed error', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const core = c.core('n2');
    let error: unknown;
    try {
      core.step({ type: 'write_failed', index: 2, reason: 'ENOSPC' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WriteFailedError);
    expect((error as WriteFailedError).code).toBe('RAFTER_WRITE_FAILED');
    expect(core.role).toBe('stopped');
  });
});

describe('snapshots', () => {
  it('asks for one snapshot at a time, until storage writes or declines it', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { machine: counter(1, 2) });
    c.elect('n1');
    // Hold the leader's snapshot notices back: storage is still writing.
    const take = c.take.bind(c);
    const snapshots: string[] = [];
    c.take = (name, effects) => {
      if (name === 'n1') for (const e of effects) if (e.kind === 'snapshot') snapshots.push(`${e.meta.index}`);
      return take(name, name === 'n1' ? effects.filter((e) => e.kind !== 'snapshot') : effects);
    };
    for (let i = 0; i < 3; i += 1) {
      c.step('n1', { type: 'command', command: 1, priority: 'normal', from: i });
      c.stabilize();
    }
    expect(snapshots).toEqual(['2']);
    const leader = c.core('n1');
    const meta = leader.snapshotInFlight!;
    expect(meta.index).toBe(2);
    c.take = take;
    expect(c.step('n1', { type: 'snapshot_written', meta, outcome: 'declined' })).toEqual(['snapshot 4/1']);
    expect(leader.snapshotsDeclined).toBe(1);
    expect(leader.snapshotInFlight).toBeUndefined();
  });
});

describe('recovery without a leader', () => {
  it('re-applies its log up to the stored applied index at start, passing on no effects', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    for (let i = 0; i < 5; i += 1) c.step('n1', { type: 'command', command: 2, priority: 'normal', from: i });
    c.stabilize();
    c.step('n1', { type: 'tick' });
    c.stabilize();
    const before = c.core('n2');
    expect(before.machineState).toBe(10);
    c.isolated.add('n2');
    const out = c.restart('n2');
    const after = c.core('n2');
    expect([after.machineState, after.lastApplied, after.commitIndex]).toEqual([10, before.lastApplied, before.lastApplied]);
    expect(out.filter((line) => line.startsWith('reply') || line.startsWith('machine_effects') || line.startsWith('->'))).toEqual([]);
  });
});
