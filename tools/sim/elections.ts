// Spurious elections: once faults stop, every link works and every member runs, so a
// member that starts an election while a leader is up and followed by a quorum of its
// voters disrupts a healthy cluster (pending commands fail, writes stall). Counted per
// seed rather than failed: the report shows how often it happens.

import type { SimHost, SimMember } from './world.js';

/** Long enough for any election timer a restart arms (leader-down, maybe-down, retry). */
const QUIET_PERIOD_MS = 6_000;

export class ElectionWatch {
  spurious = 0;

  constructor(
    private readonly host: SimHost,
    private readonly strict: boolean,
  ) {}

  /**
   * The cluster is idle and healthy: restart one follower (a node restart, say) and keep
   * running a while. Returns when the quiet period ends.
   */
  startQuietPeriod(): number {
    const host = this.host;
    host.note('QUIET: idle cluster, one follower restarts');
    host.schedule(host.rng.intBetween(100, 1000), {
      type: 'nemesis',
      step: () => {
        const followers = host.alive().filter((m) => m.core!.role === 'follower' && m.core!.isVoter());
        if (followers.length === 0) return;
        const member = host.rng.pick(followers);
        host.count('idleRestart');
        host.crash(member, 'crash');
        host.schedule(host.rng.intBetween(50, 500), { type: 'restart', to: member.key });
      },
    });
    return host.now() + QUIET_PERIOD_MS;
  }

  onCandidate(candidate: SimMember): void {
    if (this.host.phase() !== 'liveness') return;
    const leader = this.healthyLeader();
    if (leader === undefined || leader === candidate) return;
    this.spurious += 1;
    const what = `${candidate.key} stands while ${leader.key} leads term ${leader.core!.currentTerm}, followed by a quorum`;
    this.host.note(`SPURIOUS ELECTION: ${what}`);
    if (this.strict) this.host.invariants.fail('spurious election', what);
  }

  /**
   * A running leader of the newest term that a quorum of its voters, running too, know
   * as their leader in its term (right after the heal some may not have heard of it yet).
   */
  private healthyLeader(): SimMember | undefined {
    const now = this.host.now();
    const leader = this.host.leader();
    const core = leader?.core;
    if (leader === undefined || core === undefined || leader.pausedUntilMs > now) return undefined;
    const voters = core.cluster.current().members.filter((m) => m.membership === 'voter');
    const following = voters.filter((m) => {
      const member = this.host.member(m.id.name);
      const other = member.core;
      if (other === undefined || member.pausedUntilMs > now) return false;
      return member === leader || (other.currentTerm === core.currentTerm && other.leaderId?.name === leader.key);
    }).length;
    return following >= Math.floor(voters.length / 2) + 1 ? leader : undefined;
  }
}
