// The checker's budget, in units of work rather than time, so that a history gets the
// same verdict on any machine under any load.

/**
 * Work left for a whole check, shared by its parts and its explanation. One step is one
 * candidate operation tried, one backtrack, or one cache entry compared, so every step
 * costs about the same and the budget bounds the time as well.
 */
export class StepBudget {
  used = 0;

  constructor(readonly limit: number) {}
}
