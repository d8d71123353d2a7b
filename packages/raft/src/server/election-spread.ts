// Spreads the elections of a system's servers when many are due at once. A node that
// loses a peer loses the leader of every cluster led there: thousands of followers hear
// the DOWN in the same moment and would all start a pre-vote within the core's short
// delay, blocking the event loop with votes (and with it the failure detector's
// heartbeats). So when a server's election delay ends, it waits a further random delay
// in [0, msPerPending × (other servers with an election pending)]: elections then start
// at about 1/msPerPending per second however many are due, and a lone cluster elects in
// the core's usual window. The core stays free of clocks and randomness: this lives in
// the shell, between the core's `setTimer` and its `timeout` event.

/** Default added window per other pending election: at most ~2,000 election starts a second per system. */
export const ELECTION_SPREAD_MS_PER_PENDING_DEFAULT = 0.5;
/** The widest added delay, however many elections are pending. */
export const ELECTION_SPREAD_MS_MAX = 15_000;

/** The further wait of an election whose delay ended with `othersPending` other elections pending here. */
export function spreadDelayMs(othersPending: number, msPerPending: number, random01: number): number {
  const windowMs = Math.min(ELECTION_SPREAD_MS_MAX, Math.max(0, othersPending) * msPerPending);
  return Math.floor(random01 * windowMs);
}

/**
 * The servers of one system with an election timer set, each once: while its first
 * delay runs, then while its spread delay runs. Entries exist only while an election is
 * pending, so an idle system holds none. Servers are known by name: one killed without
 * running its terminate (an untrapped exit, `kill`) leaves its entry, and its restart
 * under the same name takes that entry over rather than adding one per incarnation
 * (an entry keyed by the server's state would also keep that state alive).
 */
export class ElectionSpread {
  /** Pending servers by name; true once the server took its spread delay. */
  private readonly pending = new Map<string, boolean>();

  constructor(
    readonly msPerPending: number = ELECTION_SPREAD_MS_PER_PENDING_DEFAULT,
    private readonly random01: () => number = Math.random,
  ) {}

  /** Elections pending on this system now. */
  get size(): number {
    return this.pending.size;
  }

  /** The core set `server`'s election timer (a new one, or again): its spread is decided when it fires. */
  armed(server: string): void {
    this.pending.set(server, false);
  }

  /** The core cancelled the timer, or the server stopped. */
  disarmed(server: string): void {
    this.pending.delete(server);
  }

  /**
   * `server`'s election timer fired. Returns how much longer it waits (then call again),
   * or 0: the election starts now and is no longer pending.
   */
  fired(server: string): number {
    const others = this.pending.size - 1;
    if (this.pending.get(server) === false && others > 0) {
      const waitMs = spreadDelayMs(others, this.msPerPending, this.random01());
      if (waitMs > 0) {
        this.pending.set(server, true);
        return waitMs;
      }
    }
    this.pending.delete(server);
    return 0;
  }
}
