// Logging of refused and failed connections at a bounded rate: a flood of bad
// connections (a port scanner, a peer with the wrong cookie in a retry loop) costs a
// few records per interval and one summary, not a record each.

import type { Logger } from '../../logger.js';
import { REFUSAL_LOG_INTERVAL_MS, REFUSAL_LOGS_PER_INTERVAL_MAX } from '../limits.js';

export class RefusalLog {
  private intervalStartMs = -Infinity;
  private loggedInInterval = 0;
  private suppressed = 0;
  private summary: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger) {}

  warn(record: object, msg: string): void {
    const nowMs = performance.now();
    if (nowMs - this.intervalStartMs >= REFUSAL_LOG_INTERVAL_MS) {
      this.intervalStartMs = nowMs;
      this.loggedInInterval = 0;
    }
    if (this.loggedInInterval < REFUSAL_LOGS_PER_INTERVAL_MAX) {
      this.loggedInInterval++;
      this.logger.warn(record, msg);
      return;
    }
    this.suppressed++;
    this.summary ??= setTimeout(() => this.flush(), this.intervalStartMs + REFUSAL_LOG_INTERVAL_MS - nowMs).unref();
  }

  /** Logs how many records were left out, if any (also called when the node stops). */
  flush(): void {
    if (this.summary !== undefined) clearTimeout(this.summary);
    this.summary = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.logger.warn({ count, intervalMs: REFUSAL_LOG_INTERVAL_MS }, 'more distribution connections were refused or failed than are logged one by one');
  }
}
