// A pipelining client (an actor on the control node) keeps 1,000 commands in flight while
// the leader's process is killed: every command ends applied exactly once, rejected, or
// timed out, and none is applied twice (the recorder machine counts applies per id).

import type { ActorContext, DownMessage, Ref } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type PipelineEvent, type ServerId, isPipelineEvent, localQuery, pipelineCommand, serverStatus, startCluster } from '../../src/index.js';
import { RECORDER_MODULE, leaderOf, sameId, waitFor } from './helpers.js';

const COMMANDS_TOTAL = 3_000;
const INFLIGHT_MAX = 1_000;
const COMMAND_TIMEOUT_MS = 2_000;

type Outcome = 'applied' | `rejected:${string}` | 'timeout';

/** What the client actor reports; shared by reference, as it runs on this thread. */
interface ClientLog {
  readonly outcomes: Map<number, Outcome>;
  /** An `applied` for a correlation already reported applied: must never happen. */
  duplicateAcks: number;
  /** Applied after being reported timed out (allowed: a timeout says it may still apply). */
  lateApplied: number;
  appliedByLeader: Map<string, number>;
  inflight: number;
  inflightAtKill: number | undefined;
  killed: boolean;
  done: boolean;
}

let cluster: ProcessCluster;
beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [RECORDER_MODULE] });
});
afterAll(async () => {
  await cluster?.stop();
});

function key(id: ServerId): string {
  return `${id.name}@${id.node}`;
}

/** Sends commands to the server it believes leads, follows rejections' leader hints, and moves on when its target goes down. */
function client(ids: readonly ServerId[], log: ClientLog) {
  return async (ctx: ActorContext): Promise<void> => {
    const sentAt = new Map<number, number>();
    let target = ids[0] as ServerId;
    let watch: { ref: Ref; id: ServerId } | undefined;
    let next = 0;
    const retarget = (to: ServerId | undefined): void => {
      target = to ?? (ids[(ids.findIndex((s) => sameId(s, target)) + 1) % ids.length] as ServerId);
      if (watch !== undefined && sameId(watch.id, target)) return;
      if (watch !== undefined) ctx.demonitor(watch.ref);
      watch = { ref: ctx.monitor({ name: target.name, node: target.node }), id: target };
    };
    retarget(target);
    const settle = (corr: number, outcome: Outcome): void => {
      if (!sentAt.delete(corr)) return;
      log.outcomes.set(corr, outcome);
    };
    while (next < COMMANDS_TOTAL || sentAt.size > 0) {
      while (sentAt.size < INFLIGHT_MAX && next < COMMANDS_TOTAL) {
        pipelineCommand(ctx, target, { id: `p${next}` }, next);
        sentAt.set(next, Date.now());
        next++;
      }
      log.inflight = sentAt.size;
      const msg = await ctx.receive<PipelineEvent | DownMessage>(undefined, 50);
      if (msg !== undefined && isPipelineEvent(msg)) {
        const event = msg.event;
        if (event.type === 'applied') {
          log.appliedByLeader.set(key(msg.from), (log.appliedByLeader.get(key(msg.from)) ?? 0) + event.replies.length);
          for (const [corr] of event.replies) {
            const c = corr as number;
            const seen = log.outcomes.get(c);
            if (seen === 'applied') log.duplicateAcks++;
            else if (seen === 'timeout') {
              log.lateApplied++;
              log.outcomes.set(c, 'applied');
            } else settle(c, 'applied');
          }
          if (!sameId(msg.from, target)) retarget(msg.from);
        } else {
          settle(event.correlation as number, `rejected:${event.reason}`);
          if (!sameId(event.leader, target)) retarget(event.leader);
        }
      } else if (msg !== undefined && (msg as DownMessage).type === 'DOWN' && watch !== undefined && (msg as DownMessage).ref === watch.ref) {
        watch = undefined;
        retarget(undefined);
      }
      const now = Date.now();
      for (const [corr, at] of sentAt) if (now - at > COMMAND_TIMEOUT_MS) settle(corr, 'timeout');
    }
    log.inflight = 0;
    log.done = true;
  };
}

describe('a pipelined client across a leader crash', () => {
  it('applies every command at most once, and every acknowledged one exactly once', async () => {
    const ids = cluster.serverIds('pipe_');
    await startCluster(cluster.system, 'pipe', 'recorder', ids, { via: cluster.control });
    const leader = await leaderOf(ids, cluster.control);
    const log: ClientLog = { outcomes: new Map(), duplicateAcks: 0, lateApplied: 0, appliedByLeader: new Map(), inflight: 0, inflightAtKill: undefined, killed: false, done: false };
    cluster.control.spawn(client(ids, log));

    await waitFor('300 commands applied', async () => [...log.outcomes.values()].filter((o) => o === 'applied').length, (n) => n >= 300);
    log.inflightAtKill = log.inflight;
    await cluster.kill(cluster.indexOf(leader.node));
    await waitFor('the client to settle every command', async () => log.done, (done) => done, 30_000);

    const survivors = ids.filter((s) => !sameId(s, leader));
    const newLeader = await leaderOf(survivors, cluster.control);
    const status = await serverStatus(newLeader, { via: cluster.control });
    for (const s of survivors) {
      await waitFor(`${s.name} to apply up to the new leader's commit`, () => serverStatus(s, { via: cluster.control }), (st) => st.lastApplied >= status.commitIndex);
    }
    const [countsA, countsB] = await Promise.all(survivors.map((s) => localQuery<Record<string, number>>(s, 'counts', { via: cluster.control }).then((r) => r.result)));

    const outcomes = [...log.outcomes.entries()];
    const applied = outcomes.filter(([, o]) => o === 'applied').map(([c]) => c);
    const notLeader = outcomes.filter(([, o]) => o === 'rejected:RAFTER_NOT_LEADER').map(([c]) => c);
    const counts = countsA as Record<string, number>;
    const summary = {
      applied: applied.length,
      rejected: outcomes.filter(([, o]) => o.startsWith('rejected')).length,
      timedOut: outcomes.filter(([, o]) => o === 'timeout').length,
      timedOutYetApplied: outcomes.filter(([c, o]) => o === 'timeout' && counts[`p${c}`] === 1).length,
      lateApplied: log.lateApplied,
      inflightAtKill: log.inflightAtKill,
      appliedByLeader: Object.fromEntries(log.appliedByLeader),
    };
    console.info('pipeline across a leader kill:', JSON.stringify(summary));

    expect(log.outcomes.size).toBe(COMMANDS_TOTAL);
    expect(log.duplicateAcks).toBe(0);
    expect(log.inflightAtKill).toBeGreaterThan(INFLIGHT_MAX / 2);
    expect(countsA).toEqual(countsB);
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    for (const c of applied) expect(counts[`p${c}`]).toBe(1);
    // Refused as not the leader: it never reached a log.
    for (const c of notLeader) expect(counts[`p${c}`]).toBeUndefined();
    // Both leaders applied some: the client went on through the crash.
    expect(log.appliedByLeader.get(key(leader))).toBeGreaterThan(0);
    expect(log.appliedByLeader.get(key(newLeader))).toBeGreaterThan(0);
  });
});
