// Typed errors of the linearizability checker. Callers branch on `code`, never on the message.

export type CheckErrorCode = 'CHECK_BAD_HISTORY' | 'CHECK_BAD_OPTION';

export class CheckError extends Error {
  constructor(
    readonly code: CheckErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The history is malformed; `eventIndex` points at the offending event. */
export class BadHistoryError extends CheckError {
  constructor(
    readonly eventIndex: number,
    readonly reason: string,
  ) {
    super('CHECK_BAD_HISTORY', `history event ${eventIndex}: ${reason}; fix the recorder that produced it`);
  }
}

/** An option of checkLinearizable is out of range; `option` names it. */
export class BadOptionError extends CheckError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super('CHECK_BAD_OPTION', `option ${option}: ${reason}`);
  }
}
