// @rafter/raft: the public API. The pure core is at `@rafter/raft/core` and the log
// storage at `@rafter/raft/storage`, for tools and tests.

export * from './errors.js';
export type { ServerId, Member, MembershipKind, SnapshotMeta } from './internal/core/log.js';
export type { Role, MachineMeta, ApplyResult, MachineEffect } from './internal/core/types.js';
