// How a server runs a versioned machine: each entry by the implementation of the
// version in force at it (whichVersion), the switch announced to the new version's
// apply, and init from version 0 (the version a new member starts at).

import { describe, expect, it } from 'vitest';
import type { Machine, MachineMeta } from '../../src/index.js';
import { coreMachine } from '../../src/server/machine.js';

const meta = (index: number, machineVersion: number): MachineMeta => ({ index, term: 1, machineVersion, systemTime: 0 });

const v0: Machine<string[], string> = {
  init: () => ['init v0'],
  apply: (_m, command, state) => ({ state: [...state, `v0 ${command}`] }),
};

const v2: Machine<string[], unknown> = {
  version: 2,
  whichVersion: (v) => (v === 0 ? v0 : undefined),
  init: () => ['init v2'],
  apply: (m, command, state) => ({ state: [...state, `v2 at ${m.machineVersion} ${JSON.stringify(command)}`] }),
};

describe('coreMachine', () => {
  it('applies each entry with the version in force and tells the new version of the switch', () => {
    const machine = coreMachine(v2, { clusterName: 'c', serverId: { name: 's', node: 'n' }, config: undefined });
    expect(machine.version).toBe(2);
    let state = machine.init() as string[];
    state = machine.apply(meta(1, 0), 'a', state).state as string[];
    // Version 1 has no code of its own (whichVersion gives none): the newest runs it.
    state = machine.apply(meta(2, 1), 'b', state).state as string[];
    state = machine.versionChanged!(meta(3, 2), 1, state).state as string[];
    state = machine.apply(meta(4, 2), 'c', state).state as string[];
    expect(state).toEqual(['init v0', 'v0 a', 'v2 at 1 "b"', 'v2 at 2 {"machineVersion":{"from":1,"to":2}}', 'v2 at 2 "c"']);
  });
});
