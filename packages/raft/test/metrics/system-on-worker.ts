// Loaded by module specifier on a worker scheduler of the metrics test: a Raft system and
// a three-member cluster on that thread, a way to make the thread die, and a clean stop.

import type { Behaviour, Pid } from '@rafter/actors';
import { type RaftSystem, registerMachine, type ServerId, startCluster, startSystem } from '../../src/index.js';

registerMachine('worker-counter', {
  init: () => 0,
  apply: (_meta: unknown, command: { add: number }, state: number) => ({ state: state + command.add, reply: state + command.add }),
});

export type HostRequest = { readonly op: 'startCluster'; readonly cluster: string; readonly ids: readonly ServerId[] } | { readonly op: 'exitThread' } | { readonly op: 'stop' };
export type HostStarted = { readonly system: Pid; readonly leader: ServerId };

export const systemHost: Behaviour<RaftSystem, { name: string; dataDir: string }> = {
  init: (ctx, args) => startSystem(ctx, { name: args.name, dataDir: args.dataDir }),
  async handleCall(request: HostRequest, _from, system, ctx) {
    if (request.op === 'exitThread') process.exit(3);
    if (request.op === 'stop') {
      await system.stop();
      return { reply: true, state: system };
    }
    const { leader } = await startCluster(system, request.cluster, 'worker-counter', request.ids, { via: ctx });
    if (leader === undefined) throw new Error(`cluster ${request.cluster} elected no leader`);
    return { reply: { system: system.pid, leader } satisfies HostStarted, state: system };
  },
};
