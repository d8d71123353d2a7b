// Bounds and defaults of the Raft core. Every queue or loop that grows has a limit here;
// names end with their unit or qualifier so related limits line up.

/** Entries sent to one follower and not yet acknowledged (Ra's default). */
export const INFLIGHT_ENTRIES_MAX = 4_096;
/** Entries in one AppendEntries message (Ra's default). */
export const APPEND_BATCH_ENTRIES_MAX = 128;
/**
 * Estimated entry bytes in one AppendEntries (CoreConfig.appendEntriesBytesMax), well
 * under the distribution's default frame (64 MiB); a larger entry goes alone.
 */
export const APPEND_ENTRIES_BYTES_MAX = 1 << 20;
/** Estimated entry bytes sent to one follower and not yet acknowledged (CoreConfig.inflightBytesMax). */
export const INFLIGHT_BYTES_MAX = 16 << 20;
/** Commands in one `commands` event; the rest are answered RAFTER_OVERLOADED. */
export const COMMANDS_BATCH_MAX = 8_192;
/** Depth to which the default entry size estimate walks a command; deeper parts count as one value. */
export const ENTRY_ESTIMATE_DEPTH_MAX = 8;
/** Entries applied to the machine in one pass; the rest wait for the next event. */
export const APPLY_BATCH_ENTRIES_MAX = 4_096;
/** Low-priority commands appended in one flush, behind normal ones. */
export const LOW_PRIORITY_BATCH_MAX = 64;
/** Low-priority commands waiting to be flushed; past this they are rejected. */
export const LOW_PRIORITY_QUEUE_MAX = 16_384;
/** Commands appended but not yet applied on a leader; past this they are rejected. */
export const PENDING_COMMANDS_MAX = 65_536;
/** Consistent queries waiting for their read index round. */
export const PENDING_QUERIES_MAX = 4_096;
/** Members of one cluster. */
export const CLUSTER_MEMBERS_MAX = 64;
/** Cluster configurations kept above the snapshot (one committed plus pending ones). */
export const CLUSTER_HISTORY_MAX = 1_024;
/** Entries scanned back when a follower looks for the start of a conflicting term. */
export const CONFLICT_SCAN_ENTRIES_MAX = 65_536;
/** Entries appended in one step (one event); bounds the in-step overlay. */
export const STEP_APPEND_ENTRIES_MAX = 65_536;

/** Election after leader DOWN: short random delay (Ra: 100-600 ms). */
export const LEADER_DOWN_DELAY_MS_MIN = 100;
export const LEADER_DOWN_DELAY_MS_MAX = 600;
/** Pre-vote after node-maybe-down for the leader's node (Ra/aten: 1-2 s). */
export const MAYBE_DOWN_DELAY_MS_MIN = 1_000;
export const MAYBE_DOWN_DELAY_MS_MAX = 2_000;
/** Election retry and leaderless start delay. */
export const ELECTION_TIMEOUT_MS_MIN = 500;
export const ELECTION_TIMEOUT_MS_MAX = 1_500;
/**
 * Each election round that ends without a leader doubles the retry window, up to this many
 * times. Fixed windows livelock when a loaded node's messages take longer than the
 * window's width: both candidates retry within one round trip of each other, for ever.
 */
export const ELECTION_RETRY_DOUBLINGS_MAX = 4;
/** How long a leader waits in await_condition for a transfer to take effect. */
export const TRANSFER_TIMEOUT_MS = 3_000;

/** Entries one machine `logRead` effect reads; past it the rest are left out, with a warning. */
export const MACHINE_LOG_READ_ENTRIES_MAX = 4_096;
/** `logRead` effects returned from a `logRead` function, nested; deeper ones are dropped, with a warning. */
export const MACHINE_EFFECT_DEPTH_MAX = 8;
