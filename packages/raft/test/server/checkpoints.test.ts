// Recovery checkpoints and the snapshot options through the server actor: what a
// restarted member re-applies, and what its snapshots directory holds.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger, type Pid } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { type Machine, type RaftSystem, type ServerId, InvalidArgumentError, registerMachine, localQuery, processCommand, restartServer, serverStatus, startCluster, startServer, startSystem, stopServer } from '../../src/index.js';
import { localSystem } from '../../src/system/system.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';

/** Applies seen by the machines of this file, by command tag: a restart's replay shows here. */
const applied: number[] = [];

interface Tally {
  readonly n: number;
}

const tally = (checkpointEvery: number, releaseEvery = 0): Machine<Tally, { add: number }> => ({
  init: () => ({ n: 0 }),
  apply: (meta, command, state) => {
    applied.push(meta.index);
    const next = { n: state.n + command.add };
    const effects =
      releaseEvery > 0 && meta.index % releaseEvery === 0
        ? [{ type: 'release_cursor' as const, index: meta.index, state: next }]
        : checkpointEvery > 0 && meta.index % checkpointEvery === 0
          ? [{ type: 'checkpoint' as const, index: meta.index, state: next }]
          : [];
    return { state: next, reply: next.n, effects };
  },
  query: (_q: 'n', state) => state.n,
});
registerMachine('tally-plain', tally(0));
registerMachine('tally-cp', tally(10));
registerMachine('tally-every', tally(0));
registerMachine('tally-release', tally(0, 25));

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
  applied.length = 0;
});

async function start(): Promise<{ node: Node; system: RaftSystem; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-checkpoint-'));
  const node = await Node.start({ name: 'one', dirtyThreads: 1, logger: silentLogger });
  // Snapshots as often as asked: the default policy spaces them 4,096 entries apart.
  const system = await startSystem(node, { name: 'cp', dataDir: dir, tickMs: 50, snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
  cleanup.push(async () => {
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { node, system, dir };
}

function serverLog(system: RaftSystem, name: string): ServerLog {
  const runtime = localSystem(system.name);
  const uid = runtime?.directory.get(name)?.uid;
  const log = uid === undefined ? undefined : runtime?.handle.system.server(uid);
  if (log === undefined) throw new Error(`no log for ${name}`);
  return log;
}

/** Polls a member's log until its snapshot index satisfies `ok` (snapshots are written after the apply). */
async function snapshotAt(system: RaftSystem, name: string, ok: (index: number) => boolean): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const index = serverLog(system, name).snapshot()?.index ?? 0;
    if (ok(index)) return index;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${name} never took the snapshot asked for (at ${serverLog(system, name).snapshot()?.index})`);
}

async function commands(ids: readonly ServerId[], node: Node, count: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < count; i++) last = (await processCommand<number>(ids, { add: 1 }, { via: node })).index;
  return last;
}

/** Polls the status until `ok` holds (a restart by the supervisor is not an event we can wait on). */
async function until(id: ServerId, node: Node, ok: (s: Awaited<ReturnType<typeof serverStatus>>) => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await serverStatus(id, { via: node }).catch(() => undefined);
    if (s !== undefined && ok(s)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${id.name} never reached the state asked for`);
}

describe('recovery checkpoints', () => {
  it('a clean stop of a member writes a checkpoint at its applied index; the restart applies only what came after', async () => {
    const { node, system } = await start();
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'stop-cp', 'tally-plain', ids, { via: node });
    const last = await commands(ids, node, 40);
    const a = ids[0] as ServerId;
    await until(a, node, (s) => s.lastApplied >= last);
    await stopServer(system, a, { via: node });
    expect(serverLog(system, 'a').snapshots.checkpoints().at(-1)?.index).toBe(last);
    applied.length = 0;
    await restartServer(system, a, { via: node });
    await until(a, node, (s) => s.role === 'follower' || s.role === 'leader');
    // Nothing at or below the checkpoint is applied again.
    expect(applied.filter((i) => i <= last)).toEqual([]);
    expect((await localQuery<number>(a, 'n', { via: node })).result).toBe(40);
    const after = await commands(ids, node, 5);
    await until(a, node, (s) => s.lastApplied >= after);
    expect((await localQuery<number>(a, 'n', { via: node })).result).toBe(45);
  });

  it("the machine's checkpoint effect bounds the replay after a kill", async () => {
    const { node, system } = await start();
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'effect-cp', 'tally-cp', ids, { via: node });
    const last = await commands(ids, node, 35);
    const a = ids[0] as ServerId;
    await until(a, node, (s) => s.lastApplied >= last);
    const log = serverLog(system, 'a');
    // Every member keeps them, leader or not; the newest is the last multiple of 10 applied.
    for (const name of ['a', 'b', 'c']) expect(serverLog(system, name).snapshots.checkpoints().at(-1)?.index).toBe(Math.floor(last / 10) * 10);
    const pid = (await serverStatus(a, { via: node }) as { pid?: Pid }).pid as Pid;
    applied.length = 0;
    node.exit(pid, 'kill'); // no terminate: no checkpoint at stop
    await until(a, node, (s) => (s as { pid?: Pid }).pid?.id !== pid.id && s.lastApplied >= last);
    const checkpointAt = Math.floor(last / 10) * 10;
    expect(log.snapshots.checkpoints().at(-1)?.index).toBe(checkpointAt);
    // The restart re-applied the entries after the checkpoint only.
    expect(Math.min(...applied)).toBe(checkpointAt + 1);
    expect((await localQuery<number>(a, 'n', { via: node })).result).toBe(35);
  });
});

describe('snapshot options', () => {
  it('snapshotEvery snapshots a machine that releases no cursor, and snapshotBackup archives the replaced ones', async () => {
    const { node, system } = await start();
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'every', 'tally-every', ids, { via: node, snapshotEvery: 10, snapshotBackup: true });
    const last = await commands(ids, node, 55);
    for (const id of ids) await until(id, node, (s) => s.lastApplied >= last);
    for (const name of ['a', 'b', 'c']) {
      const log = serverLog(system, name);
      const snap = await snapshotAt(system, name, (i) => i > last - 20);
      expect(snap).toBeGreaterThan(last - 20);
      expect(log.first()).toBe(snap + 1);
      const backups = await log.snapshots.backups();
      expect(backups.length).toBeGreaterThan(0);
      expect(readdirSync(log.snapshots.backupDir)).toEqual(backups);
    }
  });

  it('snapshotEvery stands aside for a machine that releases cursors', async () => {
    const { node, system } = await start();
    const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'release', 'tally-release', ids, { via: node, snapshotEvery: 3 });
    const last = await commands(ids, node, 30);
    for (const id of ids) await until(id, node, (s) => s.lastApplied >= last);
    // Snapshots at 3, 6, ... until the machine's first cursor (index 25), then only at its cursors.
    // The snapshot is written after the entry is applied: wait for it, then check nothing came later.
    for (const name of ['a', 'b', 'c']) await snapshotAt(system, name, (i) => i >= 25);
    await commands(ids, node, 3);
    for (const name of ['a', 'b', 'c']) expect(serverLog(system, name).snapshot()?.index).toBe(25);
  });

  it('refuses a bad snapshotEvery', async () => {
    const { node, system } = await start();
    const ids = [{ name: 'x', node: node.name }];
    await expect(startServer(system, 'bad', ids[0] as ServerId, 'tally-plain', ids, { via: node, snapshotEvery: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(startServer(system, 'bad', ids[0] as ServerId, 'tally-plain', ids, { via: node, snapshotBackup: 'yes' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
