// The raft benchmark's recovery sections: how long a node restart takes until its member
// has applied a log of 1,000,000 entries again, replaying all of it or starting from the
// checkpoint its clean stop wrote; and how fast a large snapshot installs on a new member
// in another node process (the leader streams the file, the follower writes it as it comes).

import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { type ServerId, addMember, processCommand, serverStatus, startCluster, startServer, startSystem } from '@rafter/raft';
import { ProcessCluster } from '../../cluster/process-cluster.js';
import '../../cluster/machines/counter.js';
import { loadClient } from './raft-load.js';
import { progress } from './report.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the member's status until it has applied `index`; seconds since `since`. */
async function appliedBy(node: Node, id: ServerId, index: number, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await serverStatus(id, { via: node, timeoutMs: 30_000 }).catch(() => undefined);
    if (status !== undefined && status.lastApplied >= index) return (performance.now() - since) / 1000;
    if (Date.now() > deadline) throw new Error(`${id.name} did not apply ${index} within ${timeoutMs} ms (at ${status?.lastApplied ?? '?'})`);
    await sleep(5);
  }
}

function checkpointFiles(dataDir: string): string[] {
  const servers = join(dataDir, 'log', 'servers');
  const out: string[] = [];
  for (const uid of readdirSync(servers)) {
    const dir = join(servers, uid, 'checkpoints');
    for (const name of readdirSync(dir)) if (name.endsWith('.snap')) out.push(join(dir, name));
  }
  return out;
}

export interface RestartTimes {
  readonly restartSecondsReplay: number;
  readonly restartSecondsCheckpoint: number;
  readonly restartEntries: number;
  readonly restartFillSeconds: number;
}

/**
 * One member (a cluster of one, counter machine) fills its log to `entries` applied
 * commands with pipelined clients; then the node stops cleanly (the server writes its
 * checkpoint) and starts again twice: once with the checkpoint deleted (the member
 * replays the whole log) and once with it. Each figure runs from startSystem on the
 * stopped node's data until the member has applied every entry again, so it includes
 * the log storage's own recovery (WAL scan, segments), the same in both.
 */
export async function restartTimes(entries: number): Promise<RestartTimes> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-bench-restart-'));
  const system = 'restart';
  let node = await Node.start({ name: 'restart', dirtyThreads: 1, logger: silentLogger });
  const id: ServerId = { name: 'solo', node: node.name };
  try {
    let sys = await startSystem(node, { name: system, dataDir: dir });
    await startCluster(sys, 'restart', 'counter', [id], { via: node });
    progress(`restart: filling one member's log to ${entries.toLocaleString('en')} applied entries`);
    const fillStart = performance.now();
    const clients: Pid[] = [];
    for (let i = 0; i < 4; i++) clients.push(node.spawn(loadClient, { servers: [id], window: 1_000 }));
    await appliedBy(node, id, entries, fillStart, 600_000);
    for (const pid of clients) node.send(pid, { type: 'stop' });
    // The windows drain: wait until applying stops moving.
    let last = -1;
    for (;;) {
      const s = await serverStatus(id, { via: node });
      if (s.lastApplied === last && s.commitIndex === s.lastApplied) break;
      last = s.lastApplied;
      await sleep(200);
    }
    for (const pid of clients) node.exit(pid, 'kill');
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const times: Record<'replay' | 'checkpoint', number> = { replay: 0, checkpoint: 0 };
    for (const kind of ['replay', 'checkpoint'] as const) {
      await sys.stop();
      await node.stop();
      const files = checkpointFiles(dir);
      if (files.length === 0) throw new Error('the clean stop wrote no checkpoint');
      if (kind === 'replay') for (const f of files) rmSync(f);
      node = await Node.start({ name: 'restart', dirtyThreads: 1, logger: silentLogger });
      progress(`restart: node restart, member ${kind === 'replay' ? 'replays its whole log' : 'starts from its checkpoint'}`);
      const t0 = performance.now();
      sys = await startSystem(node, { name: system, dataDir: dir });
      times[kind] = await appliedBy(node, { name: 'solo', node: node.name }, last, t0, 600_000);
    }
    await sys.stop();
    return { restartSecondsReplay: times.replay, restartSecondsCheckpoint: times.checkpoint, restartEntries: last, restartFillSeconds: fillSeconds };
  } finally {
    await node.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface InstallRate {
  readonly snapshotInstallMBPerSec: number;
  readonly snapshotInstallSeconds: number;
  readonly snapshotInstallBytes: number;
}

const BLOB_MODULE = new URL('../../cluster/machines/blob.ts', import.meta.url).href;

/**
 * Three node processes: two members grow a state of `mib` MiB (the blob machine) and
 * snapshot it, dropping their log; a third member is then added on the third node and
 * must install the snapshot. Timed from addMember until the new member has applied the
 * snapshot's index (transfer, checks, decoding the state); MB/s is the snapshot file's
 * size (10^6 bytes) over that time.
 */
export async function snapshotInstallRate(mib: number): Promise<InstallRate> {
  const cluster = await ProcessCluster.start({ machineModules: [BLOB_MODULE], snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
  try {
    const via = cluster.control;
    const all = cluster.serverIds('install_');
    const founders = all.slice(0, 2);
    const newcomer = all[2] as ServerId;
    await startCluster(cluster.system, 'install', 'blob', founders, { via });
    progress(`install: growing a ${mib} MiB state and snapshotting it`);
    for (let i = 0; i < Math.ceil(mib / 4); i++) await processCommand(founders, { grow: Math.min(4, mib - i * 4) }, { via, timeoutMs: 60_000 });
    const { reply: releasedAt } = await processCommand<number>(founders, { release: true }, { via, timeoutMs: 60_000 });
    const name = `${String(releasedAt).padStart(16, '0')}.snap`;
    const snapshotOf = (dataDir: string): number | undefined => {
      const servers = join(dataDir, 'log', 'servers');
      for (const uid of readdirSync(servers)) {
        const path = join(servers, uid, 'snapshots', name);
        try {
          return statSync(path).size;
        } catch {
          // not there yet
        }
      }
      return undefined;
    };
    for (const n of cluster.nodes.slice(0, 2)) while (snapshotOf(n.dataDir) === undefined) await sleep(50);
    const bytes = snapshotOf(cluster.nodes[0]!.dataDir) as number;
    await startServer(cluster.system, 'install', newcomer, 'blob', all, { via });
    progress(`install: adding a member that installs the ${(bytes / 1e6).toFixed(0)} MB snapshot`);
    const t0 = performance.now();
    await addMember(founders, newcomer, { via, timeoutMs: 60_000 });
    const seconds = await appliedBy(via, newcomer, releasedAt, t0, 600_000);
    if (snapshotOf(cluster.nodes[2]!.dataDir) !== bytes) throw new Error('the new member holds no snapshot of the same size');
    return { snapshotInstallMBPerSec: bytes / 1e6 / seconds, snapshotInstallSeconds: seconds, snapshotInstallBytes: bytes };
  } finally {
    await cluster.stop();
  }
}
