// One base error class, one subclass per failure, each with a stable code.

export type ActorErrorCode =
  | 'ACTORS_CALL_TIMEOUT'
  | 'ACTORS_NOPROC'
  | 'ACTORS_CALL_EXIT'
  | 'ACTORS_NODEDOWN'
  | 'ACTORS_UNKNOWN_NAME'
  | 'ACTORS_NAME_TAKEN'
  | 'ACTORS_ALREADY_REGISTERED'
  | 'ACTORS_NAME_UNDECIDED'
  | 'ACTORS_INVALID_ARGUMENT'
  | 'ACTORS_NOT_RUNNING'
  | 'ACTORS_ACTOR_EXITED'
  | 'ACTORS_DIRTY_JOB_FAILED'
  | 'ACTORS_SPAWN_FAILED'
  | 'ACTORS_UNKNOWN_SCHEDULER'
  | 'ACTORS_MESSAGE_TOO_LARGE';

export class ActorError extends Error {
  constructor(
    readonly code: ActorErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class CallTimeoutError extends ActorError {
  constructor(readonly dest: string, readonly timeoutMs: number) {
    super('ACTORS_CALL_TIMEOUT', `call to ${dest} got no reply within ${timeoutMs} ms; the actor may be overloaded or stuck: raise timeoutMs or check it`);
  }
}

export class NoProcError extends ActorError {
  constructor(readonly dest: string) {
    super('ACTORS_NOPROC', `no actor ${dest} is alive; it may have exited or never existed`);
  }
}

export class CallExitError extends ActorError {
  constructor(readonly dest: string, readonly reason: unknown) {
    super('ACTORS_CALL_EXIT', `actor ${dest} exited with reason ${describeReason(reason)} before replying`);
  }
}

export class NodeDownError extends ActorError {
  constructor(readonly remoteNode: string) {
    super('ACTORS_NODEDOWN', `connection to node ${remoteNode} was lost before a reply; retry once it is back`);
  }
}

export class UnknownNameError extends ActorError {
  constructor(readonly actorName: string) {
    super('ACTORS_UNKNOWN_NAME', `no actor is registered as '${actorName}'; register it first or send to a pid`);
  }
}

export class NameTakenError extends ActorError {
  constructor(readonly actorName: string) {
    super('ACTORS_NAME_TAKEN', `the name '${actorName}' is already registered; unregister it first or pick another`);
  }
}

export class AlreadyRegisteredError extends ActorError {
  constructor(readonly pidText: string, readonly actorName: string) {
    super('ACTORS_ALREADY_REGISTERED', `actor ${pidText} is already registered as '${actorName}'; an actor has one name: unregister it first`);
  }
}

export class NameUndecidedError extends ActorError {
  constructor(readonly actorName: string, readonly waitedMs: number) {
    super('ACTORS_NAME_UNDECIDED', `scheduler 0 did not decide the registration of '${actorName}' within ${waitedMs} ms; the node may be stopping or its main thread blocked: check whereis before retrying`);
  }
}

export class InvalidArgumentError extends ActorError {
  constructor(message: string) {
    super('ACTORS_INVALID_ARGUMENT', message);
  }
}

export class NodeNotRunningError extends ActorError {
  constructor(readonly nodeName: string) {
    super('ACTORS_NOT_RUNNING', `node ${nodeName} is stopped; start a new node`);
  }
}

/** Thrown into code that runs on after its actor has exited, to unwind it. */
export class ActorExitedError extends ActorError {
  constructor(readonly pidText: string, readonly reason: unknown) {
    super('ACTORS_ACTOR_EXITED', `actor ${pidText} has exited (${describeReason(reason)}); its code can no longer act`);
  }
}

export class DirtyJobError extends ActorError {
  constructor(readonly task: string, readonly causeMessage: string) {
    super('ACTORS_DIRTY_JOB_FAILED', `dirty job '${task}' failed: ${causeMessage}`);
  }
}

export class SpawnError extends ActorError {
  constructor(readonly what: string, readonly reason: unknown) {
    super('ACTORS_SPAWN_FAILED', `could not start ${what}: ${describeReason(reason)}`);
  }
}

export class UnknownSchedulerError extends ActorError {
  constructor(readonly scheduler: number, readonly count: number) {
    super('ACTORS_UNKNOWN_SCHEDULER', `scheduler ${scheduler} does not exist; this node has schedulers 0..${count - 1}`);
  }
}

/** A message, request or reply that does not fit in one frame to another node; it was not sent. */
export class MessageTooLargeError extends ActorError {
  constructor(readonly remoteNode: string, readonly bytes: number, readonly maxFrameBytes: number) {
    super('ACTORS_MESSAGE_TOO_LARGE', `a message of ${bytes} bytes for node ${remoteNode} exceeds maxFrameBytes (${maxFrameBytes}) and was not sent; send it in parts or raise maxFrameBytes on both nodes`);
  }
}

/**
 * A message, request or reply that cannot go to another node as plain data (the
 * receiving node would refuse it); it was not sent. An invalid argument, with its code,
 * so callers that match ACTORS_INVALID_ARGUMENT (the Raft layer does) need no change.
 */
export class UnsendableMessageError extends InvalidArgumentError {
  constructor(readonly remoteNode: string, readonly why: string, readonly breaksBound: boolean) {
    super(
      `a message for node ${remoteNode} was not sent: ${why}; ${breaksBound ? 'the receiving node refuses such values' : 'it could not be encoded'}: send plain data within the documented bounds`,
    );
  }
}

export function describeReason(reason: unknown): string {
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  if (typeof reason === 'string') return reason;
  try {
    return JSON.stringify(reason) ?? String(reason);
  } catch {
    // A reason from another node can be anything, even an object that cannot become a string.
    try {
      return String(reason);
    } catch {
      return `a ${typeof reason} that cannot be shown`;
    }
  }
}

/** An error as plain data, for replies that cross threads or nodes. */
export interface WireError {
  readonly $error: { readonly name: string; readonly message: string; readonly code?: string; readonly props?: Record<string, unknown> };
}

const errorClasses = new Map<string, new (...args: never[]) => ActorError>(
  [CallTimeoutError, NoProcError, CallExitError, NodeDownError, UnknownNameError, NameTakenError, AlreadyRegisteredError, NameUndecidedError, InvalidArgumentError,
    NodeNotRunningError, ActorExitedError, DirtyJobError, SpawnError, UnknownSchedulerError, MessageTooLargeError, UnsendableMessageError].map((c) => [c.name, c]),
);

export function encodeError(err: unknown): WireError {
  if (err instanceof ActorError) {
    const props: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(err)) if (key !== 'code' && key !== 'name') props[key] = value;
    return { $error: { name: err.name, message: err.message, code: err.code, props } };
  }
  if (err instanceof Error) return { $error: { name: err.name, message: err.message } };
  return { $error: { name: 'Error', message: describeReason(err) } };
}

/** True for a well-formed wire error (it may come from another node, so every field is checked). */
export function isWireError(value: unknown): value is WireError {
  if (typeof value !== 'object' || value === null) return false;
  const e = (value as { $error?: unknown }).$error;
  if (typeof e !== 'object' || e === null) return false;
  const { name, message, code, props } = e as Record<string, unknown>;
  return (
    typeof name === 'string' &&
    typeof message === 'string' &&
    (code === undefined || typeof code === 'string') &&
    (props === undefined || (typeof props === 'object' && props !== null && !Array.isArray(props)))
  );
}

/** Rebuilds an encoded error as an instance of its class, with its code and fields. */
export function decodeError(wire: WireError): Error {
  const { name, message, code, props } = wire.$error;
  const cls = errorClasses.get(name);
  if (code !== undefined) {
    const err: ActorError = Object.create((cls ?? ActorError).prototype);
    Object.assign(err, { ...props, message, name, code });
    Object.defineProperty(err, 'stack', { value: `${name}: ${message}`, writable: true, configurable: true });
    return err;
  }
  const err = new Error(message);
  err.name = name;
  return err;
}
