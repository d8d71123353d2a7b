// Loaded into each node process of the raft benchmark (through machineModules): an actor
// registered as `rafter_bench` that reports the process's counters, finds actors by
// name, runs pipelined clients next to the servers, and takes CPU profiles.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Behaviour, Node, Pid } from '@rafter/actors';
import { overview, type RaftSystem, type ServerId } from '@rafter/raft';
import { localSystem } from '../../../packages/raft/src/system/system.js';
import { loadClient, loadCounters } from './raft-load.js';

export const AGENT_NAME = 'rafter_bench';

export type AgentRequest =
  | { readonly op: 'stats' }
  | { readonly op: 'whereis'; readonly name: string }
  /** Every counter of the system's WAL. */
  | { readonly op: 'wal' }
  | { readonly op: 'load'; readonly servers: readonly ServerId[]; readonly clients: number; readonly window: number }
  | { readonly op: 'stopLoad' }
  | { readonly op: 'profile'; readonly ms: number; readonly file: string };

export interface AgentStats {
  readonly raftSent: number;
  readonly applied: number;
  readonly rejected: number;
  /** CPU time of the whole process, microseconds. */
  readonly cpuUs: number;
  /** The system's WAL: syncs and entries written so far. */
  readonly walSyncs: number;
  readonly walEntries: number;
}

/** Raft messages the servers of system `name` in this process sent to their peers. */
export function raftMessagesSent(name: string): number {
  let sent = 0;
  for (const server of Object.values(overview(name).servers)) sent += server.messagesSent;
  return sent;
}

/** The WAL counters of the system `name` on this thread. */
export async function walCounters(ctx: { call<R>(dest: Pid, request: unknown): Promise<R> }, name: string): Promise<{ syncs: number; entries: number }> {
  const wal = localSystem(name)?.handle.wal;
  if (wal === undefined) return { syncs: 0, entries: 0 };
  return ctx.call<{ syncs: number; entries: number }>(wal, { op: 'counters' });
}

interface AgentState {
  readonly system: string;
  clients: Pid[];
}

const agent: Behaviour<AgentState, string> = {
  init: (_ctx, system) => ({ system, clients: [] }),
  async handleCall(request: AgentRequest, _from, state, ctx) {
    switch (request.op) {
      case 'stats': {
        const cpu = process.cpuUsage();
        const wal = await walCounters(ctx, state.system);
        const stats: AgentStats = {
          raftSent: raftMessagesSent(state.system),
          applied: loadCounters.applied,
          rejected: loadCounters.rejected,
          cpuUs: cpu.user + cpu.system,
          walSyncs: wal.syncs,
          walEntries: wal.entries,
        };
        return { reply: stats, state };
      }
      case 'wal': {
        const wal = localSystem(state.system)?.handle.wal;
        return { reply: wal === undefined ? null : await ctx.call(wal, { op: 'counters' }), state };
      }
      case 'whereis':
        return { reply: ctx.whereis(request.name) ?? null, state };
      case 'load':
        for (let i = 0; i < request.clients; i++) state.clients.push(ctx.spawn(loadClient, { servers: request.servers, window: request.window }));
        return { reply: 'ok', state };
      case 'stopLoad':
        for (const pid of state.clients) ctx.exit(pid, 'kill');
        state.clients = [];
        return { reply: 'ok', state };
      case 'profile': {
        const session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        await new Promise((resolve) => setTimeout(resolve, request.ms));
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        writeFileSync(request.file, JSON.stringify(profile));
        return { reply: request.file, state };
      }
      default:
        return { reply: { error: `unknown op ${String((request as { op?: unknown }).op)}` }, state };
    }
  },
};

/** Called by node-main once the node and its system are up. */
export function nodeStarted({ node, system }: { node: Node; system: RaftSystem }): void {
  node.spawn(agent, system.name, { name: AGENT_NAME });
}
