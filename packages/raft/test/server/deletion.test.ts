// Deleting a server through its system: the log's deletion waits for the storage (the
// WAL's rollover, the segment writer's queued flushes), which takes seconds on a loaded
// machine. The system must answer other requests meanwhile, and a deletion that fails in
// the log must still leave nothing that restartServer brings back.

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger } from '@rafter/actors';
import { afterEach, expect, it } from 'vitest';
import { type ServerId, forceDeleteServer, registerMachine, restartServer, serverStatus, startServer, startSystem, stopServer } from '../../src/index.js';
import { NodeFs } from '../../src/storage.js';

registerMachine('deletion-counter', { init: () => 0, apply: (_meta: unknown, add: number, state: number) => ({ state: state + add }) });

/** Real files; removing anything under `held` waits at a gate the test opens, or fails. */
class LogRemovalGate extends NodeFs {
  private gate: Promise<void> | undefined;
  private release: () => void = () => undefined;
  private reached: () => void = () => undefined;
  failure: Error | undefined;
  /** Resolves when a removal under `held` is at the closed gate. */
  removalHeld: Promise<void> = Promise.resolve();

  constructor(private readonly held: string) {
    super();
  }

  holdRemovals(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
    this.removalHeld = new Promise((resolve) => (this.reached = resolve));
  }

  releaseRemovals(): void {
    this.gate = undefined;
    this.release();
  }

  override async rmrf(path: string): Promise<void> {
    if (path.startsWith(this.held)) {
      this.reached();
      if (this.gate !== undefined) await this.gate;
      if (this.failure !== undefined) throw this.failure;
    }
    await super.rmrf(path);
  }
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function start(): Promise<{ node: Node; system: Awaited<ReturnType<typeof startSystem>>; fs: LogRemovalGate; dir: string; ids: ServerId[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-deletion-'));
  const fs = new LogRemovalGate(join(dir, 'log'));
  const node = await Node.start({ name: 'del', dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'deletion', dataDir: dir, fs });
  cleanup.push(async () => {
    fs.releaseRemovals();
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = ['s1', 's2'].map((name) => ({ name, node: node.name }));
  for (const id of ids) await startServer(system, id.name, id, 'deletion-counter', [id], { via: node });
  return { node, system, fs, dir, ids };
}

function serverDirs(dir: string): string[] {
  return readdirSync(join(dir, 'log', 'servers'));
}

it('answers other requests while a deleted server\'s log is still being removed, and replies once it is gone', async () => {
  const { node, system, fs, dir, ids } = await start();
  const [s1, s2] = ids as [ServerId, ServerId];
  expect(serverDirs(dir)).toHaveLength(2);
  fs.holdRemovals();
  let deleted = false;
  const deleting = forceDeleteServer(system, s1, { via: node, timeoutMs: 30_000 }).then(() => void (deleted = true));
  await fs.removalHeld;
  // The system holds the deletion at the gate, yet answers at once: the server is already unknown.
  await expect(restartServer(system, s1, { via: node, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'RAFTER_UNKNOWN_SERVER' });
  await expect(serverStatus(s1, { via: node, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'RAFTER_NOPROC' });
  await stopServer(system, s2, { via: node, timeoutMs: 1_000 });
  await restartServer(system, s2, { via: node, timeoutMs: 1_000 });
  expect(deleted).toBe(false);
  fs.releaseRemovals();
  await deleting;
  expect(serverDirs(dir)).toHaveLength(1);
  expect((await serverStatus(s2, { via: node })).clusterName).toBe('s2');
});

it('a deletion that fails in the log leaves no configuration for restartServer to bring back', async () => {
  const { node, system, fs, dir, ids } = await start();
  const s1 = ids[0] as ServerId;
  fs.failure = new Error('disk gone');
  await expect(forceDeleteServer(system, s1, { via: node })).rejects.toMatchObject({ message: expect.stringMatching(/disk gone/) });
  // Before: the configuration went last, so the failed deletion left it, and this restarted the server.
  await expect(restartServer(system, s1, { via: node })).rejects.toMatchObject({ code: 'RAFTER_UNKNOWN_SERVER' });
  await expect(serverStatus(s1, { via: node, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'RAFTER_NOPROC' });
  expect(existsSync(join(dir, 'configs', 's1.cfg'))).toBe(false);
});
