// Public API of @rafter/raft: re-exports only.

export * from './internal/core/index.js';
export * from './errors.js';
