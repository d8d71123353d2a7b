// Fault injection: each fault is one random choice made from the seed while the fault
// phase lasts (crashes, whole-cluster power loss, process pauses, partitions, loss, slow
// disks, membership, transfers, upgrades, scripted patterns), weighted by the seed's
// swarm profile.

import { CutOffAcrossElections } from './cut-off.js';
import type { Prng } from './prng.js';
import type { FaultKind, SwarmProfile } from './swarm.js';
import type { SimHost, SimMember } from './world.js';

const POWER_RESTORE_MS_MAX = 3_000;
const CRASH_MID_OVERWRITE_CHANCE = 0.4;
/** Any append: a crash inside the write window loses what the member may have acknowledged. */
const CRASH_MID_WRITE_CHANCE = 0.005;
const POWER_LOSS_GAP_MS_MIN = 5_000;
const EAGER_MEMBERSHIP_CHANCE = 0.2;

export class FaultInjector {
  readonly #cutOff: CutOffAcrossElections;
  readonly #actions: Record<FaultKind, () => void>;
  #powerBackAtMs = -Infinity;
  readonly #eagerRng: Prng;

  constructor(
    private readonly host: SimHost,
    readonly profile: SwarmProfile,
    eagerRng: Prng,
  ) {
    this.#cutOff = new CutOffAcrossElections(host);
    this.#eagerRng = eagerRng;
    this.#actions = {
      crash: () => this.faultCrash(),
      powerLoss: () => this.faultPowerLoss(),
      pause: () => this.faultPause(),
      partition: () => this.faultPartition(),
      oneWayPartition: () => this.faultOneWay(),
      lossBurst: () => this.faultLoss(),
      slowDisk: () => this.faultSlowDisk(),
      membership: () => this.faultMembership(),
      transferLeadership: () => this.faultTransfer(),
      triggerElection: () => this.faultTriggerElection(),
      upgrade: () => this.faultUpgrade(),
      cutOffAcrossElections: () => void this.#cutOff.start(),
    };
  }

  private voterKeys(): string[] {
    const leader = this.host.leader();
    const config = leader?.core?.cluster.current().members ?? [];
    return config.filter((m) => m.membership === 'voter').map((m) => m.id.name);
  }

  /** One weighted draw among the seed's fault kinds; a draw past them is a quiet period. */
  inject(): void {
    let roll = this.host.rng.float() * (this.profile.totalWeight + this.profile.quietWeight);
    for (const [kind, weight] of this.profile.weights) {
      if (roll < weight) return this.#actions[kind]();
      roll -= weight;
    }
  }

  /**
   * A member appended and the write is not synced yet: sometimes crash it now. After an
   * overwrite the overwritten suffix comes back on restart; after any append, what it
   * acknowledged or counted too early is gone.
   */
  onAppend(member: SimMember, syncedInMs: number, overwrites: boolean): void {
    const chance = overwrites ? CRASH_MID_OVERWRITE_CHANCE : CRASH_MID_WRITE_CHANCE;
    if (!this.profile.weights.some(([kind]) => kind === 'crash') || !this.host.rng.chance(chance)) return;
    if (!this.mayCrashOne()) return;
    const inc = member.inc;
    const step = (): void => {
      if (member.inc !== inc || member.core === undefined || !this.mayCrashOne()) return;
      this.host.count(overwrites ? 'crashMidOverwrite' : 'crashMidWrite');
      this.host.crash(member, 'crash');
      this.host.schedule(this.host.rng.intBetween(200, 4000), { type: 'restart', to: member.key });
    };
    this.host.schedule(this.host.rng.intBetween(0, Math.max(0, syncedInMs - 1)), { type: 'nemesis', step });
  }

  /**
   * A new leader is asked, sometimes, for a membership change at once, before its noop can
   * have committed: the rule that it must wait for one is then under test. Drawn from a
   * stream of its own, so the other faults of a seed stay as they were.
   */
  onNewLeader(): void {
    if (!this.profile.weights.some(([kind]) => kind === 'membership') || !this.#eagerRng.chance(EAGER_MEMBERSHIP_CHANCE)) return;
    this.host.schedule(0, { type: 'nemesis', step: () => this.faultMembership() });
  }

  /** Crashes keep a majority of the started members up, so the cluster can go on. */
  private mayCrashOne(): boolean {
    const started = [...this.host.members()].filter((m) => m.started && !m.removed);
    const down = started.filter((m) => m.core === undefined).length;
    return down < Math.floor((started.length - 1) / 2);
  }

  private faultCrash(): void {
    if (!this.mayCrashOne()) return;
    const candidates = this.host.alive();
    if (candidates.length === 0) return;
    const member = this.host.rng.pick(candidates);
    this.host.count('crash');
    this.host.crash(member, 'crash');
    this.host.schedule(this.host.rng.intBetween(200, 4000), { type: 'restart', to: member.key });
  }

  /** Every member loses power at once; each comes back after its own delay. */
  private faultPowerLoss(): void {
    // Not again before the cluster is back and has worked a while: every power loss turns
    // the operations in flight into indeterminate ones, which the history check pays for.
    if (this.host.now() < this.#powerBackAtMs + POWER_LOSS_GAP_MS_MIN) return;
    if (this.host.members().some((m) => m.started && !m.removed && m.core === undefined)) return;
    const victims = this.host.alive();
    if (victims.length === 0) return;
    this.#powerBackAtMs = this.host.now() + POWER_RESTORE_MS_MAX;
    this.host.count('powerLoss');
    this.host.note('POWER LOSS: every member crashes');
    for (const member of victims) this.host.crash(member, 'crash');
    for (const member of victims) this.host.schedule(this.host.rng.intBetween(100, POWER_RESTORE_MS_MAX), { type: 'restart', to: member.key });
  }

  /** A process stops (SIGSTOP, GC, swap): its timers fire late and its mail piles up. */
  private faultPause(): void {
    const candidates = this.host.alive().filter((m) => m.pausedUntilMs <= this.host.now());
    if (candidates.length === 0) return;
    const member = this.host.rng.pick(candidates);
    const ms = this.host.rng.chance(0.5) ? this.host.rng.intBetween(50, 600) : this.host.rng.intBetween(600, 5000);
    member.pausedUntilMs = this.host.now() + ms;
    this.host.count('pause');
    this.host.note(`${member.key} PAUSED for ${ms}ms`);
  }

  private faultPartition(): void {
    const keys = this.host.members().map((m) => m.key);
    const side = new Set(keys.filter(() => this.host.rng.chance(0.4)));
    if (side.size === 0 || side.size === keys.length) return;
    const blocks: string[] = [];
    for (const a of keys) for (const b of keys) if (side.has(a) !== side.has(b)) blocks.push(`${a}>${b}`);
    this.block(blocks, 'partition', `partition {${[...side].join(',')}} | rest`);
  }

  private faultOneWay(): void {
    const keys = this.host.members().map((m) => m.key);
    const a = this.host.rng.pick(keys);
    const b = this.host.rng.pick(keys);
    if (a === b) return;
    this.block([`${a}>${b}`], 'oneWayPartition', `one-way ${a} -/-> ${b}`);
  }

  private block(blocks: string[], kind: string, what: string): void {
    for (const block of blocks) this.host.network.blocked.add(block);
    this.host.count(kind);
    this.host.note(what);
    this.host.schedule(this.host.rng.intBetween(300, 4000), { type: 'heal', blocks });
  }

  private faultLoss(): void {
    this.host.network.loss = 0.25;
    this.host.count('lossBurst');
    this.host.note('loss burst 25%');
    this.host.schedule(this.host.rng.intBetween(300, 2000), { type: 'lossEnd' });
  }

  private faultSlowDisk(): void {
    const candidates = this.host.alive();
    if (candidates.length === 0) return;
    const member = this.host.rng.pick(candidates);
    member.diskSlowUntilMs = this.host.now() + this.host.rng.intBetween(500, 3000);
    this.host.count('slowDisk');
    this.host.note(`${member.key} disk slow`);
  }

  private faultMembership(): void {
    const leader = this.host.leader();
    if (leader === undefined) return;
    const config = leader.core!.cluster.current().members;
    const spares = [...this.host.members()].filter((m) => !m.started);
    const voters = config.filter((m) => m.membership === 'voter');
    const from = { client: -1, opId: -1 };
    if (spares.length > 0 && (this.host.rng.chance(0.6) || voters.length <= 3)) {
      const spare = spares[0]!;
      this.host.startMember(spare, []);
      const membership = this.host.rng.chance(0.75) ? 'promotable' : 'non_voter';
      this.host.count('addMember');
      this.host.note(`add ${spare.key} as ${membership}`);
      this.host.toCore(leader, { type: 'add_member', member: { id: spare.id, membership }, from });
      return;
    }
    const removable = config.filter((m) => m.membership !== 'voter' || voters.length > 3);
    if (removable.length === 0) return;
    const victim = this.host.rng.pick(removable);
    this.host.count('removeMember');
    this.host.note(`remove ${victim.id.name}`);
    this.host.toCore(leader, { type: 'remove_member', id: victim.id, from: { client: -2, opId: -1, victim: victim.id.name } });
  }

  private faultTransfer(): void {
    const leader = this.host.leader();
    if (leader === undefined) return;
    const others = this.voterKeys().filter((key) => key !== leader.key);
    if (others.length === 0) return;
    const to = this.host.member(this.host.rng.pick(others)).id;
    this.host.count('transferLeadership');
    this.host.note(`transfer leadership ${leader.key} -> ${to.name}`);
    this.host.toCore(leader, { type: 'transfer_leadership', to, from: { client: -1, opId: -1 } });
  }

  private faultTriggerElection(): void {
    const voters = this.voterKeys().map((key) => this.host.member(key)).filter((m) => m.core !== undefined);
    if (voters.length === 0) return;
    const member = this.host.rng.pick(voters);
    this.host.count('triggerElection');
    this.host.toCore(member, { type: 'trigger_election' });
  }

  /** One step of a rolling upgrade: restart a member with the next machine version. */
  private faultUpgrade(): void {
    const candidates = this.host.alive().filter((m) => m.machineVersion === 1);
    if (candidates.length === 0) return;
    const member = this.host.rng.pick(candidates);
    this.host.count('upgrade');
    this.host.note(`${member.key} upgrade to machine version 2`);
    this.host.crash(member, 'crash');
    member.machineVersion = 2;
    this.host.schedule(this.host.rng.intBetween(50, 500), { type: 'restart', to: member.key });
  }
}
