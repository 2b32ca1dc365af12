/** What the executor made of one job, as handed to the saver. */
export type JobOutcome<M, O> =
  | { metadata: M; ok: true; output: O; durationMs: number }
  | { metadata: M; ok: false; error: Error; durationMs: number };

/**
 * The end of a processor: persists one outcome and acknowledges its job.
 *
 * - Acknowledge the job (commit its offset, delete its lease, ...) only once everything it
 *   produced is durable: the runner relies on "acknowledged after saved" for at-least-once.
 * - A throw is retried by the runner with back-off, so `save` must be idempotent: a retry (or
 *   a redelivery after a crash) may repeat work that partly succeeded.
 * - Outcomes arrive in completion order, not pick order. A saver whose acknowledgement is
 *   positional (Kafka offsets) must only commit the contiguous prefix of saved jobs.
 * - `ok: false` outcomes are outcomes too: decide whether they go to a retry queue, a
 *   dead-letter topic, or get dropped, and acknowledge accordingly.
 * - `signal` is aborted when the runner gives up on in-flight work.
 * - The runner never calls `save` concurrently with itself.
 */
export interface JobSaver<M, O> {
  save(outcome: JobOutcome<M, O>, signal: AbortSignal): Promise<void>;
  /**
   * Optional: saves several outcomes at once (the runner's `saveBatchSize`), e.g. one round
   * trip for all their writes. Same contract as `save` for each outcome; a throw retries the
   * whole batch, so it must be idempotent as a whole.
   */
  saveBatch?(outcomes: JobOutcome<M, O>[], signal: AbortSignal): Promise<void>;
}
