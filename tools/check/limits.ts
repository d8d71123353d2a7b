// Bounds of the linearizability checker.

/**
 * Search steps (candidates tried or backtracked over) one check may take, explanation
 * included, before it answers `{ ok: 'unknown', reason: 'budget' }`. Counted, not timed,
 * so a history gets the same verdict on any machine under any load.
 */
export const CHECK_STEP_BUDGET_DEFAULT = 10_000_000;

/**
 * Past this many cached (linearized set, state) pairs the search stops memoizing. It stays
 * correct (the cache only prunes), only slower, and the step budget still bounds it.
 */
export const CACHE_ENTRIES_MAX = 2_000_000;

/** Operations listed per section of a failure explanation. */
export const EXPLAIN_OPS_MAX = 12;
