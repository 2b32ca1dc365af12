import { resolve } from 'node:path';
import type { Executor } from './executor';
import type { WorkerPool } from './worker-pool';

export interface WorkerExecutorOptions<I, M> {
  pool: WorkerPool;
  /** Module that exports the function; resolved against the current directory if relative. */
  modulePath: string;
  /** The exported function, called in the worker as `fn(...args(input, metadata))`. */
  exportName: string;
  /**
   * What crosses to the worker (structured clone). Default `[input, metadata]`; override it
   * when the metadata holds things that cannot be cloned or that the function does not need.
   */
  args?: (input: I, metadata: M) => unknown[];
}

/**
 * An Executor that runs an exported function on a worker thread of `pool`. Aborting the
 * execute signal terminates the worker running it (see WorkerPool).
 */
export function workerExecutor<I, M, O>(options: WorkerExecutorOptions<I, M>): Executor<I, M, O> {
  const modulePath = resolve(options.modulePath);
  const { pool, exportName } = options;
  const args = options.args ?? ((input: I, metadata: M): unknown[] => [input, metadata]);
  return {
    execute: (input, metadata, signal) => pool.run<O>({ modulePath, exportName, args: args(input, metadata) }, signal),
  };
}
