// A member's own snapshots are written apart from its log, as Ra writes them from another
// process: each takes its own time, is lost if the member crashes first, and storage
// sometimes declines one by policy. The log is truncated only once the snapshot is
// durable, and the core hears of it through `snapshot_written`.

import type { SnapshotMeta } from '@rafter/raft/core';
import * as o from './options.js';
import type { SimEvent, SimHost, SimMember } from './world.js';

export class SnapshotWriter {
  constructor(private readonly host: SimHost) {}

  start(member: SimMember, meta: SnapshotMeta, state: unknown): void {
    const host = this.host;
    const outcome = host.net.chance(o.SNAPSHOT_DECLINE_CHANCE) ? 'declined' : 'written';
    const slow = host.now() < member.diskSlowUntilMs ? o.SLOW_DISK_FACTOR : 1;
    const afterMs = host.net.intBetween(o.SNAPSHOT_WRITE_MS_MIN, o.SNAPSHOT_WRITE_MS_MAX) * slow;
    host.schedule(afterMs, { type: 'snapshotWritten', to: member.key, inc: member.inc, meta, state, outcome });
  }

  finish(event: Extract<SimEvent, { type: 'snapshotWritten' }>): void {
    const member = this.host.member(event.to);
    if (member.core === undefined || member.inc !== event.inc) return; // lost in a crash
    if (event.outcome === 'written') {
      member.log.takeSnapshot(event.meta, event.state);
      this.host.count('snapshotTaken');
    } else {
      this.host.count('snapshotDeclined');
    }
    this.host.stepNow(member, { type: 'snapshot_written', meta: event.meta, outcome: event.outcome });
  }
}
