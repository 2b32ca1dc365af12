import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { type ResourceLimits, type Transferable, Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger';
import { loggerFor } from '../lib/logger';
import { AbortedError, abortReason } from './errors';

/**
 * A fixed-size pool of worker threads for CPU-heavy work, so the event loop (Kafka heartbeats,
 * Redis, timers) keeps running while a proof is computed.
 *
 * - A task names a module (absolute path) and one of its exported functions; the worker
 *   requires the module once and calls the function with the task's arguments. Arguments and
 *   the result cross threads by structured clone (pass `transferList` to move buffers in).
 * - Workers start on demand, up to `size`; tasks beyond that wait in a FIFO queue.
 * - A task that throws rejects with the worker's error (name, message, stack, code kept). A
 *   worker that dies (uncaught exception, `process.exit`, out of memory) rejects its task with
 *   `WorkerCrashedError` and is replaced; the process and the other tasks are unaffected.
 * - Aborting a task's signal removes it from the queue or, once running, terminates its worker
 *   (the only way to stop synchronous CPU work) and replaces it.
 * - TypeScript modules load in the worker through tsx when the parent runs under tsx.
 * - Idle workers do not keep the process alive; `close()` terminates all of them.
 */

export interface WorkerPoolOptions {
  /** Worker threads at most. Default: available parallelism - 1 (at least 1). */
  size?: number;
  /** Names the pool in logs. */
  name?: string;
  resourceLimits?: ResourceLimits;
  logger?: Logger;
}

export interface WorkerTask {
  /** Absolute path of the module to load in the worker (.js, or .ts under tsx). */
  modulePath: string;
  /** Name of the exported function to call. */
  exportName: string;
  args: unknown[];
  /** Buffers in `args` to move instead of copy (they become unusable here). */
  transferList?: readonly Transferable[];
}

export interface WorkerPoolStats {
  size: number;
  /** Workers started and not exited. */
  live: number;
  busy: number;
  queued: number;
  /** Workers that died unexpectedly since the pool was created. */
  crashed: number;
}

/** A worker died while running a task; the task's outcome is unknown. */
export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
  constructor(
    readonly threadId: number,
    readonly exitCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `worker thread ${threadId} died` +
        (exitCode === undefined ? '' : ` with exit code ${exitCode}`) +
        (options?.cause instanceof Error ? `: ${options.cause.message}` : ''),
      options,
    );
  }
}

export class WorkerPoolClosedError extends Error {
  override readonly name = 'WorkerPoolClosedError';
  constructor() {
    super('worker pool is closed');
  }
}

interface Pending {
  id: number;
  task: WorkerTask;
  resolve(value: unknown): void;
  reject(error: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Slot {
  worker: Worker;
  threadId: number;
  current: Pending | undefined;
  /** Terminated on purpose (abort, close): its exit is not a crash. */
  retiring: boolean;
  online: boolean;
  lastError: Error | undefined;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string; stack?: string; code?: unknown };
}

/** Runs in each worker thread (CommonJS, eval'd): loads modules on first use and calls into them. */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const modules = new Map();
const TS = /\\.[cm]?tsx?$/;
function load(modulePath) {
  let loaded = modules.get(modulePath);
  if (loaded === undefined) {
    if (TS.test(modulePath) && !require.extensions['.ts']) {
      if (!workerData.tsxPath) throw new Error('cannot load ' + modulePath + ' in a worker: tsx is not installed');
      require(workerData.tsxPath);
    }
    loaded = require(modulePath);
    modules.set(modulePath, loaded);
  }
  return loaded;
}
function serialize(error) {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack, code: error.code };
  return { name: 'Error', message: 'non-error thrown: ' + String(error) };
}
parentPort.on('message', async (task) => {
  let reply;
  try {
    const fn = load(task.modulePath)[task.exportName];
    if (typeof fn !== 'function') throw new TypeError(task.modulePath + ' does not export a function named ' + task.exportName);
    reply = { id: task.id, ok: true, value: await fn(...task.args) };
    parentPort.postMessage(reply);
  } catch (error) {
    parentPort.postMessage({ id: task.id, ok: false, error: serialize(error) });
  }
});
`;

function resolveTsx(): string | undefined {
  try {
    return require.resolve('tsx/cjs');
  } catch {
    return undefined;
  }
}

export class WorkerPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly log: Logger;
  private readonly tsxPath = resolveTsx();
  private nextId = 0;
  private crashed = 0;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions = {}) {
    this.size = options.size ?? Math.max(1, availableParallelism() - 1);
    if (!(Number.isInteger(this.size) && this.size >= 1)) throw new RangeError('WorkerPool: size must be an integer >= 1');
    this.log = options.logger ?? loggerFor('worker-pool', options.name ? { pool: options.name } : {});
  }

  get stats(): WorkerPoolStats {
    return {
      size: this.size,
      live: this.slots.length,
      busy: this.slots.filter((slot) => slot.current).length,
      queued: this.queue.length,
      crashed: this.crashed,
    };
  }

  /** Runs `task` on a worker; see the module comment for errors, crashes and aborts. */
  run<R>(task: WorkerTask, signal?: AbortSignal): Promise<R> {
    if (this.closed) return Promise.reject(new WorkerPoolClosedError());
    if (!isAbsolute(task.modulePath)) return Promise.reject(new TypeError(`modulePath must be absolute: ${task.modulePath}`));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<R>((resolve, reject) => {
      const pending: Pending = {
        id: this.nextId++,
        task,
        resolve: resolve as (value: unknown) => void,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        pending.onAbort = () => this.abort(pending);
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Starts every worker now and waits until they are all online. */
  async warmUp(): Promise<void> {
    while (!this.closed && this.slots.length < this.size) this.spawn();
    await Promise.all(
      this.slots
        .filter((slot) => !slot.online)
        .map((slot) => new Promise<void>((resolve) => {
          slot.worker.once('online', () => resolve());
          slot.worker.once('exit', () => resolve());
        })),
    );
  }

  /** Rejects queued and running tasks with WorkerPoolClosedError and terminates all workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.queue.splice(0)) this.settle(pending, new WorkerPoolClosedError());
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (slot) => {
        slot.retiring = true;
        if (slot.current) this.settle(slot.current, new WorkerPoolClosedError());
        slot.current = undefined;
        await slot.worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((candidate) => !candidate.current && !candidate.retiring);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      this.assign(slot, this.queue.shift() as Pending);
    }
  }

  private assign(slot: Slot, pending: Pending): void {
    const { modulePath, exportName, args, transferList } = pending.task;
    try {
      slot.worker.postMessage({ id: pending.id, modulePath, exportName, args }, transferList);
    } catch (error) {
      // Arguments that cannot be cloned: the worker never saw the task.
      this.settle(pending, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    slot.current = pending;
    slot.worker.ref();
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { tsxPath: this.tsxPath },
      resourceLimits: this.options.resourceLimits,
    });
    const slot: Slot = {
      worker,
      threadId: worker.threadId,
      current: undefined,
      retiring: false,
      online: false,
      lastError: undefined,
    };
    worker.unref();
    worker.on('online', () => {
      slot.online = true;
    });
    worker.on('message', (reply: Reply) => this.onReply(slot, reply));
    worker.on('error', (error: Error) => {
      slot.lastError = error;
    });
    worker.on('exit', (code: number) => this.onExit(slot, code));
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: Reply): void {
    const pending = slot.current;
    if (!pending || pending.id !== reply.id) return;
    slot.current = undefined;
    slot.worker.unref();
    if (reply.ok) this.settle(pending, undefined, reply.value);
    else this.settle(pending, deserialize(reply.error));
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    if (slot.retiring || this.closed) return;
    this.crashed += 1;
    const error = new WorkerCrashedError(slot.threadId, code, slot.lastError ? { cause: slot.lastError } : undefined);
    this.log.error({ err: error, threadId: slot.threadId, exitCode: code }, 'worker thread died; replacing it');
    if (slot.current) this.settle(slot.current, error);
    slot.current = undefined;
    // Replace it now if it had come up, so the pool stays warm; otherwise on demand.
    if (slot.online && this.queue.length === 0 && this.slots.length < this.size) this.spawn();
    this.dispatch();
  }

  private abort(pending: Pending): void {
    const reason = pending.signal ? abortReason(pending.signal) : new AbortedError();
    const queuedAt = this.queue.indexOf(pending);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      this.settle(pending, reason);
      return;
    }
    const slot = this.slots.find((candidate) => candidate.current === pending);
    if (!slot) return;
    slot.retiring = true;
    slot.current = undefined;
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.settle(pending, reason);
    slot.worker.terminate().catch(() => undefined);
    this.dispatch();
  }

  private settle(pending: Pending, error: Error | undefined, value?: unknown): void {
    if (pending.signal && pending.onAbort) pending.signal.removeEventListener('abort', pending.onAbort);
    if (error) pending.reject(error);
    else pending.resolve(value);
  }
}

function deserialize(remote: Reply['error']): Error {
  const error = new Error(remote?.message ?? 'worker task failed');
  if (remote) {
    error.name = remote.name;
    if (remote.stack) error.stack = remote.stack;
    if (remote.code !== undefined) (error as Error & { code?: unknown }).code = remote.code;
  }
  return error;
}
