export type { Executor } from './executor';
export type { JobPicker, PickedJob } from './job-picker';
export type { JobOutcome, JobSaver } from './job-saver';
export type { JobRunnerListener } from './listener';
export {
  DEFAULT_GRACE_PERIOD_MS,
  DEFAULT_IDLE_BACKOFF,
  DEFAULT_PICK_RETRY,
  DEFAULT_SAVE_RETRY,
  JobRunner,
  type JobRunnerFailure,
  type JobRunnerOptions,
  type JobRunReport,
  type RetryPolicy,
  type SaveFailurePolicy,
  type StopReason,
  type UnsavedJob,
  type UnsavedStage,
} from './job-runner';
export { BoundedQueue, type Taken } from './bounded-queue';
export {
  Backoff,
  type BackoffOptions,
  retryWithBackoff,
  type RetryOptions,
  type RetryResult,
  sleep,
  validateBackoff,
} from './backoff';
export { AbortedError, abortReason, toError } from './errors';
export {
  WorkerCrashedError,
  WorkerPool,
  WorkerPoolClosedError,
  type WorkerPoolOptions,
  type WorkerPoolStats,
  type WorkerTask,
} from './worker-pool';
export { workerExecutor, type WorkerExecutorOptions } from './worker-executor';
export { installSignalHandlers, type SignalHandlerOptions, type SignalHandlers } from './signals';
