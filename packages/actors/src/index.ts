// @rafter/actors: Erlang-style actors for Node.js.

export { Node, type NodeOptions, type Distribution } from './node.js';
export { pidKey, pidEquals, isPid, formatPid, type Pid, type Ref, type Dest, type RemoteName } from './pid.js';
export { ManualClock, systemClock, type Clock, type TimerHandle } from './clock.js';
export { stderrLogger, silentLogger, type Logger } from './logger.js';
export * from './errors.js';
export * from './types.js';
export * as limits from './limits.js';
export type { Signal } from './internal/signals.js';
export {
  supervisor,
  startSupervisor,
  supervisorChild,
  whichChildren,
  startChild,
  terminateChild,
  restartChild,
  deleteChild,
  MAX_RESTART_INTENSITY,
  type ChildSpec,
  type SupervisorSpec,
  type ChildInfo,
  type RestartPolicy,
  type Strategy,
  type Shutdown,
} from './supervisor.js';
export { NodeDistribution, parseNodeName, type DistributionOptions, type ConnectionInfo } from './distribution/distribution.js';
export { PhiAccrual, phiOf, type PhiOptions } from './distribution/phi.js';
export {
  subscribeFailureDetector,
  unsubscribeFailureDetector,
  FAILURE_DETECTOR_NAME,
  FAILURE_DETECTOR_SUPERVISOR_NAME,
  type FailureDetectorOptions,
  type FailureDetectorEvent,
} from './distribution/failure-detector.js';
