// A rolling upgrade across three node processes: each node in turn is killed and
// restarted with new machine code (version 1) while commands keep flowing. The new
// version takes effect only once every member runs it; entries written before the
// switch are applied by version 0's apply on every member, replays included, and all
// members end with the same state.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerState } from '../../../../tools/cluster/machines/ledger.js';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, localQuery, processCommand, serverStatus, startCluster } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, waitFor } from './helpers.js';

const machinesDir = new URL('../../../../tools/cluster/machines/', import.meta.url);
const V0 = new URL('ledger-v0.ts', machinesDir).href;
const V1 = new URL('ledger-v1.ts', machinesDir).href;
const UPGRADE_TEST_TIMEOUT_MS = 240_000;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [V0], tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

/** Proposes `{ add: 1 }` commands one after another until stopped; a failed attempt is retried under a new id. */
function flow(ids: readonly ServerId[]): { acked: Map<string, number>; stop: () => Promise<void> } {
  const acked = new Map<string, number>();
  let running = true;
  const done = (async () => {
    for (let n = 0; running; n++) {
      const id = `c${n}`;
      try {
        const { index } = await processCommand(ids, { add: 1, id }, { via: cluster.control, timeoutMs: 2_000 });
        acked.set(id, index);
      } catch {
        // An election or a restarting node: the next attempt goes on.
      }
    }
  })();
  return {
    acked,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function versions(ids: readonly ServerId[]): Promise<number[]> {
  return Promise.all(ids.map(async (id) => (await serverStatus(id, { via: cluster.control, timeoutMs: 2_000 })).machineVersion));
}

async function stateAt(id: ServerId, minIndex: number): Promise<LedgerState> {
  return (await localQuery<LedgerState>(id, 'state', { via: cluster.control, minIndex, timeoutMs: 10_000 })).result;
}

describe('a rolling upgrade of three node processes', () => {
  it('switches to version 1 only once every member runs it, with commands flowing throughout', { timeout: UPGRADE_TEST_TIMEOUT_MS }, async () => {
    const ids = cluster.serverIds('ledger_');
    await startCluster(cluster.system, 'ledger', 'ledger', ids, { via: cluster.control });
    const commands = flow(ids);
    const ackedPerStep: number[] = [];
    let lastIndexBeforeLast = 0;
    for (let i = 0; i < ids.length; i++) {
      const before = commands.acked.size;
      if (i === ids.length - 1) {
        // Two members run version 1, one still runs 0: the old version stays in force.
        expect(await versions(ids)).toEqual([0, 0, 0]);
        lastIndexBeforeLast = Math.max(...commands.acked.values());
      }
      await cluster.restart(i, { machineModules: [V1] });
      // The restarted member is back in the cluster before the next one goes.
      const caughtUp = Math.max(...commands.acked.values());
      await stateAt(ids[i] as ServerId, caughtUp);
      await waitFor('commands after the restart', async () => commands.acked.size, (n) => n >= before + 5, 30_000);
      ackedPerStep.push(commands.acked.size - before);
    }
    await waitFor('version 1 on every member', () => versions(ids), (v) => v.every((x) => x === 1), 30_000);
    const afterSwitch = commands.acked.size;
    await waitFor('commands under version 1', async () => commands.acked.size, (n) => n >= afterSwitch + 5, 30_000);
    await commands.stop();

    const finalIndex = Math.max(...commands.acked.values());
    const states = await Promise.all(ids.map((id) => stateAt(id, finalIndex)));
    // Every member applied the same entries with the same versions.
    expect(states[1]).toEqual(states[0]);
    expect(states[2]).toEqual(states[0]);
    const state = states[0] as LedgerState;
    const upgradedAt = state.upgradedAt as number;
    expect(upgradedAt).toBeGreaterThan(lastIndexBeforeLast);
    for (const [id, version, index] of state.applied) expect([id, version]).toEqual([id, index < upgradedAt ? 0 : 1]);
    expect(state.applied.some(([, v]) => v === 0) && state.applied.some(([, v]) => v === 1)).toBe(true);
    // Every acknowledged command was applied.
    const appliedIds = new Set(state.applied.map(([id]) => id));
    for (const id of commands.acked.keys()) expect(appliedIds.has(id)).toBe(true);
    expect(ackedPerStep.every((n) => n >= 5)).toBe(true);
  });
});
