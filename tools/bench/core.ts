// `pnpm bench core [--json] [--runs N] [--commands N] [--batch N]`: the Raft core's own
// cost. Three in-process members over an in-memory log, messages delivered and writes
// completed at once; reports committed (applied on the leader) commands per second and
// messages sent per command. Two modes, run alternately: 64 `command` events between
// deliveries (one step each), and `commands` events of --batch commands (one step per
// batch, as a shell that drains its mailbox). No I/O: this is the ceiling the core sets
// on a server.

import { RaftCore, type CommandRequest, type CoreMachine, type Effect, type Event, type IndexTerm, type LogEntry, type LogReader, type Member, type RaftMessage, type ServerId, type SnapshotMeta } from '@rafter/raft/core';
import { formatRate, machine, median, printTable, progress } from './lib/report.js';

const COMMANDS_DEFAULT = 300_000;
/** Commands proposed between two rounds of delivery: a busy leader's mailbox. */
const PROPOSE_BATCH = 64;
/** Commands per `commands` event in the batched mode, unless --batch says otherwise. */
const COMMANDS_BATCH_DEFAULT = 64;
const WARMUP_COMMANDS = 50_000;

/** Append-only log in memory; a write completes when the bench says so. */
class BenchLog implements LogReader {
  #entries: LogEntry[] = [];
  #base = 0;
  #snapshot: SnapshotMeta | undefined;
  written = 0;

  first(): number {
    return this.#base + 1;
  }
  last(): IndexTerm {
    const n = this.#entries.length;
    if (n === 0) return { index: this.#base, term: this.#snapshot?.term ?? 0 };
    const tail = this.#entries[n - 1]!;
    return { index: tail.index, term: tail.term };
  }
  lastWritten(): IndexTerm {
    return { index: this.written, term: this.termAt(this.written) ?? 0 };
  }
  termAt(index: number): number | undefined {
    if (index === this.#base) return this.#snapshot?.term ?? 0;
    return this.#entries[index - this.#base - 1]?.term;
  }
  entries(from: number, to: number): readonly LogEntry[] {
    return this.#entries.slice(from - this.#base - 1, to - this.#base);
  }
  snapshot(): SnapshotMeta | undefined {
    return this.#snapshot;
  }
  append(entries: readonly LogEntry[]): void {
    const first = entries[0]!;
    this.#entries.length = first.index - this.#base - 1;
    this.written = Math.min(this.written, first.index - 1);
    for (const entry of entries) this.#entries.push(entry);
  }
  takeSnapshot(meta: SnapshotMeta): void {
    this.#entries = this.#entries.slice(meta.index - this.#base);
    this.#base = meta.index;
    this.#snapshot = meta;
  }
}

const counter: CoreMachine = {
  version: 1,
  init: () => 0,
  apply: (meta, command, state) => {
    const next = (state as number) + (command as number);
    // Release the log now and then, as a real machine does, so memory stays flat.
    return meta.index % 100_000 === 0 ? { state: next, effects: [{ type: 'release_cursor', index: meta.index, state: next }] } : { state: next };
  },
};

interface Member3 {
  readonly core: RaftCore;
  readonly log: BenchLog;
}

interface RunFigures {
  readonly commandsPerSec: number;
  /** Messages every member sent, per committed command. */
  readonly messagesPerCommand: number;
}

/**
 * Runs `commands` through a fresh three-member cluster. `batch` 0: PROPOSE_BATCH
 * `command` events between deliveries; otherwise `commands` events of `batch` each.
 */
function runOnce(commands: number, batch: number): RunFigures {
  const ids: ServerId[] = ['n1', 'n2', 'n3'].map((name) => ({ name, node: name }));
  const members: Member[] = ids.map((id) => ({ id, membership: 'voter' }));
  const cluster = new Map<string, Member3>();
  const queue: { to: string; from: ServerId; msg: RaftMessage }[] = [];
  let replies = 0;
  let messages = 0;
  const random = { intBetween: (min: number) => min };
  const perform = (name: string, effects: readonly Effect[]): void => {
    const member = cluster.get(name)!;
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send':
          messages += 1;
          queue.push({ to: effect.to.name, from: member.core.id, msg: effect.msg });
          break;
        case 'append':
          member.log.append(effect.entries);
          break;
        case 'reply':
          replies += 1;
          break;
        case 'persist':
          if (effect.sync) pending.push({ name, event: { type: 'persisted', term: effect.term, votedFor: effect.votedFor } });
          break;
        case 'snapshot':
          member.log.takeSnapshot(effect.meta);
          pending.push({ name, event: { type: 'snapshot_written', meta: effect.meta, outcome: 'written' } });
          break;
        case 'continue':
          pending.push({ name, event: { type: 'continue' } });
          break;
        default:
          break;
      }
    }
  };
  const pending: { name: string; event: Event }[] = [];
  const step = (name: string, event: Event): void => perform(name, cluster.get(name)!.core.step(event));
  const settle = (): void => {
    for (;;) {
      let moved = false;
      while (pending.length > 0 || queue.length > 0) {
        moved = true;
        const next = pending.shift();
        if (next !== undefined) {
          step(next.name, next.event);
          continue;
        }
        const message = queue.shift()!;
        step(message.to, { type: 'message', from: message.from, msg: message.msg });
      }
      for (const [name, member] of cluster) {
        const last = member.log.last();
        if (member.log.written < last.index) {
          member.log.written = last.index;
          step(name, { type: 'written', index: last.index, term: last.term });
          moved = true;
        }
      }
      if (!moved) return;
    }
  };
  for (const id of ids) {
    const log = new BenchLog();
    const core = new RaftCore({ id, log, machine: counter, random, initialMembers: members });
    cluster.set(id.name, { core, log });
    perform(id.name, core.start());
  }
  step('n1', { type: 'trigger_election' });
  settle();
  const leader = cluster.get('n1')!.core;
  if (leader.role !== 'leader') throw new Error('n1 did not become leader');
  replies = 0;
  messages = 0;
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < commands; ) {
    if (batch === 0) {
      for (let i = 0; i < PROPOSE_BATCH && sent < commands; i += 1, sent += 1) step('n1', { type: 'command', command: 1, priority: 'normal', from: sent });
    } else {
      const requests: CommandRequest[] = [];
      for (; requests.length < batch && sent < commands; sent += 1) requests.push({ command: 1, priority: 'normal', from: sent });
      step('n1', { type: 'commands', commands: requests });
    }
    settle();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (replies !== commands) throw new Error(`${replies} of ${commands} commands answered`);
  return { commandsPerSec: commands / seconds, messagesPerCommand: messages / commands };
}

function summarize(runs: readonly RunFigures[]): { median: number; min: number; max: number; messagesPerCommand: number } {
  const rates = runs.map((run) => run.commandsPerSec);
  return {
    median: Math.round(median(rates)),
    min: Math.round(Math.min(...rates)),
    max: Math.round(Math.max(...rates)),
    messagesPerCommand: Math.round(median(runs.map((run) => run.messagesPerCommand)) * 1000) / 1000,
  };
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const option = (name: string, fallback: number): number => {
    const at = argv.indexOf(name);
    return at >= 0 ? Number(argv[at + 1]) : fallback;
  };
  const runs = option('--runs', 5);
  const commands = option('--commands', COMMANDS_DEFAULT);
  const batch = option('--batch', COMMANDS_BATCH_DEFAULT);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, not ${batch}`);
  progress('warm-up');
  runOnce(WARMUP_COMMANDS, 0);
  runOnce(WARMUP_COMMANDS, batch);
  const single: RunFigures[] = [];
  const batched: RunFigures[] = [];
  // Alternate the modes so a shared machine's load falls on both alike.
  for (let run = 1; run <= runs; run += 1) {
    progress(`run ${run}/${runs}: ${commands} commands, one event each and in batches of ${batch}`);
    single.push(runOnce(commands, 0));
    batched.push(runOnce(commands, batch));
  }
  const one = summarize(single);
  const many = summarize(batched);
  const result = {
    runs,
    commands,
    proposeBatch: PROPOSE_BATCH,
    machine: machine(),
    commandsPerSec: one.median,
    commandsPerSecMin: one.min,
    commandsPerSecMax: one.max,
    messagesPerCommand: one.messagesPerCommand,
    commandsBatch: batch,
    batchedCommandsPerSec: many.median,
    batchedCommandsPerSecMin: many.min,
    batchedCommandsPerSecMax: many.max,
    batchedMessagesPerCommand: many.messagesPerCommand,
  };
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`core benchmark: ${result.machine.cpu}, Node ${process.version}; three members in one process, median of ${runs} runs\n`);
  printTable(
    ['figure', 'median', 'min', 'max', 'messages/command'],
    [
      [`commands committed, ${PROPOSE_BATCH} events per delivery round`, formatRate(result.commandsPerSec), formatRate(result.commandsPerSecMin), formatRate(result.commandsPerSecMax), String(result.messagesPerCommand)],
      [`commands committed, batches of ${batch} per event`, formatRate(result.batchedCommandsPerSec), formatRate(result.batchedCommandsPerSecMin), formatRate(result.batchedCommandsPerSecMax), String(result.batchedMessagesPerCommand)],
    ],
  );
}
