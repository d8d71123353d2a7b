// Fault injection: each fault is one random choice made from the seed while the fault
// phase lasts (crashes, partitions, loss, slow disks, membership, transfers, upgrades).

import { CutOffAcrossElections } from './cut-off.js';
import type { SimHost } from './world.js';

export class FaultInjector {
  readonly #cutOff: CutOffAcrossElections;

  constructor(private readonly host: SimHost) {
    this.#cutOff = new CutOffAcrossElections(host);
  }

  private voterKeys(): string[] {
    const leader = this.host.leader();
    const config = leader?.core?.cluster.current().members ?? [];
    return config.filter((m) => m.membership === 'voter').map((m) => m.id.name);
  }

  inject(): void {
    const roll = this.host.rng.intBetween(0, 99);
    if (roll < 18) return this.faultCrash();
    if (roll < 30) return this.faultPartition();
    if (roll < 38) return this.faultOneWay();
    if (roll < 46) return this.faultLoss();
    if (roll < 54) return this.faultSlowDisk();
    if (roll < 68) return this.faultMembership();
    if (roll < 78) return this.faultTransfer();
    if (roll < 84) return this.faultTriggerElection();
    if (roll < 87) return this.faultUpgrade();
    if (roll < 91) return void this.#cutOff.start();
    // otherwise a quiet period
  }

  private faultCrash(): void {
    const started = [...this.host.members()].filter((m) => m.started && !m.removed);
    const down = started.filter((m) => m.core === undefined).length;
    if (down >= Math.floor((started.length - 1) / 2)) return;
    const candidates = this.host.alive();
    if (candidates.length === 0) return;
    const member = this.host.rng.pick(candidates);
    this.host.count('crash');
    this.host.crash(member, 'crash');
    this.host.schedule(this.host.rng.intBetween(200, 4000), { type: 'restart', to: member.key });
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
