// The raft benchmark's recovery sections: how long a member (and a node) restart takes
// until the member has applied a log of 1,000,000 entries again, replaying all of it or
// starting from the checkpoint its clean stop wrote; and how fast a large snapshot installs on a new member
// in another node process (the leader streams the file, the follower writes it as it comes).

import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Pid, silentLogger } from '@rafter/actors';
import { type ServerId, addMember, processCommand, restartServer, serverStatus, startCluster, startServer, startSystem, stopServer } from '@rafter/raft';
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
  /** Node restart (its log storage recovers too: WAL scan, segments) until the member has applied every entry again, replaying the whole log. */
  readonly restartSecondsReplay: number;
  /** The same, from the checkpoint the member's clean stop wrote. */
  readonly restartSecondsCheckpoint: number;
  /** Member restart alone (stopServer, restartServer; the storage stays open, its entries in memory), without and with the checkpoint. */
  readonly memberRestartSecondsReplay: number;
  readonly memberRestartSecondsCheckpoint: number;
  readonly restartEntries: number;
  readonly restartFillSeconds: number;
}

type Kind = 'replay' | 'checkpoint';

/**
 * One member (a cluster of one, counter machine) fills its log to `entries` applied
 * commands with pipelined clients. Then it is stopped cleanly (the server writes its
 * checkpoint) and restarted, once with the checkpoint deleted (the member replays the
 * whole log: entries read, decoded and applied) and once with it; first as a member
 * restart (restartServer: the log storage stays open), then as a node restart (the
 * node and its system stop and start again, so the storage's own recovery, the same
 * in both, is in the figure). Each is timed until the member has applied every entry.
 */
export async function restartTimes(entries: number): Promise<RestartTimes> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-bench-restart-'));
  const system = 'restart';
  let node = await Node.start({ name: 'restart', dirtyThreads: 1, logger: silentLogger });
  const idOn = (n: Node): ServerId => ({ name: 'solo', node: n.name });
  try {
    let sys = await startSystem(node, { name: system, dataDir: dir });
    await startCluster(sys, 'restart', 'counter', [idOn(node)], { via: node });
    progress(`restart: filling one member's log to ${entries.toLocaleString('en')} applied entries`);
    const fillStart = performance.now();
    const clients: Pid[] = [];
    for (let i = 0; i < 4; i++) clients.push(node.spawn(loadClient, { servers: [idOn(node)], window: 1_000 }));
    await appliedBy(node, idOn(node), entries, fillStart, 600_000);
    for (const pid of clients) node.send(pid, { type: 'stop' });
    // The windows drain: wait until applying stops moving.
    let last = -1;
    for (;;) {
      const s = await serverStatus(idOn(node), { via: node });
      if (s.lastApplied === last && s.commitIndex === s.lastApplied) break;
      last = s.lastApplied;
      await sleep(200);
    }
    for (const pid of clients) node.exit(pid, 'kill');
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const dropCheckpoints = (kind: Kind): void => {
      const files = checkpointFiles(dir);
      if (files.length === 0) throw new Error('the clean stop wrote no checkpoint');
      if (kind === 'replay') for (const f of files) rmSync(f);
    };
    const member: Record<Kind, number> = { replay: 0, checkpoint: 0 };
    for (const kind of ['replay', 'checkpoint'] as const) {
      await stopServer(sys, idOn(node), { via: node });
      dropCheckpoints(kind);
      progress(`restart: member restart, ${kind === 'replay' ? 'replaying its whole log' : 'from its checkpoint'}`);
      const t0 = performance.now();
      await restartServer(sys, idOn(node), { via: node, timeoutMs: 600_000 });
      member[kind] = await appliedBy(node, idOn(node), last, t0, 600_000);
    }
    const whole: Record<Kind, number> = { replay: 0, checkpoint: 0 };
    for (const kind of ['replay', 'checkpoint'] as const) {
      await sys.stop();
      await node.stop();
      dropCheckpoints(kind);
      node = await Node.start({ name: 'restart', dirtyThreads: 1, logger: silentLogger });
      progress(`restart: node restart, member ${kind === 'replay' ? 'replaying its whole log' : 'from its checkpoint'}`);
      const t0 = performance.now();
      sys = await startSystem(node, { name: system, dataDir: dir });
      whole[kind] = await appliedBy(node, idOn(node), last, t0, 600_000);
    }
    await sys.stop();
    return {
      restartSecondsReplay: whole.replay,
      restartSecondsCheckpoint: whole.checkpoint,
      memberRestartSecondsReplay: member.replay,
      memberRestartSecondsCheckpoint: member.checkpoint,
      restartEntries: last,
      restartFillSeconds: fillSeconds,
    };
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
  const cluster = await ProcessCluster.start({ machineModules: [BLOB_MODULE], verbose: process.env.RAFTER_BENCH_VERBOSE === '1', snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
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
