// What one step may do and what it refuses: applying is bounded per event (the rest
// follows a `continue`), stale timers are the core's to recognise, and a machine or
// query that throws leaves the core consistent.

import { describe, expect, it } from 'vitest';
import { APPLY_BATCH_ENTRIES_MAX } from '../../src/internal/core/limits.js';
import { MachineFailedError } from '../../src/index.js';
import { Cluster, MemLog, counter, entry, fmt, id, newCore, timeout } from './harness.js';

describe('bounded work per step', () => {
  it(`applies at most ${APPLY_BATCH_ENTRIES_MAX} entries per event and asks to continue`, () => {
    const total = APPLY_BATCH_ENTRIES_MAX * 2 + 10;
    const log = new MemLog();
    const entries = Array.from({ length: total }, (_, i) => entry(i + 1, 1));
    log.append(entries);
    log.writeAll();
    const core = newCore('n2', log, { persisted: { term: 1, votedFor: undefined } });
    core.start();
    const msg = { type: 'append_entries' as const, term: 1, leaderId: id('n1'), prevIndex: total, prevTerm: 1, entries: [], commitIndex: total };
    const out = core.step({ type: 'message', from: id('n1'), msg }).map(fmt);
    expect(core.lastApplied).toBe(APPLY_BATCH_ENTRIES_MAX);
    expect(out.filter((line) => line === 'continue')).toHaveLength(1);
    expect(core.step({ type: 'continue' }).map(fmt)).toEqual(['continue']);
    expect(core.lastApplied).toBe(APPLY_BATCH_ENTRIES_MAX * 2);
    expect(core.step({ type: 'continue' }).map(fmt)).toEqual([]);
    expect(core.lastApplied).toBe(total);
    expect(core.machineState).toBe(total);
  });

  it('ignores a timeout of a timer that was cancelled or replaced since', () => {
    const core = newCore('n1', new MemLog());
    core.start();
    const stale = timeout(core);
    // Hearing from a leader cancels the election timer.
    core.step({ type: 'message', from: id('n2'), msg: { type: 'append_entries', term: 0, leaderId: id('n2'), prevIndex: 0, prevTerm: 0, entries: [], commitIndex: 0 } });
    expect(core.step(stale)).toEqual([]);
    expect(core.role).toBe('follower');
    core.step({ type: 'leader_down', id: id('n2') });
    expect(core.step(stale)).toEqual([]);
    expect(core.step(timeout(core)).map(fmt)[0]).toBe('role pre_vote t0 leader=-');
  });
});

describe('a throwing machine or query', () => {
  it('a machine that throws stops the server with a typed error; nothing of the entry took effect', () => {
    const machine = counter();
    const c = new Cluster(['n1', 'n2', 'n3'], { machine });
    c.elect('n1');
    c.step('n1', { type: 'command', command: 2, priority: 'normal', from: 'ok' });
    c.stabilize();
    const apply = machine.apply;
    machine.apply = (meta, command, state) => {
      if (command === 'boom') throw new Error('boom');
      return apply(meta, command, state);
    };
    c.step('n1', { type: 'command', command: 'boom', priority: 'normal', from: 'bad' });
    while (c.queue.length > 0) c.deliverOne();
    c.writeAll('n2');
    c.writeAll('n3');
    const leader = c.core('n1');
    const applied = leader.lastApplied;
    let error: unknown;
    try {
      while (c.deliverOne());
      c.writeAll('n1');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MachineFailedError);
    expect((error as MachineFailedError).code).toBe('RAFTER_MACHINE_FAILED');
    expect((error as MachineFailedError).index).toBe(applied + 1);
    expect([leader.role, leader.lastApplied, leader.machineState]).toEqual(['stopped', applied, 2]);
    // It stays stopped with the same error.
    expect(() => leader.step({ type: 'tick' })).toThrow(error as Error);
  });

  it('a query that throws gets its caller an error and changes nothing', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const fail = () => {
      throw new Error('bad query');
    };
    expect(c.step('n1', { type: 'query', kind: 'local', fn: fail, from: 'q' })).toEqual(['reply "q" RAFTER_QUERY_FAILED leader=n1']);
    expect(c.core('n1').role).toBe('leader');
  });
});
