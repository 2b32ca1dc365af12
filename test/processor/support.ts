import type { JobOutcome, JobPicker, JobSaver, PickedJob } from '../../processor';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Polls `condition` on the macrotask queue (no fixed sleeps) until it holds. */
export async function until(condition: () => boolean, what = 'condition', limitMs = 2000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets every ready callback and short timer run, to check that something does NOT happen. */
export async function settle(ms = 25): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Hands out the given ids as jobs (input = id, metadata = id), then `null`. Logs every call. */
export class ListPicker implements JobPicker<number, number> {
  calls = 0;
  readonly picked: number[] = [];

  constructor(
    private readonly ids: number[],
    private readonly events: string[] = [],
  ) {}

  async pick(): Promise<PickedJob<number, number> | null> {
    this.calls += 1;
    const id = this.ids.shift();
    if (id === undefined) return null;
    this.picked.push(id);
    this.events.push(`pick:${id}`);
    return { input: id, metadata: id };
  }
}

/** An endless supply of jobs 0, 1, 2, ... */
export class EndlessPicker implements JobPicker<number, number> {
  calls = 0;
  async pick(): Promise<PickedJob<number, number>> {
    const id = this.calls++;
    return { input: id, metadata: id };
  }
}

/** Keeps outcomes in memory; `acknowledged` is what a real saver would have committed. */
export class MemorySaver<O> implements JobSaver<number, O> {
  readonly outcomes: JobOutcome<number, O>[] = [];
  readonly acknowledged: number[] = [];

  constructor(private readonly events: string[] = []) {}

  async save(outcome: JobOutcome<number, O>): Promise<void> {
    this.events.push(`save:${outcome.metadata}`);
    this.outcomes.push(outcome);
    this.acknowledged.push(outcome.metadata);
  }
}

export const FAST = {
  idleBackoff: { initialMs: 1, factor: 2, maxMs: 4 },
  pickRetry: { backoff: { initialMs: 1, factor: 2, maxMs: 4 } },
  saveRetry: { backoff: { initialMs: 1, factor: 2, maxMs: 4 }, maxAttempts: 3 },
};
