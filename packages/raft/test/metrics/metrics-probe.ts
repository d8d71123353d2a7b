// Loaded into each node process of the metrics test: an actor that reads this process's
// leaderboard and WAL counters (never calling a server), and a /metrics endpoint.

import type { Behaviour, Node } from '@rafter/actors';
import { lookupLeader, metricsRegistry, overview, type RaftSystem, serveMetrics } from '../../src/index.js';

export const PROBE_NAME = 'rafter_metrics_probe';

export type ProbeRequest =
  | { readonly op: 'leader'; readonly cluster: string }
  | { readonly op: 'wal' }
  | { readonly op: 'url' };

const probe: Behaviour<{ system: string; url: string }, { system: string; url: string }> = {
  init: (_ctx, args) => args,
  handleCall(request: ProbeRequest, _from, state) {
    switch (request.op) {
      case 'leader':
        return { reply: lookupLeader(request.cluster) ?? null, state };
      case 'wal':
        return { reply: overview(state.system).wal, state };
      case 'url':
        return { reply: state.url, state };
    }
  },
};

/** Called by node-main once the node and its system are up. */
export async function nodeStarted({ node, system }: { node: Node; system: RaftSystem }): Promise<void> {
  const { url } = await serveMetrics(metricsRegistry(system));
  node.spawn(probe, { system: system.name, url }, { name: PROBE_NAME });
}
