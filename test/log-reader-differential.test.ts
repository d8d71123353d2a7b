// The simulator's in-memory log and ServerLog, driven through the same random runs of
// appends, overwrites, writes, snapshots, installs and flushes to segments, answer
// every LogReader question alike: the core is simulated on what it ships on.
import { describe, expect, it } from 'vitest';
import type { LogEntry, LogReader, SnapshotMeta } from '@rafter/raft/core';
import { seeded } from '../packages/raft/test/log/helpers.js';
import type { LogUnderTest } from '../packages/raft/test/log/log-reader-suite.js';
import { openServerLogUnderTest } from '../packages/raft/test/log/server-log-under-test.js';
import { openSimLog } from './sim-log-under-test.js';

type Op =
  | { kind: 'append'; back: number; count: number; termUp: number }
  | { kind: 'write' }
  | { kind: 'snapshot'; at: number }
  | { kind: 'install'; ahead: number; agree: boolean }
  | { kind: 'settle' };

/** A random operation, drawn from a seeded generator so a failing run replays. */
function randomOp(random: () => number): Op {
  const int = (n: number): number => Math.floor(random() * n);
  const roll = int(11);
  if (roll < 5) return { kind: 'append', back: int(7), count: 1 + int(40), termUp: int(2) };
  if (roll < 8) return { kind: 'write' };
  if (roll < 9) return { kind: 'snapshot', at: random() };
  if (roll < 10) return { kind: 'install', ahead: int(11) - 5, agree: random() < 0.5 };
  return { kind: 'settle' };
}

/** Everything the core can ask, as one comparable value. */
function observe(r: LogReader, withWritten: boolean) {
  const first = r.first();
  const last = r.last();
  const terms: Array<number | undefined> = [];
  for (let i = Math.max(1, first - 1); i <= last.index + 1; i++) terms.push(r.termAt(i));
  const entries = r.entries(first, last.index).map((e: LogEntry) => [e.index, e.term, e.payload]);
  const snap = r.snapshot();
  return { first, last, terms, entries, snapshot: snap && [snap.index, snap.term], ...(withWritten ? { written: r.lastWritten() } : {}) };
}

async function apply(logs: LogUnderTest[], op: Op, model: { term: number; tag: number }): Promise<boolean> {
  const r = (logs[0] as LogUnderTest).reader;
  const snapIndex = r.snapshot()?.index ?? 0;
  switch (op.kind) {
    case 'append': {
      const from = Math.max(snapIndex + 1, r.last().index + 1 - op.back);
      model.term += op.termUp;
      const tag = ++model.tag;
      const entries = Array.from({ length: op.count }, (_, k) => ({ index: from + k, term: model.term, payload: { type: 'command' as const, command: `${tag}:${from + k}` } }));
      for (const log of logs) log.append(entries);
      return false;
    }
    case 'write':
      for (const log of logs) await log.writeAll();
      return true;
    case 'snapshot': {
      for (const log of logs) await log.writeAll();
      const written = r.lastWritten().index;
      if (written <= snapIndex) return true;
      const index = snapIndex + 1 + Math.floor(op.at * (written - snapIndex));
      const meta: SnapshotMeta = { index, term: r.termAt(index) as number, members: [], machineVersion: 0 };
      for (const log of logs) await log.snapshot(meta, `state@${index}`);
      return true;
    }
    case 'install': {
      const index = Math.max(snapIndex + 1, r.last().index + op.ahead);
      const own = r.termAt(index);
      if (!op.agree || own === undefined) model.term += 1;
      const meta: SnapshotMeta = { index, term: op.agree && own !== undefined ? own : model.term, members: [], machineVersion: 0 };
      for (const log of logs) await log.install(meta, `installed@${index}`);
      return false;
    }
    case 'settle':
      for (const log of logs) await log.writeAll();
      for (const log of logs) await log.settle();
      return true;
  }
}

const RUNS = 30;
const OPS_PER_RUN = 25;

describe('SimLog and ServerLog under the same random runs', () => {
  for (let seed = 1; seed <= RUNS; seed++) {
    it(`answer every LogReader question alike (seed ${seed})`, async () => {
      const random = seeded(seed);
      const sim = openSimLog();
      const server = await openServerLogUnderTest();
      const done: Op[] = [];
      try {
        const model = { term: 1, tag: 0 };
        for (let k = 0; k < OPS_PER_RUN; k++) {
          const op = randomOp(random);
          done.push(op);
          const settled = await apply([sim, server], op, model);
          expect(observe(server.reader, settled), JSON.stringify(done)).toEqual(observe(sim.reader, settled));
        }
        for (const log of [sim, server]) await log.writeAll();
        expect(observe(server.reader, true), JSON.stringify(done)).toEqual(observe(sim.reader, true));
      } finally {
        await server.close();
      }
    });
  }
});
