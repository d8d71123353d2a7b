// A machine's `checkpoint` effect reaches the storage's `checkpoint(meta, state)` through
// the server interpreter, and a `logRead` reads through the storage's log; here with the
// core of a one-member cluster over an in-memory log.

import { describe, expect, it } from 'vitest';
import { RaftCore, type CoreMachine, type Event, type MachineEffect } from '../../src/core.js';
import { type ServerStorage, ServerInterpreter } from '../../src/server/interpreter.js';
import { MemLog, id, voters } from '../core/harness.js';

function oneMember(machine: CoreMachine, checkpoint: (index: number, state: unknown) => void, sent: unknown[]): { shell: ServerInterpreter; log: MemLog; feed: (event: Event) => Promise<void> } {
  const log = new MemLog();
  const core = new RaftCore({ id: id('n1'), log, machine, random: { intBetween: (min) => min }, initialMembers: voters('n1') });
  const posted: Event[] = [];
  const noop = (): undefined => undefined;
  const shell = new ServerInterpreter({
    core,
    storage: {
      // Snapshots are not used here: only what a checkpoint and a log read need is real.
      log: Object.assign(log, {
        releaseCursor: async () => false,
        checkpoint: async (meta: { index: number }, state: unknown) => {
          checkpoint(meta.index, state);
          return true;
        },
      }) as unknown as ServerStorage['log'],
      storeTermAndVote: async () => undefined,
      storeLastApplied: noop,
    },
    transport: { send: noop, reply: noop },
    timers: { set: noop, cancel: noop },
    machine: { send: (to, msg) => sent.push({ to, msg }), setTimer: noop, monitorProcess: noop, demonitorProcess: noop, monitorNode: noop, demonitorNode: noop, append: noop },
    host: { post: (event) => posted.push(event), roleChanged: noop, removed: noop, warn: noop },
    snapshotChunkBytes: 1024,
  });
  // Completes writes as a WAL would, and feeds back what the interpreter posted.
  const feed = async (event: Event): Promise<void> => {
    await shell.handle(event);
    for (let round = 0; round < 100; round++) {
      const next = posted.shift();
      if (next !== undefined) await shell.handle(next);
      else if (log.written < log.last().index) {
        log.writeAll();
        await shell.handle({ type: 'written', index: log.last().index, term: log.last().term });
      } else return;
    }
  };
  return { shell, log, feed };
}

describe('the interpreter and a machine', () => {
  it('passes checkpoints to the storage and reads the log for logRead', async () => {
    const checkpoints: Array<[number, unknown]> = [];
    const sent: unknown[] = [];
    const machine: CoreMachine = {
      version: 0,
      init: () => [],
      apply: (meta, command, state) => {
        const next = [...(state as unknown[]), command];
        const effects: MachineEffect[] = [{ type: 'checkpoint', index: meta.index, state: next }];
        if (command === 'read') effects.push({ type: 'logRead', indexes: [2, 1, 99], onEntries: (entries) => [{ type: 'send', to: 'reader', msg: entries }] });
        return { state: next, effects };
      },
    };
    const { shell, feed } = oneMember(machine, (index, state) => checkpoints.push([index, state]), sent);
    await shell.start();
    await feed({ type: 'trigger_election' });
    expect(shell.core.role).toBe('leader');
    await feed({ type: 'commands', commands: [{ command: 'a', priority: 'normal', from: undefined }], systemTime: 5 });
    await feed({ type: 'commands', commands: [{ command: 'read', priority: 'normal', from: undefined }], systemTime: 6 });
    expect(checkpoints).toEqual([
      [2, ['a']],
      [3, ['a', 'read']],
    ]);
    // Index 1 is the leader's noop and 99 is past the log: only the command at 2 is read.
    expect(sent).toEqual([{ to: 'reader', msg: [{ index: 2, term: 1, command: 'a' }] }]);
  });
});
