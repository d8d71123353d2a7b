// The aux handler example of docs/guide/state-machine.md: a counter machine whose aux
// handler (Ra's aux machine) keeps per-server statistics outside the log, reads the
// machine state and the log, and compacts the log on request.
// Run with `pnpm tsx packages/raft/examples/aux-handler.ts`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger } from '@rafter/actors';
import { type AuxResult, type Machine, type ServerId, auxCommand, castAux, processCommand, registerMachine, startCluster, startSystem } from '@rafter/raft';

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`example failed: ${what}`);
};

/** Aux state: this server's own, never replicated. */
interface Stats {
  readonly server: string;
  readonly pings: number;
}

type AuxCommand = 'ping' | 'stats' | 'recent' | 'compact';

const counter: Machine<number, number, Stats> = {
  init: () => 0,
  apply: (_meta, n, total) => ({ state: total + n, reply: total + n }),
  initAux: (server) => ({ server, pings: 0 }),
  async handleAux(role, kind, command, stats, ctx): Promise<AuxResult<Stats>> {
    switch (command as AuxCommand) {
      case 'ping': // a cast: no reply, only the aux state changes
        return { auxState: { ...stats, pings: stats.pings + 1 } };
      case 'stats':
        return { auxState: stats, reply: { ...stats, role, total: ctx.machineState(), applied: ctx.lastApplied } };
      case 'recent': {
        // The last three entries of this member's log (segments are read from disk).
        const entries = await ctx.readLog(ctx.lastIndex - 2, ctx.lastIndex);
        return { auxState: stats, reply: entries.map((e) => (e.payload.type === 'command' ? e.payload.command : e.payload.type)) };
      }
      case 'compact':
        ctx.compact(); // a snapshot at the applied index; the log before it is released
        return { auxState: stats, reply: ctx.lastApplied };
      default:
        throw new Error(`unknown aux command ${String(command)} (a ${kind})`);
    }
  },
};
registerMachine('aux-counter', counter);

const dataDir = mkdtempSync(join(tmpdir(), 'rafter-aux-'));
const node = await Node.start({ name: 'aux-example', logger: silentLogger });
try {
  const system = await startSystem(node, { dataDir, snapshotPolicy: { minEntries: 1, minIntervalMs: 0 } });
  const ids: ServerId[] = ['c1', 'c2', 'c3'].map((name) => ({ name, node: node.name }));
  await startCluster(system, 'counter', 'aux-counter', ids);
  for (const n of [1, 2, 3, 4]) await processCommand(ids, n);
  const c1 = ids[0] as ServerId;

  castAux(c1, 'ping');
  castAux(c1, 'ping');
  const stats = await auxCommand<Stats & { role: string; total: number }>(c1, 'stats');
  console.log(`aux of ${stats.server}: ${stats.pings} pings, role ${stats.role}, machine total ${stats.total}`);
  check(stats.pings === 2, 'casts change the aux state');
  const other = await auxCommand<Stats>(ids[1] as ServerId, 'stats');
  check(other.pings === 0, 'each server has its own aux state');

  const recent = await auxCommand<unknown[]>(c1, 'recent');
  console.log(`last entries of c1's log: ${JSON.stringify(recent)}`);

  const at = await auxCommand<number>(c1, 'compact');
  console.log(`c1 compacted its log at index ${at}`);

  try {
    await auxCommand(c1, 'no-such-command');
    check(false, 'a throwing handler fails the call');
  } catch (err) {
    check((err as { code?: string }).code === 'RAFTER_AUX_FAILED', 'RAFTER_AUX_FAILED');
  }
  await system.stop();
} finally {
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
