// Assertions catch our own bugs; bad input from peers or users is an error, not an assert.

import { RafterError } from '../../errors.js';

/** A broken invariant of our own code (RAFTER_ASSERTION): a bug to report, not a condition to handle. */
export class AssertionError extends RafterError {
  constructor(message: string) {
    super('RAFTER_ASSERTION', message);
    this.name = 'AssertionError';
  }
}

/**
 * Pass a message built from values as a function: it runs only on failure, so a
 * passing assert costs a comparison (template strings on every call once made the core
 * half as fast).
 */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}

export function assertNever(value: never, message = 'unexpected value'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
