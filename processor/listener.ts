/**
 * What a runner reports as it goes, for metrics or logs. Every method is optional; a method that
 * throws is logged and ignored, it never disturbs the runner. Keep them cheap and synchronous.
 */
export interface JobRunnerListener<M = unknown> {
  /** The picker returned a job. */
  picked?(metadata: M): void;
  /** An execution finished: `ok` false when it threw; `durationMs` is its wall time. */
  executed?(metadata: M, ok: boolean, durationMs: number): void;
  /** The saver persisted an outcome (`ok` is the outcome's, not the save's). */
  saved?(metadata: M, ok: boolean): void;
  /** The picker had nothing; the runner waits `delayMs` before picking again. */
  idle?(delayMs: number): void;
  /** A pick or a save threw; attempt `attempt` is retried after `delayMs`. */
  retried?(stage: 'pick' | 'save', error: Error, attempt: number, delayMs: number): void;
}
