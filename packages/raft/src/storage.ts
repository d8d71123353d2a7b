// @rafter/raft/storage: the log storage (WAL, segments, snapshots, meta store), for
// tools and tests that drive it without Raft servers. Applications use the main entry.

export { LogSystem, type LogSystemOptions, type RecoveryReport } from './internal/log/system.js';
export { ServerLog, type WalPort } from './internal/log/server-log.js';
export {
  startLogSystem,
  openServerLog,
  deleteServerLog,
  applyWalNotice,
  isWalNotice,
  type LogSystemHandle,
  type StartLogSystemOptions,
  type StartedLogSystem,
  type WalNotice,
  type WalRequest,
} from './internal/log/log-actors.js';
export { NodeFs, writeFileAtomicOn, type LogFs, type LogFileHandle, type OpenMode } from './internal/log/fs.js';
export { WalWriter, spareFileName } from './internal/log/wal.js';
export { encodeValue, decodeValue } from './internal/log/codec.js';
export * as storageLimits from './internal/log/limits.js';
export * from './internal/log/errors.js';
