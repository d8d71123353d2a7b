// One-line, readable forms of messages and events for the violation trace.

import type { Event, RaftMessage } from '@rafter/raft/core';

export function describeMessage(msg: RaftMessage): string {
  switch (msg.type) {
    case 'append_entries': {
      const first = msg.entries[0];
      const last = msg.entries[msg.entries.length - 1];
      const range = first === undefined || last === undefined ? '[]' : `[${first.index}/${first.term}..${last.index}/${last.term}]`;
      return `append t${msg.term} prev=${msg.prevIndex}/${msg.prevTerm} ${range} commit=${msg.commitIndex}`;
    }
    case 'append_entries_reply':
      return `append_reply t${msg.term} ${msg.success ? 'ok' : 'fail'} last=${msg.lastIndex}/${msg.lastTerm} next=${msg.nextIndex}`;
    case 'pre_vote':
      return `pre_vote t${msg.term} last=${msg.lastIndex}/${msg.lastTerm} token=${msg.token}`;
    case 'pre_vote_reply':
      return `pre_vote_reply t${msg.term} ${msg.granted ? 'granted' : 'denied'}`;
    case 'request_vote':
      return `request_vote t${msg.term} last=${msg.lastIndex}/${msg.lastTerm}`;
    case 'request_vote_reply':
      return `vote_reply t${msg.term} ${msg.granted ? 'granted' : 'denied'}`;
    case 'heartbeat':
      return `heartbeat t${msg.term} seq=${msg.querySeq}`;
    case 'heartbeat_reply':
      return `heartbeat_reply t${msg.term} seq=${msg.querySeq}`;
    case 'install_snapshot':
      return `install_snapshot t${msg.term} at=${msg.meta.index}/${msg.meta.term} chunk=${msg.chunkIndex}${msg.last ? ' last' : ''}`;
    case 'install_snapshot_reply':
      return `snapshot_reply t${msg.term} chunk=${msg.chunkIndex}${msg.done ? ` done last=${msg.lastIndex}` : ''}`;
    case 'timeout_now':
      return `timeout_now t${msg.term}`;
  }
}

export function describeEvent(event: Event): string {
  switch (event.type) {
    case 'command':
      return `command ${JSON.stringify(event.command)}${event.priority === 'low' ? ' (low)' : ''}`;
    case 'commands':
      return `commands ${event.commands.map((c) => `${JSON.stringify(c.command)}${c.priority === 'low' ? ' (low)' : ''}`).join(' ')}`;
    case 'query':
      return `${event.kind} query`;
    case 'message':
      return `${event.from.name} ${describeMessage(event.msg)}`;
    case 'written':
      return `written ${event.index}/${event.term}`;
    case 'timeout':
      return `timeout ${event.timer}`;
    case 'continue':
      return 'continue';
    case 'write_failed':
      return `write_failed ${event.index} ${event.reason}`;
    case 'snapshot_written':
      return `snapshot_written ${event.meta.index}/${event.meta.term} ${event.outcome}`;
    case 'persisted':
      return `persisted t${event.term} vote=${event.votedFor?.name ?? '-'}`;
    case 'leader_down':
      return `DOWN ${event.id.name}`;
    case 'delete_cluster':
      return 'delete cluster';
    case 'force_shrink':
      return 'force shrink';
    case 'compact':
      return 'compact';
    case 'node_maybe_down':
      return `node_maybe_down ${event.node}`;
    case 'node_up':
      return `node_up ${event.node}`;
    case 'add_member':
      return `add_member ${event.member.id.name} (${event.member.membership})`;
    case 'remove_member':
      return `remove_member ${event.id.name}`;
    case 'transfer_leadership':
      return `transfer_leadership -> ${event.to.name}`;
    case 'snapshot_installed':
      return `snapshot_installed ${event.meta.index}/${event.meta.term}`;
    case 'tick':
    case 'trigger_election':
    case 'delete_cluster':
    case 'force_shrink':
    case 'compact':
      return event.type;
  }
}
