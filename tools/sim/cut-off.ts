// A scripted nemesis: members cut off across two elections. Leader L and a follower X
// are cut off from a quorum, so X holds L's uncommitted suffix; the quorum elects M, L
// rejoins (M overwrites that suffix on L) and wins the next election by transfer, all
// while X hears only L and so keeps believing in L's old term. Then X is reconnected,
// at first over a lossy link, so a commit-only append or a far rewind can reach X
// before the batch that overwrites its stale entries. A follower must not count what it
// validated for L's old term as validated for the new one.

import type { SimHost, SimMember } from './world.js';

const POLL_MS = 25;
const ELECTION_WAIT_MS = 8_000;
const REJOIN_WAIT_MS = 6_000;
/** Below the simulated connection drop (400 ms), so X does not see L go away. */
const REELECTION_BLOCK_MS = 250;
const REELECTION_ATTEMPTS = 4;
const LOSSY_LINK_RATE = 0.4;

type Stage = 'elect' | 'rejoin' | 'reelect';

export class CutOffAcrossElections {
  #active = false;

  constructor(private readonly host: SimHost) {}

  get active(): boolean {
    return this.#active;
  }

  /** Starts the pattern if a leader with a suitable follower exists; false otherwise. */
  start(): boolean {
    const host = this.host;
    if (this.#active) return false;
    const leader = host.leader();
    const core = leader?.core;
    if (leader === undefined || core === undefined) return false;
    const config = core.cluster.current().members;
    const voters = config.filter((m) => m.membership === 'voter').length;
    const quorum = Math.floor(voters / 2) + 1;
    // The rest must elect without L and X: X may be a voter only if enough voters remain.
    const candidates = config
      .filter((m) => m.id.name !== leader.key && (m.membership !== 'voter' || voters - 2 >= quorum))
      .map((m) => host.member(m.id.name))
      .filter((m) => m.core?.role === 'follower' && m.core.leaderId?.name === leader.key && m.core.currentTerm === core.currentTerm);
    if (candidates.length === 0) return false;
    const x = host.rng.pick(candidates);
    this.#active = true;
    host.count('cutOffAcrossElections');
    host.note(`cut off {${leader.key},${x.key}} | rest; ${x.key} stays cut off across two elections`);
    this.blockBetween([leader.key, x.key], this.others([leader.key, x.key]));
    const run = new Run(host, leader, x, core.currentTerm, () => this.finish(run));
    run.poll('elect', host.now() + ELECTION_WAIT_MS);
    return true;
  }

  private finish(run: Run): void {
    this.#active = false;
    if (this.host.phase() !== 'faults') return; // the heal cleared every link already
    this.unblockBetween([run.l.key, run.x.key], this.others([run.l.key, run.x.key]));
  }

  others(keys: readonly string[]): string[] {
    return this.host.members().map((m) => m.key).filter((key) => !keys.includes(key));
  }

  blockBetween(a: readonly string[], b: readonly string[]): void {
    for (const p of a) for (const q of b) this.host.network.blocked.add(`${p}>${q}`).add(`${q}>${p}`);
  }

  unblockBetween(a: readonly string[], b: readonly string[]): void {
    for (const p of a) {
      for (const q of b) {
        this.host.network.blocked.delete(`${p}>${q}`);
        this.host.network.blocked.delete(`${q}>${p}`);
      }
    }
  }
}

class Run {
  #m: SimMember | undefined;
  #mTerm = 0;
  #attempts = 0;

  constructor(
    private readonly host: SimHost,
    readonly l: SimMember,
    readonly x: SimMember,
    private readonly term: number,
    private readonly done: () => void,
  ) {}

  poll(stage: Stage, deadlineMs: number): void {
    this.host.schedule(POLL_MS, { type: 'nemesis', step: () => this.step(stage, deadlineMs) });
  }

  private step(stage: Stage, deadlineMs: number): void {
    const host = this.host;
    if (host.phase() !== 'faults') return this.done();
    if (host.now() > deadlineMs) {
      host.note(`cut-off pattern gave up in stage ${stage}`);
      return this.done();
    }
    switch (stage) {
      case 'elect':
        return this.awaitElection(deadlineMs);
      case 'rejoin':
        return this.awaitRejoin(deadlineMs);
      case 'reelect':
        return this.awaitReelection(deadlineMs);
    }
  }

  /** Stage 1: the quorum side elects M; then L rejoins it, X stays with L alone. */
  private awaitElection(deadlineMs: number): void {
    const host = this.host;
    const m = host.alive().find((member) => member !== this.l && member !== this.x && member.core!.role === 'leader' && member.core!.currentTerm > this.term);
    if (m === undefined) return this.poll('elect', deadlineMs);
    this.#m = m;
    this.#mTerm = m.core!.currentTerm;
    const rest = host.members().map((member) => member.key).filter((key) => key !== this.l.key && key !== this.x.key);
    for (const key of rest) {
      host.network.blocked.delete(`${this.l.key}>${key}`);
      host.network.blocked.delete(`${key}>${this.l.key}`);
    }
    host.note(`cut-off: ${m.key} leads term ${m.core!.currentTerm}; ${this.l.key} rejoins, ${this.x.key} hears only ${this.l.key}`);
    this.poll('rejoin', host.now() + REJOIN_WAIT_MS);
  }

  /** Stage 2: once L follows M and holds M's log, M hands leadership back to L. */
  private awaitRejoin(deadlineMs: number): void {
    const host = this.host;
    const m = this.#m!;
    const l = this.l.core;
    const mc = m.core;
    if (l === undefined || mc === undefined || mc.role !== 'leader') return this.giveUp('M or L is gone');
    const caughtUp = l.role === 'follower' && l.leaderId?.name === m.key && this.l.log.lastWritten().index === mc.log.last().index;
    if (!caughtUp) return this.poll('rejoin', deadlineMs);
    // X must not see L's vote request: it would learn of the new term without a leader.
    host.network.blocked.add(`${this.l.key}>${this.x.key}`);
    this.#attempts += 1;
    host.note(`cut-off: transfer ${m.key} -> ${this.l.key} (attempt ${this.#attempts})`);
    host.toCore(m, { type: 'transfer_leadership', to: this.l.id, from: { client: -1, opId: -1 } });
    this.poll('reelect', host.now() + REELECTION_BLOCK_MS);
  }

  /** Stage 3: L leads a newer term; X is reconnected, to L over a lossy link at first. */
  private awaitReelection(deadlineMs: number): void {
    const host = this.host;
    const l = this.l.core;
    const won = l !== undefined && l.role === 'leader' && l.currentTerm > this.#mTerm;
    if (!won && host.now() + POLL_MS <= deadlineMs) return this.poll('reelect', deadlineMs);
    host.network.blocked.delete(`${this.l.key}>${this.x.key}`);
    if (!won) {
      if (this.#attempts >= REELECTION_ATTEMPTS) return this.giveUp(`${this.l.key} not re-elected`);
      // Let X hear L again before the next attempt, so its failure detector stays quiet.
      host.schedule(150, { type: 'nemesis', step: () => this.poll('rejoin', host.now() + REJOIN_WAIT_MS) });
      return;
    }
    const x = this.x.core;
    const trapped = x !== undefined && x.role === 'follower' && x.leaderId?.name === this.l.key && x.currentTerm === this.term;
    if (trapped) host.count('cutOffReelected');
    host.note(`cut-off: ${this.l.key} re-elected in term ${l.currentTerm}; ${this.x.key} ${trapped ? `still in term ${this.term}` : 'moved on'}, reconnected`);
    const lossy = `${this.l.key}>${this.x.key}`;
    host.network.lossyLinks.set(lossy, LOSSY_LINK_RATE);
    host.schedule(host.rng.intBetween(300, 1500), { type: 'nemesis', step: () => host.network.lossyLinks.delete(lossy) });
    this.done();
  }

  private giveUp(why: string): void {
    this.host.note(`cut-off pattern gave up: ${why}`);
    this.done();
  }
}
