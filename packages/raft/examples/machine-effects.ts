// The runnable example of the effects section of docs/guide/state-machine.md: the
// session registry of sessions-machine.ts in a 3-member cluster on one node. An owner
// process opens sessions; when it exits, the machine's monitor closes them through the
// log; a lease expires by a named timer; an audit reads the open commands back from the
// log. Run with `pnpm tsx packages/raft/examples/machine-effects.ts`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, Node, silentLogger } from '@rafter/actors';
import { type ServerId, consistentQuery, processCommand, serverStatus, startCluster, startSystem } from '@rafter/raft';
import { type Audit } from './sessions-machine.js'; // importing it registers 'sessions'

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`example failed: ${what}`);
};

/** Polls the sessions a consistent query sees until `done` holds (at most 5 s). */
async function namesUntil(ids: ServerId[], done: (names: string[]) => boolean): Promise<string[]> {
  for (let tries = 0; ; tries++) {
    const names = (await consistentQuery<string[]>(ids, 'names')).result;
    if (done(names) || tries >= 500) return names;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'rafter-effects-example-'));
const node = await Node.start({ name: 'effects', logger: silentLogger });
try {
  const system = await startSystem(node, { dataDir });
  const ids: ServerId[] = ['s1', 's2', 's3'].map((name) => ({ name, node: node.name }));
  await startCluster(system, 'sessions', 'sessions', ids);

  // An owner process that lives until told to stop.
  const owner = node.spawn(async (ctx: ActorContext) => {
    await ctx.receive((m: { type?: string }) => m.type === 'stop');
  });
  await processCommand(ids, { type: 'open', name: 'alpha', owner });
  await processCommand(ids, { type: 'open', name: 'beta', owner: node.spawn(async (ctx: ActorContext) => void (await ctx.receive())), leaseMs: 100 });
  console.log(`open sessions: ${(await namesUntil(ids, () => true)).join(', ')}`);

  // The lease timer fires on the leader; `{ timeout }` goes through the log and closes beta.
  const afterLease = await namesUntil(ids, (names) => !names.includes('beta'));
  console.log(`after beta's lease: ${afterLease.join(', ')}`);
  check(afterLease.join() === 'alpha', 'the lease closes beta');

  // The owner exits: the leader's monitor fires and `{ down }` closes its session.
  node.send(owner, { type: 'stop' });
  const afterDown = await namesUntil(ids, (names) => names.length === 0);
  console.log(`after alpha's owner exited: ${afterDown.length} sessions`);
  check(afterDown.length === 0, 'the down notice closes alpha');

  // An audit: logRead hands the open commands (kept only as indexes) to a function on the leader.
  const audit = await new Promise<Audit>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('example failed: no audit within 5 s')), 5_000);
    node.spawn(async (ctx: ActorContext) => {
      await processCommand(ids, { type: 'audit', to: ctx.self }, { via: ctx });
      const msg = await ctx.receive<Audit>((m: { type?: string }) => m.type === 'sessions_audit');
      clearTimeout(timer);
      resolve(msg as Audit);
    });
  });
  console.log(`audit from the log: ${audit.opens.map((o) => `${o.name} at ${o.index}`).join(', ')}`);
  check(audit.opens.map((o) => o.name).join() === 'alpha,beta', 'the audit reads both opens');

  const { leader } = await processCommand(ids, { type: 'close', name: 'nobody' });
  const status = await serverStatus(leader);
  console.log(`overview on the leader: ${JSON.stringify(status.machineOverview)}`);
  await system.stop();
} finally {
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
