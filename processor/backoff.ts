import { toError } from './errors';

/**
 * Exponential back-off, an abortable sleep and a retry loop built from the two. The runner uses
 * the same helper for idle waits (picker found nothing), pick retries and save retries.
 */

export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Each delay is the previous one times this (>= 1). */
  factor: number;
  /** Delays never exceed this. */
  maxMs: number;
  /**
   * Fraction of each delay that is randomised away (0 = exact delays, 0.2 = anywhere between
   * 80% and 100% of the nominal delay). Spreads out replicas that back off together.
   */
  jitter?: number;
}

export function validateBackoff(options: BackoffOptions, what = 'back-off'): BackoffOptions {
  const { initialMs, factor, maxMs, jitter = 0 } = options;
  if (!(Number.isFinite(initialMs) && initialMs >= 0)) throw new RangeError(`${what}: initialMs must be a finite number >= 0`);
  if (!(Number.isFinite(factor) && factor >= 1)) throw new RangeError(`${what}: factor must be a finite number >= 1`);
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) throw new RangeError(`${what}: maxMs must be finite and >= initialMs`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`${what}: jitter must be within [0, 1]`);
  return options;
}

/** Successive delays: initialMs, initialMs*factor, ... capped at maxMs, until `reset()`. */
export class Backoff {
  private nominal: number;
  private count = 0;

  constructor(
    readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    validateBackoff(options);
    this.nominal = options.initialMs;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.count;
  }

  /** The next delay to wait, in ms; advances the sequence. */
  next(): number {
    const { factor, maxMs, jitter = 0 } = this.options;
    const nominal = this.nominal;
    this.nominal = Math.min(maxMs, nominal * factor);
    this.count += 1;
    return jitter > 0 ? Math.round(nominal * (1 - jitter * this.random())) : nominal;
  }

  /** Back to `initialMs` (after a success). */
  reset(): void {
    this.nominal = this.options.initialMs;
    this.count = 0;
  }
}

/**
 * Waits `ms`, or less if `signal` aborts. Resolves `true` when the full time elapsed and
 * `false` when it was cut short (or the signal was already aborted). Never rejects.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  backoff: BackoffOptions;
  /** Total attempts, the first included (>= 1; Infinity retries until aborted). */
  maxAttempts: number;
  /** Stops retrying (the current attempt is not interrupted, `fn` gets it too). */
  signal: AbortSignal;
  /** Called after a failed attempt that will be retried, before the wait. */
  onRetry?: (error: Error, attempt: number, delayMs: number) => void;
  /** Replaces `sleep` (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<boolean>;
}

export type RetryResult<T> =
  | { ok: true; value: T; attempts: number }
  | { ok: false; error: Error; attempts: number; aborted: boolean };

/** Calls `fn` until it resolves, `maxAttempts` is reached or `signal` aborts. Never rejects. */
export async function retryWithBackoff<T>(
  fn: (attempt: number, signal: AbortSignal) => Promise<T>,
  options: RetryOptions,
): Promise<RetryResult<T>> {
  const { maxAttempts, signal, onRetry } = options;
  if (!(maxAttempts >= 1)) throw new RangeError('retry: maxAttempts must be >= 1');
  const wait = options.sleep ?? sleep;
  const backoff = new Backoff(options.backoff);
  let lastError: Error = new Error('not attempted: aborted before the first attempt');
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    if (signal.aborted) return { ok: false, error: lastError, attempts: attempt - 1, aborted: true };
    try {
      return { ok: true, value: await fn(attempt, signal), attempts: attempt };
    } catch (thrown) {
      lastError = toError(thrown);
    }
    if (attempt >= maxAttempts) break;
    if (signal.aborted) return { ok: false, error: lastError, attempts: attempt, aborted: true };
    const delayMs = backoff.next();
    onRetry?.(lastError, attempt, delayMs);
    if (!(await wait(delayMs, signal))) return { ok: false, error: lastError, attempts: attempt, aborted: true };
  }
  return { ok: false, error: lastError, attempts: maxAttempts, aborted: false };
}
