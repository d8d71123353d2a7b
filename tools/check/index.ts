// Public API of the linearizability checker.

export { checkLinearizable, type CheckOptions, type CheckResult } from './linearizable.js';
export type { Violation } from './explain.js';
export type { ClientId, HistoryEvent, HistoryOp, OpId, OpResult, Operation } from './history.js';
export { formatValue, type Model, type StepResult } from './model.js';
export { registerModel, partitionByKey, registerValueKey, type CasValue, type RegisterState } from './register.js';
export { BadHistoryError, BadOptionError, CheckError, type CheckErrorCode } from './errors.js';
export { CHECK_STEP_BUDGET_DEFAULT } from './limits.js';
