// @rafter/raft: the public API. The pure core is at `@rafter/raft/core` and the log
// storage at `@rafter/raft/storage`, for tools and tests.

export * from './errors.js';
export type { ServerId, Member, MembershipKind, SnapshotMeta } from './internal/core/log.js';
export type { Role, MachineMeta, ApplyResult, MachineEffect, MachineNotice, MachineVersionChange, ReadEntry, CoreTimeouts } from './internal/core/types.js';
export { registerMachine, unregisterMachine, type AuxContext, type AuxResult, type Machine, type MachineConfig, type MachineRole, type MachineModule, type MachineRef, type SimpleMachine } from './server/machine.js';
export { isPipelineEvent, type PipelineEvent } from './server/protocol.js';
export type { ServerConfig } from './system/runtime.js';
export { useCaller, type Caller } from './system/caller.js';
export { keyMetrics, leaderboard, lookupLeader, lookupMembers, overview, type KeyMetrics, type LeaderboardEntry, type ServerOverview, type SystemOverview, type SystemRef } from './metrics/overview.js';
export { createLogger, withBindings, type LoggerOptions, type LogLevel } from './logging.js';
export { fetchKeyMetrics, type KeyMetricsOptions } from './metrics/fetch-key-metrics.js';
export { metricsRegistry, type MetricsRegistryOptions } from './metrics/prometheus.js';
export { serveMetrics, type MetricsServer, type ServeMetricsOptions } from './metrics/http.js';
export { startSystem, serverChildSpec, systemActorName, type RaftSystem, type RecoveryProgress, type SystemConfig, type Starter } from './system/system.js';
export {
  API_TIMEOUT_MS_DEFAULT,
  addMember,
  consistentQuery,
  forceDeleteServer,
  isServerId,
  leaderQuery,
  leaveAndTerminate,
  localQuery,
  members,
  pipelineCommand,
  processCommand,
  removeMember,
  restartServer,
  serverStatus,
  startCluster,
  startServer,
  stopServer,
  transferLeadership,
  triggerElection,
  type CallerOption,
  type CommandOptions,
  type CommandResult,
  type MembersResult,
  type QueryOptions,
  type QueryResult,
  type ServerStatus,
  type StartClusterOptions,
  type StartClusterResult,
  type StartServerOptions,
  type TimeoutOption,
  type MembershipChangeOptions,
} from './api.js';
export {
  AUX_READ_ENTRIES_MAX,
  MEMBERS_INFO_LIVE_TIMEOUT_MS_DEFAULT,
  auxCommand,
  castAux,
  deleteCluster,
  forceShrinkMembersToCurrentMember,
  membersInfo,
  type MemberInfo,
  type MembersInfoOptions,
  type MembersInfoResult,
} from './api-ops.js';
export { startClusters, type ClusterSpec, type StartClustersOptions, type StartedCluster } from './start-clusters.js';
