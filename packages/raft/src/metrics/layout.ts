// The fixed layout of a system's counters in shared memory, as seshat's counter
// fields: each name has a slot offset, so the owning thread bumps `values[base + F]`
// and any thread of the process reads the same float without a message.

/** Counters and gauges of one Raft server (Ra's ra_server counters and key_metrics). */
export const SERVER_FIELDS = [
  // Slot bookkeeping: the allocation that owns the slot (a reader checks it).
  'generation',
  // Counters (only go up while the server exists).
  'commands',
  'entriesWritten',
  'elections',
  'preVotes',
  'messagesSent',
  'messagesReceived',
  'appendsHeld',
  'snapshotsWritten',
  'snapshotsInstalled',
  'leaderChanges',
  // Gauges (the server's state at the end of its last turn).
  'commitLatencyMs',
  'term',
  'commitIndex',
  'lastApplied',
  'lastWritten',
  'lastIndex',
  'snapshotIndex',
  'role',
] as const;

/** The shared WAL of a system (Ra's ra_log_wal counters). */
export const WAL_FIELDS = ['batches', 'entries', 'bytes', 'syncs', 'syncLatencyMs', 'syncLatencyMsTotal', 'rollovers', 'resends'] as const;

/** The segment writer of a system (Ra's ra_log_segment_writer counters). */
export const SEGMENT_WRITER_FIELDS = ['files', 'flushes', 'entries', 'failures'] as const;

export type ServerField = (typeof SERVER_FIELDS)[number];
export type WalField = (typeof WAL_FIELDS)[number];
export type SegmentWriterField = (typeof SEGMENT_WRITER_FIELDS)[number];

/** Fields that only go up (Prometheus counters); the rest are gauges. */
export const SERVER_COUNTER_FIELDS: ReadonlySet<ServerField> = new Set([
  'commands',
  'entriesWritten',
  'elections',
  'preVotes',
  'messagesSent',
  'messagesReceived',
  'appendsHeld',
  'snapshotsWritten',
  'snapshotsInstalled',
  'leaderChanges',
]);
export const WAL_COUNTER_FIELDS: ReadonlySet<WalField> = new Set(['batches', 'entries', 'bytes', 'syncs', 'syncLatencyMsTotal', 'rollovers', 'resends']);

function offsets<const T extends readonly string[]>(fields: T): { readonly [K in T[number]]: number } {
  return Object.fromEntries(fields.map((f, i) => [f, i])) as { readonly [K in T[number]]: number };
}

/** Offset of each field within its slot: `values[slotBase + S.commands]`. */
export const S = offsets(SERVER_FIELDS);
export const W = offsets(WAL_FIELDS);
export const G = offsets(SEGMENT_WRITER_FIELDS);

/** Float64 values per server slot: 19 fields, 152 bytes. */
export const SERVER_SLOT_VALUES = SERVER_FIELDS.length;

/** Roles as numbers in the `role` gauge; a reader maps them back. */
export const ROLE_CODES = ['stopped', 'recover', 'follower', 'pre_vote', 'candidate', 'leader', 'await_condition', 'receive_snapshot'] as const;
export type RoleName = (typeof ROLE_CODES)[number];

export function roleCode(role: string): number {
  const code = (ROLE_CODES as readonly string[]).indexOf(role);
  return code < 0 ? 0 : code;
}

export function roleName(code: number): RoleName {
  return ROLE_CODES[code] ?? 'stopped';
}

/** Server slots one system may hold; the shared buffer reserves address space for them and grows in steps. */
export const SERVER_SLOTS_MAX = 65_536;
/** Slots added to a system's buffer each time it runs out. */
export const SERVER_SLOTS_GROWTH = 1_024;
