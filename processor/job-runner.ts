import { performance } from 'node:perf_hooks';
import type { Logger } from '../lib/logger';
import { loggerFor } from '../lib/logger';
import { Backoff, type BackoffOptions, retryWithBackoff, sleep, validateBackoff } from './backoff';
import { BoundedQueue } from './bounded-queue';
import { AbortedError, abortReason, toError } from './errors';
import type { Executor } from './executor';
import type { JobPicker, PickedJob } from './job-picker';
import type { JobOutcome, JobSaver } from './job-saver';
import type { JobRunnerListener } from './listener';

export interface RetryPolicy {
  backoff: BackoffOptions;
  /** Attempts in all, the first included; Infinity retries until the runner stops. */
  maxAttempts: number;
}

/** What to do when a save still fails after `saveRetry.maxAttempts`. */
export type SaveFailurePolicy = 'stop' | 'continue';

export interface JobRunnerOptions<M> {
  /** Names the runner in logs. */
  name?: string;
  /** Executions that run at once (executor workers). Default 1. */
  concurrency?: number;
  /** Picked jobs waiting for an executor. Default 1. */
  pickedQueueSize?: number;
  /** Outcomes waiting for the saver. Default 1. */
  outcomeQueueSize?: number;
  /**
   * Most outcomes handed to the saver's `saveBatch` at once: what is waiting when the saver is
   * free, never a wait for more. Default 1 (one `save` per outcome); needs `saveBatch`.
   */
  saveBatchSize?: number;
  /** Wait between picks that found nothing. Default 1000 ms, x2, up to 5000 ms; reset by a job. */
  idleBackoff?: BackoffOptions;
  /** Retries of a throwing pick. Default 1000 ms, x2, up to 10 s, forever. */
  pickRetry?: Partial<RetryPolicy>;
  /** Retries of a throwing save. Default 500 ms, x2, up to 10 s, 5 attempts. */
  saveRetry?: Partial<RetryPolicy>;
  /**
   * After a save failed `saveRetry.maxAttempts` times: `'stop'` (default) aborts the runner at
   * once, in-flight work included; `'continue'` drops that outcome (unacknowledged) and goes on.
   * Either way the job is reported (onError, and `unsaved` in the run report).
   */
  onSaveFailure?: SaveFailurePolicy;
  /** How long a stop may take to drain in-flight jobs before they are aborted. Default 70 s. */
  gracePeriodMs?: number;
  /** Metrics hooks. */
  listener?: JobRunnerListener<M>;
  /** Called when a pick or a save gave up retrying. */
  onError?: (failure: JobRunnerFailure<M>) => void;
  logger?: Logger;
}

export type JobRunnerFailure<M> =
  | { stage: 'pick'; error: Error; attempts: number; stopping: true }
  | { stage: 'save'; error: Error; attempts: number; metadata: M; stopping: boolean };

/** Why `run()` ended. */
export type StopReason = 'aborted' | 'pick-failed' | 'save-failed';

/** Where a job that was never saved was when the runner ended. */
export type UnsavedStage = 'queued' | 'executing' | 'executed' | 'saving' | 'save-failed';

export interface UnsavedJob<M> {
  metadata: M;
  stage: UnsavedStage;
  /** The last save error, for `save-failed`. */
  error?: Error;
}

export interface JobRunReport<M> {
  reason: StopReason;
  /** True when in-flight work had to be aborted because the grace period ran out. */
  gracePeriodElapsed: boolean;
  picked: number;
  /** Outcomes saved, failed executions included. */
  saved: number;
  /** Saved outcomes that were `ok: false`. */
  failedExecutions: number;
  /** Picked jobs whose outcome was not saved (so not acknowledged), in pick order. */
  unsaved: UnsavedJob<M>[];
}

export const DEFAULT_IDLE_BACKOFF: BackoffOptions = { initialMs: 1000, factor: 2, maxMs: 5000 };
export const DEFAULT_PICK_RETRY: RetryPolicy = {
  backoff: { initialMs: 1000, factor: 2, maxMs: 10_000 },
  maxAttempts: Infinity,
};
export const DEFAULT_SAVE_RETRY: RetryPolicy = {
  backoff: { initialMs: 500, factor: 2, maxMs: 10_000 },
  maxAttempts: 5,
};
export const DEFAULT_GRACE_PERIOD_MS = 70_000;

interface Tracked<M> {
  seq: number;
  metadata: M;
  stage: UnsavedStage;
  error?: Error;
}

interface Queued<I, M> {
  seq: number;
  job: PickedJob<I, M>;
}

interface Finished<M, O> {
  seq: number;
  outcome: JobOutcome<M, O>;
}

/**
 * Runs picker -> executors -> saver as three overlapping stages joined by bounded queues:
 *
 *   pick loop ──▶ [picked queue] ──▶ N execute loops ──▶ [outcome queue] ──▶ save loop
 *
 * One runner, one `run()`. See processor/README.md for the model and its guarantees.
 */
export class JobRunner<I, M, O> {
  private readonly concurrency: number;
  private readonly pickedQueueSize: number;
  private readonly outcomeQueueSize: number;
  private readonly saveBatchSize: number;
  private readonly idleBackoff: BackoffOptions;
  private readonly pickRetry: RetryPolicy;
  private readonly saveRetry: RetryPolicy;
  private readonly onSaveFailure: SaveFailurePolicy;
  private readonly gracePeriodMs: number;
  private readonly listener: JobRunnerListener<M>;
  private readonly log: Logger;
  private started = false;

  constructor(
    private readonly picker: JobPicker<I, M>,
    private readonly executor: Executor<I, M, O>,
    private readonly saver: JobSaver<M, O>,
    private readonly options: JobRunnerOptions<M> = {},
  ) {
    this.concurrency = positiveInteger(options.concurrency ?? 1, 'concurrency');
    this.pickedQueueSize = positiveInteger(options.pickedQueueSize ?? 1, 'pickedQueueSize');
    this.outcomeQueueSize = positiveInteger(options.outcomeQueueSize ?? 1, 'outcomeQueueSize');
    this.saveBatchSize = positiveInteger(options.saveBatchSize ?? 1, 'saveBatchSize');
    if (this.saveBatchSize > 1 && !saver.saveBatch) throw new RangeError('JobRunner: saveBatchSize > 1 needs a saver with saveBatch');
    this.idleBackoff = validateBackoff(options.idleBackoff ?? DEFAULT_IDLE_BACKOFF, 'idleBackoff');
    this.pickRetry = retryPolicy(options.pickRetry, DEFAULT_PICK_RETRY, 'pickRetry');
    this.saveRetry = retryPolicy(options.saveRetry, DEFAULT_SAVE_RETRY, 'saveRetry');
    this.onSaveFailure = options.onSaveFailure ?? 'stop';
    this.gracePeriodMs = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    if (!(this.gracePeriodMs >= 0)) throw new RangeError('JobRunner: gracePeriodMs must be >= 0');
    this.listener = options.listener ?? {};
    this.log = options.logger ?? loggerFor('job-runner', options.name ? { runner: options.name } : {});
  }

  /**
   * Runs until `signal` aborts (or a pick/save gives up), then stops: no more picks, jobs
   * already picked are executed and saved, and the promise resolves. If that takes longer than
   * the grace period, in-flight executions and saves are aborted and the promise resolves at
   * once, listing what was not saved. Never rejects because of a component's failure.
   */
  async run(signal?: AbortSignal): Promise<JobRunReport<M>> {
    if (this.started) throw new Error('JobRunner.run() may only be called once');
    this.started = true;
    return new Run(this.picker, this.executor, this.saver, this.settings(), signal).run();
  }

  private settings(): RunSettings<M> {
    return {
      concurrency: this.concurrency,
      pickedQueueSize: this.pickedQueueSize,
      outcomeQueueSize: this.outcomeQueueSize,
      saveBatchSize: this.saveBatchSize,
      idleBackoff: this.idleBackoff,
      pickRetry: this.pickRetry,
      saveRetry: this.saveRetry,
      onSaveFailure: this.onSaveFailure,
      gracePeriodMs: this.gracePeriodMs,
      listener: this.listener,
      onError: this.options.onError,
      log: this.log,
    };
  }
}

interface RunSettings<M> {
  concurrency: number;
  pickedQueueSize: number;
  outcomeQueueSize: number;
  saveBatchSize: number;
  idleBackoff: BackoffOptions;
  pickRetry: RetryPolicy;
  saveRetry: RetryPolicy;
  onSaveFailure: SaveFailurePolicy;
  gracePeriodMs: number;
  listener: JobRunnerListener<M>;
  onError: ((failure: JobRunnerFailure<M>) => void) | undefined;
  log: Logger;
}

/** The state of one `run()`. */
class Run<I, M, O> {
  /** Aborted when picking must stop (graceful stop begins). */
  private readonly stopPicking = new AbortController();
  /** Aborted when in-flight executions and saves must stop (grace period over, or fatal). */
  private readonly hardStop = new AbortController();
  private readonly picked: BoundedQueue<Queued<I, M>>;
  private readonly finished: BoundedQueue<Finished<M, O>>;
  private readonly jobs = new Map<number, Tracked<M>>();
  private reason: StopReason | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private gracePeriodElapsed = false;
  private seq = 0;
  private savedCount = 0;
  private failedCount = 0;

  constructor(
    private readonly picker: JobPicker<I, M>,
    private readonly executor: Executor<I, M, O>,
    private readonly saver: JobSaver<M, O>,
    private readonly s: RunSettings<M>,
    private readonly external: AbortSignal | undefined,
  ) {
    this.picked = new BoundedQueue(s.pickedQueueSize);
    this.finished = new BoundedQueue(s.outcomeQueueSize);
  }

  async run(): Promise<JobRunReport<M>> {
    const onExternalAbort = (): void => this.stop('aborted');
    if (this.external?.aborted) this.stop('aborted');
    else this.external?.addEventListener('abort', onExternalAbort, { once: true });
    this.s.log.info({ concurrency: this.s.concurrency }, 'job runner started');

    const pickDone = this.pickLoop().finally(() => this.picked.close());
    const executeDone = Promise.all(Array.from({ length: this.s.concurrency }, () => this.executeLoop())).finally(() =>
      this.finished.close(),
    );
    const saveDone = this.saveLoop();
    try {
      await Promise.all([pickDone, executeDone, saveDone]);
    } finally {
      this.external?.removeEventListener('abort', onExternalAbort);
      if (this.graceTimer) clearTimeout(this.graceTimer);
    }
    const report = this.report();
    this.s.log.info(
      {
        reason: report.reason,
        picked: report.picked,
        saved: report.saved,
        unsaved: report.unsaved.length,
        gracePeriodElapsed: report.gracePeriodElapsed,
      },
      'job runner stopped',
    );
    return report;
  }

  /** Graceful stop: no more picks; in-flight work gets the grace period to finish. */
  private stop(reason: StopReason): void {
    if (this.stopPicking.signal.aborted) return;
    this.reason = reason;
    this.s.log.info({ reason, gracePeriodMs: this.s.gracePeriodMs }, 'job runner stopping');
    this.stopPicking.abort(new AbortedError(`runner stopping: ${reason}`));
    this.graceTimer = setTimeout(() => {
      this.gracePeriodElapsed = true;
      this.s.log.warn({ inFlight: this.jobs.size }, 'grace period elapsed; aborting in-flight jobs');
      this.abortInFlight(new AbortedError('grace period elapsed'));
    }, this.s.gracePeriodMs);
  }

  /** Immediate stop: picking and every in-flight execution and save are aborted. */
  private abortInFlight(reason: Error): void {
    if (!this.stopPicking.signal.aborted) this.stopPicking.abort(reason);
    if (!this.hardStop.signal.aborted) this.hardStop.abort(reason);
  }

  private async pickLoop(): Promise<void> {
    const stopSignal = this.stopPicking.signal;
    const idle = new Backoff(this.s.idleBackoff);
    while (!stopSignal.aborted) {
      // Pick only when the job can be queued at once: nothing is held out of the source while blocked.
      if (!(await this.picked.waitForSpace(stopSignal))) break;
      const result = await retryWithBackoff(
        (_attempt, signal) => untilAborted(invoke(() => this.picker.pick(signal)), this.hardStop.signal),
        {
          ...this.s.pickRetry,
          signal: stopSignal,
          onRetry: (error, attempt, delayMs) => {
            this.s.log.warn({ err: error, attempt, delayMs }, 'pick failed; retrying');
            this.notify('retried', (l) => l.retried?.('pick', error, attempt, delayMs));
          },
        },
      );
      if (!result.ok) {
        if (!result.aborted && !this.hardStop.signal.aborted) {
          this.s.log.error({ err: result.error, attempts: result.attempts }, 'pick failed; giving up');
          this.fail({ stage: 'pick', error: result.error, attempts: result.attempts, stopping: true });
          this.stop('pick-failed');
        }
        break;
      }
      const job = result.value;
      if (job === null) {
        const delayMs = idle.next();
        this.notify('idle', (l) => l.idle?.(delayMs));
        await sleep(delayMs, stopSignal);
        continue;
      }
      idle.reset();
      const seq = this.seq++;
      this.jobs.set(seq, { seq, metadata: job.metadata, stage: 'queued' });
      this.notify('picked', (l) => l.picked?.(job.metadata));
      // There is room (single producer), so this does not wait; it only fails once hard-stopped.
      await this.picked.put({ seq, job }, this.hardStop.signal);
    }
  }

  private async executeLoop(): Promise<void> {
    const hard = this.hardStop.signal;
    for (;;) {
      const taken = await this.picked.take(hard);
      if (taken.done) return;
      const { seq, job } = taken.value;
      const tracked = this.track(seq, 'executing');
      const started = performance.now();
      let outcome: JobOutcome<M, O>;
      try {
        const output = await untilAborted(invoke(() => this.executor.execute(job.input, job.metadata, hard)), hard);
        outcome = { metadata: job.metadata, ok: true, output, durationMs: performance.now() - started };
      } catch (thrown) {
        if (hard.aborted) return; // abandoned: stays unsaved in the report
        const error = toError(thrown);
        this.s.log.warn({ err: error, metadata: job.metadata }, 'execution failed');
        outcome = { metadata: job.metadata, ok: false, error, durationMs: performance.now() - started };
      }
      if (hard.aborted) return;
      if (tracked) tracked.stage = 'executed';
      this.notify('executed', (l) => l.executed?.(job.metadata, outcome.ok, outcome.durationMs));
      if (!(await this.finished.put({ seq, outcome }, hard))) return;
    }
  }

  private async saveLoop(): Promise<void> {
    const hard = this.hardStop.signal;
    for (;;) {
      const taken = await this.finished.take(hard);
      if (taken.done) return;
      // Whatever else is already waiting goes with it (never a wait for more).
      const batch = [taken.value, ...this.finished.takeReady(this.s.saveBatchSize - 1)];
      for (const { seq } of batch) this.track(seq, 'saving');
      const outcomes = batch.map((f) => f.outcome);
      const metadata = batch.length === 1 ? outcomes[0].metadata : outcomes.map((o) => o.metadata);
      const save = (_attempt: number, signal: AbortSignal): Promise<void> =>
        untilAborted(invoke(() => (batch.length === 1 ? this.saver.save(outcomes[0], signal) : this.saver.saveBatch!(outcomes, signal))), signal);
      const result = await retryWithBackoff(save, {
        ...this.s.saveRetry,
        signal: hard,
        onRetry: (error, attempt, delayMs) => {
          this.s.log.warn({ err: error, attempt, delayMs, metadata }, 'save failed; retrying');
          this.notify('retried', (l) => l.retried?.('save', error, attempt, delayMs));
        },
      });
      if (result.ok) {
        for (const { seq, outcome } of batch) {
          this.jobs.delete(seq);
          this.savedCount += 1;
          if (!outcome.ok) this.failedCount += 1;
          this.notify('saved', (l) => l.saved?.(outcome.metadata, outcome.ok));
        }
        continue;
      }
      if (result.aborted || hard.aborted) return; // stays 'saving' in the report
      const stopping = this.s.onSaveFailure === 'stop';
      for (const { seq, outcome } of batch) {
        const tracked = this.jobs.get(seq);
        if (tracked) {
          tracked.stage = 'save-failed';
          tracked.error = result.error;
        }
        this.s.log.error(
          { err: result.error, attempts: result.attempts, metadata: outcome.metadata, stopping },
          'save failed; giving up on this outcome (job not acknowledged)',
        );
        this.fail({ stage: 'save', error: result.error, attempts: result.attempts, metadata: outcome.metadata, stopping });
      }
      if (stopping) {
        this.reason = 'save-failed';
        this.abortInFlight(new AbortedError('runner stopping: save failed'));
        if (this.graceTimer) clearTimeout(this.graceTimer);
        return;
      }
    }
  }

  private track(seq: number, stage: UnsavedStage): Tracked<M> | undefined {
    const tracked = this.jobs.get(seq);
    if (tracked) tracked.stage = stage;
    return tracked;
  }

  private fail(failure: JobRunnerFailure<M>): void {
    try {
      this.s.onError?.(failure);
    } catch (error) {
      this.s.log.error({ err: error }, 'onError hook threw');
    }
  }

  private notify(event: string, call: (listener: JobRunnerListener<M>) => void): void {
    try {
      call(this.s.listener);
    } catch (error) {
      this.s.log.warn({ err: error, event }, 'listener threw');
    }
  }

  private report(): JobRunReport<M> {
    const unsaved = [...this.jobs.values()]
      .sort((a, b) => a.seq - b.seq)
      .map(({ metadata, stage, error }): UnsavedJob<M> => (error ? { metadata, stage, error } : { metadata, stage }));
    return {
      reason: this.reason ?? 'aborted',
      gracePeriodElapsed: this.gracePeriodElapsed,
      picked: this.seq,
      saved: this.savedCount,
      failedExecutions: this.failedCount,
      unsaved,
    };
  }
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts, so that a
 * component that ignores its signal cannot hold the runner past the grace period.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => undefined);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function positiveInteger(value: number, what: string): number {
  if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`JobRunner: ${what} must be an integer >= 1`);
  return value;
}

function retryPolicy(given: Partial<RetryPolicy> | undefined, defaults: RetryPolicy, what: string): RetryPolicy {
  const policy = { backoff: given?.backoff ?? defaults.backoff, maxAttempts: given?.maxAttempts ?? defaults.maxAttempts };
  validateBackoff(policy.backoff, `${what}.backoff`);
  if (!(policy.maxAttempts >= 1)) throw new RangeError(`JobRunner: ${what}.maxAttempts must be >= 1`);
  return policy;
}
