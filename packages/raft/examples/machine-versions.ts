// The runnable example of the versions section of docs/guide/state-machine.md: a rolling
// upgrade of a 3-member cluster from version 0 to version 1 of tally-machine.ts, one
// member restarted with the new code at a time while commands go on. All members are on
// one node to keep it short (the upgrade test does it across node processes).
// Run with `pnpm tsx packages/raft/examples/machine-versions.ts`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger } from '@rafter/actors';
import { type ServerId, consistentQuery, processCommand, registerMachine, restartServer, serverStatus, startCluster, startSystem, stopServer } from '@rafter/raft';
import { tallyV0, tallyV1 } from './tally-machine.js';

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`example failed: ${what}`);
};

const dataDir = mkdtempSync(join(tmpdir(), 'rafter-versions-example-'));
const node = await Node.start({ name: 'versions', logger: silentLogger });
// The actor runtime's timers (elections among them) don't keep a process alive; this does.
const keepAlive = setInterval(() => undefined, 1_000);
try {
  const system = await startSystem(node, { dataDir });
  const ids: ServerId[] = ['t1', 't2', 't3'].map((name) => ({ name, node: node.name }));
  const versions = () => Promise.all(ids.map(async (id) => (await serverStatus(id)).machineVersion));

  // The old code.
  registerMachine('tally', tallyV0);
  await startCluster(system, 'tally', 'tally', ids);
  await processCommand(ids, { add: 5 });

  // The new code: a member started from now on resolves 'tally' to version 1.
  registerMachine('tally', tallyV1);
  for (const [i, id] of ids.entries()) {
    await stopServer(system, id);
    await processCommand(ids, { add: 1 }); // commands go on meanwhile
    await restartServer(system, id);
    console.log(`restarted ${id.name} with version 1; versions in force: ${(await versions()).join(', ')}`);
    if (i < ids.length - 1) check((await versions()).every((v) => v === 0), 'version 0 stays until every member runs 1');
  }

  // Every member runs version 1: the leader switches with a noop, and every member's
  // version 1 migrates the state there.
  for (let tries = 0; !(await versions()).every((v) => v === 1); tries++) {
    check(tries < 500, 'version 1 takes effect');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await processCommand(ids, { add: 10 });
  const { result } = await consistentQuery<{ total: number; count: number }>(ids, 'state');
  console.log(`after the upgrade: total ${result.total}, ${result.count} command(s) under version 1`);
  check(result.total === 18 && result.count === 1, 'state after the upgrade');
  await system.stop();
} finally {
  clearInterval(keepAlive);
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
