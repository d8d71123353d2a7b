// A pipelining client (an actor on the control node) keeps 1,000 commands in flight while
// the leader's process is killed: every command ends applied exactly once, rejected, or
// timed out, and none is applied twice (the recorder machine counts applies per id).

import type { ActorContext, DownMessage, Ref } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type PipelineEvent, type ServerId, isPipelineEvent, localQuery, pipelineCommand, serverStatus, startCluster } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, RECORDER_MODULE, leaderOf, sameId, waitFor } from './helpers.js';

/** A bound only: the test stops the client once the new leader has applied some. */
const COMMANDS_MAX = 6_000;
const INFLIGHT_MAX = 1_000;
const COMMAND_TIMEOUT_MS = 10_000;
const RESENDS_MAX = 50;
const RESEND_PAUSE_MS = 100;

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
  /** Set by the test: send no more, settle what is in flight. */
  stop: boolean;
  sent: number;
  done: boolean;
}

let cluster: ProcessCluster;
beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [RECORDER_MODULE] });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

function key(id: ServerId): string {
  return `${id.name}@${id.node}`;
}

/**
 * Sends commands to the server it believes leads and follows leader hints. A command
 * refused as "not the leader" never reached a log, so it is sent again (a few times);
 * one in flight to a server that went down, or unanswered for too long, may or may not
 * apply: it is reported timed out.
 */
function client(ids: readonly ServerId[], log: ClientLog) {
  return async (ctx: ActorContext): Promise<void> => {
    const inflight = new Map<number, { at: number; to: string; attempts: number }>();
    const resend: number[] = [];
    let resendAfter = 0;
    let target = ids[0] as ServerId;
    let watch: { ref: Ref; id: ServerId } | undefined;
    let next = 0;
    const down = new Set<string>();
    const retarget = (to: ServerId | undefined): void => {
      const from = ids.findIndex((s) => sameId(s, target));
      const alive = [1, 2, 3].map((i) => ids[(from + i) % ids.length] as ServerId).find((s) => !down.has(key(s)));
      target = to ?? alive ?? target;
      if (watch !== undefined && sameId(watch.id, target)) return;
      if (watch !== undefined) ctx.demonitor(watch.ref);
      watch = { ref: ctx.monitor({ name: target.name, node: target.node }), id: target };
    };
    retarget(target);
    const send = (corr: number, attempts: number): void => {
      pipelineCommand(ctx, target, { id: `p${corr}` }, corr);
      inflight.set(corr, { at: Date.now(), to: key(target), attempts });
    };
    const settle = (corr: number, outcome: Outcome): void => {
      if (!inflight.delete(corr)) return;
      log.outcomes.set(corr, outcome);
    };
    const more = (): boolean => !log.stop && next < COMMANDS_MAX;
    while (more() || inflight.size > 0 || resend.length > 0) {
      if (Date.now() >= resendAfter) for (const corr of resend.splice(0)) send(corr, (inflight.get(corr)?.attempts ?? 0) + 1);
      while (inflight.size + resend.length < INFLIGHT_MAX && more()) send(next++, 1);
      log.sent = next;
      log.inflight = inflight.size + resend.length;
      const msg = await ctx.receive<PipelineEvent | DownMessage>(undefined, 20);
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
          const corr = event.correlation as number;
          const sent = inflight.get(corr);
          if (event.reason === 'RAFTER_NOT_LEADER' && sent !== undefined && sent.attempts < RESENDS_MAX) {
            resend.push(corr);
            // No leader known: an election is under way; resending at once would only load it.
            if (event.leader === undefined) resendAfter = Date.now() + RESEND_PAUSE_MS;
          } else settle(corr, `rejected:${event.reason}`);
          // Without a hint the member learns the new leader soon: stay with it.
          if (event.leader !== undefined && !down.has(key(event.leader)) && !sameId(event.leader, target)) retarget(event.leader);
        }
      } else if (msg !== undefined && (msg as DownMessage).type === 'DOWN' && watch !== undefined && (msg as DownMessage).ref === watch.ref) {
        const gone = key(watch.id);
        down.add(gone);
        watch = undefined;
        for (const [corr, sent] of inflight) if (sent.to === gone && !resend.includes(corr)) settle(corr, 'timeout');
        retarget(undefined);
      }
      const now = Date.now();
      for (const [corr, sent] of inflight) if (now - sent.at > COMMAND_TIMEOUT_MS && !resend.includes(corr)) settle(corr, 'timeout');
    }
    log.inflight = 0;
    log.done = true;
  };
}

describe('a pipelined client across a leader crash', () => {
  it('applies every command at most once, and every acknowledged one exactly once', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = cluster.serverIds('pipe_');
    await startCluster(cluster.system, 'pipe', 'recorder', ids, { via: cluster.control });
    const leader = await leaderOf(ids, cluster.control);
    const log: ClientLog = { outcomes: new Map(), duplicateAcks: 0, lateApplied: 0, appliedByLeader: new Map(), inflight: 0, inflightAtKill: undefined, stop: false, sent: 0, done: false };
    cluster.control.spawn(client(ids, log));

    await waitFor('300 commands applied', async () => [...log.outcomes.values()].filter((o) => o === 'applied').length, (n) => n >= 300);
    log.inflightAtKill = log.inflight;
    await cluster.kill(cluster.indexOf(leader.node));
    const killedAt = Date.now();
    const appliedByOthers = (): number => [...log.appliedByLeader.entries()].filter(([k]) => k !== key(leader)).reduce((n, [, c]) => n + c, 0);
    await waitFor('a new leader to apply 500 of them', async () => appliedByOthers(), (n) => n >= 500, 20_000);
    const newLeaderMs = Date.now() - killedAt;
    log.stop = true;
    await waitFor('the client to settle every command', async () => log.done, (done) => done, 30_000);
    const settledMs = Date.now() - killedAt;

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
      sent: log.sent,
      msToAppliedByNewLeader: newLeaderMs,
      settledMsAfterKill: settledMs,
      appliedByLeader: Object.fromEntries(log.appliedByLeader),
    };
    console.info('pipeline across a leader kill:', JSON.stringify(summary));

    expect(log.outcomes.size).toBe(log.sent);
    expect(log.sent).toBeLessThan(COMMANDS_MAX);
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
