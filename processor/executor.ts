/**
 * The work of a processor: turns one picked input (and the metadata that travels with it)
 * into an output.
 *
 * - A throw or a rejected promise is not fatal: the runner turns it into an `ok: false`
 *   outcome and hands that to the saver.
 * - `signal` is aborted only when the runner gives up on in-flight work (grace period elapsed
 *   or a fatal save failure). An executor that can stop early should listen to it; one that
 *   cannot is abandoned and its result dropped.
 * - CPU-heavy work must not run on the event loop: wrap it with `workerExecutor` (see
 *   `worker-executor.ts`) so it runs on a worker thread.
 */
export interface Executor<I, M, O> {
  execute(input: I, metadata: M, signal: AbortSignal): Promise<O>;
}
