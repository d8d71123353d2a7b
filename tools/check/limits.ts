// Bounds of the linearizability checker.

/** A search that runs longer answers `{ ok: 'unknown', reason: 'timeout' }`. */
export const CHECK_TIMEOUT_MS_DEFAULT = 60_000;

/** The clock is read once per this many search steps, so reading it stays off the hot path. */
export const DEADLINE_CHECK_STEPS = 1_024;

/**
 * Past this many cached (linearized set, state) pairs the search stops memoizing. It stays
 * correct (the cache only prunes), only slower, and the deadline still bounds it.
 */
export const CACHE_ENTRIES_MAX = 2_000_000;

/** Operations listed per section of a failure explanation. */
export const EXPLAIN_OPS_MAX = 12;
