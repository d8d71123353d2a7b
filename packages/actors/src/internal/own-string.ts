// Strings msgpackr decodes are, past a dozen characters, slices of one string decoded for
// the whole frame. A slice keeps that string alive, and V8 hashes it on every Map lookup
// (about 40 ns, against 10 for a flat string). Names kept for a connection's life are
// copied out once.

/** A flat copy of `value` that is no slice of a longer string (a UTF-8 round trip makes a new one). */
export function ownString(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}
