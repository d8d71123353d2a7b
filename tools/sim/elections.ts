// Spurious elections: once faults stop, every link works and every member runs, so a
// member that starts an election while a leader is up and heard by a quorum of its
// voters disrupts a healthy cluster (pending commands fail, writes stall). Counted per
// seed rather than failed: the report shows how often it happens.

import type { SimHost, SimMember } from './world.js';

export class ElectionWatch {
  spurious = 0;

  constructor(private readonly host: SimHost) {}

  onCandidate(candidate: SimMember): void {
    if (this.host.phase() !== 'liveness') return;
    const leader = this.healthyLeader();
    if (leader === undefined || leader === candidate) return;
    this.spurious += 1;
    this.host.note(`SPURIOUS ELECTION: ${candidate.key} stands while ${leader.key} leads term ${leader.core!.currentTerm}`);
  }

  /** A running leader of the newest term, with a quorum of its voters running too. */
  private healthyLeader(): SimMember | undefined {
    const now = this.host.now();
    const running = (m: SimMember): boolean => m.core !== undefined && m.pausedUntilMs <= now;
    const leader = this.host.leader();
    if (leader === undefined || !running(leader)) return undefined;
    const voters = leader.core!.cluster.current().members.filter((m) => m.membership === 'voter');
    const up = voters.filter((m) => running(this.host.member(m.id.name))).length;
    return up >= Math.floor(voters.length / 2) + 1 ? leader : undefined;
  }
}
