// The Raft core's surface, for the server shell and the simulator.

export { RaftCore, DEFAULT_TIMEOUTS, type CoreConfig } from './core.js';
export { AssertionError, assert, assertNever } from './assert.js';
export { serverKey, sameServer, quorumSize, agreedIndex } from './cluster.js';
export { LogView } from './log-view.js';
export { estimateEntryBytes, type EntryBytes } from './entry-size.js';
export type { Mutation } from './rules.js';
export type * from './log.js';
export type * from './types.js';
export * as coreLimits from './limits.js';
