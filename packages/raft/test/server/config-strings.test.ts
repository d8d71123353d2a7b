// A configuration taken in by the system keeps every value as given: only the strings'
// memory changes (copies of their own, node names shared), never what they say.

import { describe, expect, it } from 'vitest';
import { withOwnStrings } from '../../src/system/config-strings.js';
import type { ServerConfig } from '../../src/system/runtime.js';

describe('withOwnStrings', () => {
  it('keeps every field and member as given, and the machine config as the same object', () => {
    const machineConfig = { limit: 3 };
    const config: ServerConfig = {
      name: 'c1_1',
      uid: 'c1_1_0123456789abcdef',
      clusterName: 'c1',
      machine: 'counter',
      machineConfig,
      snapshotEvery: 10,
      initialMembers: [
        { id: { name: 'c1_1', node: 'n1@127.0.0.1:40001' }, membership: 'voter' },
        { id: { name: 'c1_2', node: 'n2@127.0.0.1:40002' }, membership: 'promotable' },
      ],
    };
    const own = withOwnStrings(config);
    expect(own).toEqual(config);
    expect(own).not.toBe(config);
    expect(own.machineConfig).toBe(machineConfig);
  });
});
