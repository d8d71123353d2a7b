// @rafter/raft/core: the pure Raft core, for the simulator, benchmarks and tests.
// Applications use the main entry (the server API); this surface may change between
// minor versions.

export * from './internal/core/index.js';
