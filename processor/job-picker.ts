/** One unit of work as it leaves the picker: the executor's input and the metadata that follows it. */
export interface PickedJob<I, M> {
  input: I;
  metadata: M;
}

/**
 * The start of a processor: takes one job from wherever jobs come from.
 *
 * - Resolve `null` when there is nothing to do right now; the runner then waits (idle
 *   back-off) before asking again.
 * - A throw is retried by the runner with back-off; do not retry inside.
 * - `signal` is aborted when the runner stops picking. A long poll should end early on it
 *   (resolving `null` is fine); a job returned after the abort is still processed.
 * - The runner never calls `pick` concurrently with itself.
 */
export interface JobPicker<I, M> {
  pick(signal: AbortSignal): Promise<PickedJob<I, M> | null>;
}
