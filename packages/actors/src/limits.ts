// Named bounds of the runtime. Units last.

/** Messages one actor handles before the scheduler moves on to the next actor. */
export const ACTOR_TURN_MESSAGES_MAX = 1_000;
/** Messages a scheduler handles before it yields to the event loop (timers, I/O). */
export const SCHEDULER_SLICE_MESSAGES_MAX = 50_000;
/** Time a scheduler spends before it yields to the event loop, whichever comes first. */
export const SCHEDULER_SLICE_MS_MAX = 10;
/** Default time a call waits for its reply. */
export const CALL_TIMEOUT_MS_DEFAULT = 5_000;
/** Signals batched for another thread before a flush is forced within the same turn. */
export const CROSS_THREAD_BATCH_MAX = 4_096;
/** Default supervisor restart intensity: restarts allowed within the period. */
export const SUPERVISOR_INTENSITY_DEFAULT = 1;
export const SUPERVISOR_PERIOD_MS_DEFAULT = 5_000;
export const SUPERVISOR_SHUTDOWN_MS_DEFAULT = 5_000;
/** How long a worker scheduler waits for scheduler 0 to decide a name registration. */
export const NAME_DECISION_MS_MAX = 10_000;
/** How long node.stop waits for a worker scheduler to stop its actors. */
export const WORKER_STOP_MS_MAX = 10_000;
/** Longest delay Node's setTimeout honours; the system clock chains longer timers. */
export const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;
