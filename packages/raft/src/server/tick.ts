// Which servers need the slow tick. A tick is for recovery from lost messages and for
// lazy bookkeeping: the leader resends to followers that made no progress, sends a
// commit index not yet sent, continues a snapshot transfer, promotes a caught-up
// member, repeats a read-index round; every member stores its applied index; a machine
// with `tick` gets it on the leader. An idle member needs none of it, so the system
// ticks only the servers this says need it: idle clusters cost no timer and no message.

import type { RaftCore } from '../internal/core/core.js';
import { findMember } from '../internal/core/cluster.js';
import type { ServerInterpreter } from './interpreter.js';
import type { Machine } from './machine.js';

export function wantsTick(shell: ServerInterpreter, machine: Machine): boolean {
  const core = shell.core;
  if (shell.appliedUnstored()) return true;
  return core.role === 'leader' && (machine.tick !== undefined || leaderHasWork(core));
}

function leaderHasWork(core: RaftCore): boolean {
  const lead = core.lead;
  if (lead.queries.length > 0) return true;
  const last = core.log.last().index;
  const members = core.cluster.current().members;
  for (const peer of lead.peers.values()) {
    if (peer.snapshot !== undefined || peer.matchIndex < last || peer.commitIndexSent < core.commitIndex) return true;
    if (findMember(members, peer.id)?.membership === 'promotable') return true;
  }
  return false;
}
