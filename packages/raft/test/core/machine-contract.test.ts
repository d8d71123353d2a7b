// The core's side of the machine contract: the leader's clock stamped into entries,
// effects passed on by role (checkpoints on every member, the rest on the leader), and
// the `all` upgrade strategy: a new machine version takes effect only once every member
// runs it, each entry applied at the version in force where it sits in the log.

import { describe, expect, it } from 'vitest';
import type { CoreMachine, Effect, MachineEffect, MachineMeta } from '../../src/core.js';
import { Cluster, voters } from './harness.js';

interface Applied {
  readonly member: string;
  readonly meta: MachineMeta;
  readonly command: unknown;
}

/** A counter that records every apply and version change, and asks for the effects a command names. */
function recording(name: string, version: number, log: Applied[], changes: string[]): CoreMachine {
  return {
    version,
    init: () => 0,
    apply: (meta, command, state) => {
      log.push({ member: name, meta, command });
      const c = command as { add?: number; effects?: MachineEffect[] };
      return { state: (state as number) + (c.add ?? 0), reply: 'ok', effects: c.effects ?? [] };
    },
    versionChanged: (meta, from, state) => {
      changes.push(`${name}@${meta.index}: ${from}->${meta.machineVersion}`);
      return { state: (state as number) * 10 };
    },
  };
}

function machineEffectsOf(effects: readonly Effect[]): MachineEffect[] {
  return effects.flatMap((e) => (e.kind === 'machineEffects' ? e.effects : []));
}

describe('command metadata', () => {
  it("stamps the shell's time of the commands event into each entry; every member applies with it", () => {
    const applied: Applied[] = [];
    const c = new Cluster([], {}, []);
    for (const name of ['n1', 'n2', 'n3']) c.add(name, voters('n1', 'n2', 'n3'), { machine: recording(name, 0, applied, []) });
    c.elect('n1');
    c.step('n1', { type: 'commands', commands: [{ command: { add: 1 }, priority: 'normal', from: 'a' }, { command: { add: 2 }, priority: 'low', from: 'b' }], systemTime: 1_700_000_000_123 });
    c.step('n1', { type: 'command', command: { add: 3 }, priority: 'normal', from: 'c', systemTime: 1_700_000_000_456 });
    c.stabilize();
    const times = (member: string) => applied.filter((a) => a.member === member).map((a) => [(a.command as { add: number }).add, a.meta.systemTime]);
    // The low-priority command waits for a step without normal ones; it keeps its own time.
    const expected = [
      [1, 1_700_000_000_123],
      [3, 1_700_000_000_456],
      [2, 1_700_000_000_123],
    ];
    for (const member of ['n1', 'n2', 'n3']) expect(times(member)).toEqual(expected);
    expect(c.log('n2').entries(2, 2)[0]?.payload).toEqual({ type: 'command', command: { add: 1 }, systemTime: 1_700_000_000_123 });
  });
});

describe('machine effects by role', () => {
  it('a checkpoint goes to the shell on every member; a send only on the leader', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const effects: MachineEffect[] = [{ type: 'send', to: 'someone', msg: 'hi' }, { type: 'checkpoint', index: 2, state: { at: 2 } }];
    const seen = new Map<string, MachineEffect[]>();
    for (const name of ['n1', 'n2', 'n3']) {
      const core = c.core(name);
      const step = core.step.bind(core);
      core.step = (event) => {
        const out = step(event);
        seen.set(name, [...(seen.get(name) ?? []), ...machineEffectsOf(out)]);
        return out;
      };
      (core.machine as { apply: CoreMachine['apply'] }).apply = (_meta, _command, state) => ({ state, effects });
    }
    c.step('n1', { type: 'command', command: 'go', priority: 'normal', from: 'x' });
    c.stabilize();
    expect(seen.get('n1')).toEqual(effects);
    expect(seen.get('n2')).toEqual([effects[1]]);
    expect(seen.get('n3')).toEqual([effects[1]]);
  });
});

describe("the 'all' upgrade strategy", () => {
  it('keeps the effective version until every member runs a newer one, then switches by a noop', () => {
    const applied: Applied[] = [];
    const changes: string[] = [];
    const members = voters('n1', 'n2', 'n3');
    const c = new Cluster([], {}, []);
    c.add('n1', members, { machine: recording('n1', 2, applied, changes), machineUpgradeStrategy: 'all' });
    c.add('n2', members, { machine: recording('n2', 2, applied, changes), machineUpgradeStrategy: 'all' });
    c.add('n3', members, { machine: recording('n3', 1, applied, changes), machineUpgradeStrategy: 'all' });
    c.elect('n1');
    // The new leader's noop carries the effective version (0), not its code's (2).
    expect(c.log('n1').entries(1, 1)[0]?.payload).toEqual({ type: 'noop', machineVersion: 0 });
    c.step('n1', { type: 'tick' });
    c.stabilize();
    // Every member runs at least 1: a second noop raises it to 1, and no member stalls.
    expect(c.log('n1').entries(2, 2)[0]?.payload).toEqual({ type: 'noop', machineVersion: 1 });
    for (const name of ['n1', 'n2', 'n3']) expect([c.core(name).machineVersion, c.core(name).upgradeRequired]).toEqual([1, false]);
    c.step('n1', { type: 'command', command: { add: 1 }, priority: 'normal', from: 'a' });
    c.stabilize();

    // n3 restarts with code for version 2: its replies say so, and the leader switches.
    c.restart('n3', { machine: recording('n3', 2, applied, changes), machineUpgradeStrategy: 'all' });
    c.step('n1', { type: 'command', command: { add: 2 }, priority: 'normal', from: 'b' });
    c.stabilize();
    c.step('n1', { type: 'tick' });
    c.stabilize();
    c.step('n1', { type: 'command', command: { add: 3 }, priority: 'normal', from: 'c' });
    c.stabilize();
    for (const name of ['n1', 'n2', 'n3']) expect(c.core(name).machineVersion).toBe(2);
    // Each command is applied at the version in force at its index, on every member,
    // also by n3 re-applying its log after the restart.
    const versionsOf = (member: string) => applied.filter((a) => a.member === member).map((a) => [(a.command as { add: number }).add, a.meta.machineVersion]);
    for (const name of ['n1', 'n2']) {
      expect(versionsOf(name)).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
      ]);
    }
    expect(versionsOf('n3')).toEqual([
      [1, 1],
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
    // The new version's machine sees each switch once per member (n3 twice: before and after its restart).
    const switchTo2 = changes.filter((line) => line.endsWith('1->2'));
    expect(switchTo2.map((line) => line.split('@')[0]).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(c.core('n1').machineState).toBe(c.core('n3').machineState);
  });

  it('a lone member switches at once, in its first noop', () => {
    const c = new Cluster([], {}, []);
    c.add('n1', voters('n1'), { machine: recording('n1', 3, [], []), machineUpgradeStrategy: 'all' });
    c.step('n1', { type: 'trigger_election' });
    c.stabilize();
    expect(c.log('n1').entries(1, 1)[0]?.payload).toEqual({ type: 'noop', machineVersion: 3 });
    expect(c.core('n1').machineVersion).toBe(3);
  });
});
