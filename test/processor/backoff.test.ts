import { expect } from 'chai';
import { Backoff, retryWithBackoff, sleep } from '../../processor';

describe('processor/backoff', () => {
  it('grows delays by the factor up to the maximum and resets', () => {
    const backoff = new Backoff({ initialMs: 1000, factor: 2, maxMs: 5000 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).to.deep.equal([
      1000, 2000, 4000, 5000, 5000,
    ]);
    expect(backoff.attempts).to.equal(5);
    backoff.reset();
    expect(backoff.attempts).to.equal(0);
    expect(backoff.next()).to.equal(1000);
  });

  it('takes up to the jitter fraction off each delay', () => {
    const low = new Backoff({ initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 }, () => 1);
    const high = new Backoff({ initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 }, () => 0);
    expect([low.next(), low.next()]).to.deep.equal([50, 100]);
    expect([high.next(), high.next()]).to.deep.equal([100, 200]);
  });

  it('rejects nonsensical settings', () => {
    expect(() => new Backoff({ initialMs: -1, factor: 2, maxMs: 5 })).to.throw(RangeError);
    expect(() => new Backoff({ initialMs: 1, factor: 0.5, maxMs: 5 })).to.throw(RangeError);
    expect(() => new Backoff({ initialMs: 10, factor: 2, maxMs: 5 })).to.throw(RangeError);
    expect(() => new Backoff({ initialMs: 1, factor: 2, maxMs: 5, jitter: 2 })).to.throw(RangeError);
  });

  it('sleep resolves true when it elapses and false when aborted', async () => {
    expect(await sleep(1)).to.equal(true);
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    expect(await pending).to.equal(false);
    expect(await sleep(60_000, controller.signal)).to.equal(false);
  });

  it('retries until success, reporting each retry with its delay', async () => {
    const retries: Array<[number, number]> = [];
    const waits: number[] = [];
    const result = await retryWithBackoff(
      async (attempt) => {
        if (attempt < 4) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      {
        backoff: { initialMs: 10, factor: 3, maxMs: 50 },
        maxAttempts: 10,
        signal: new AbortController().signal,
        onRetry: (_error, attempt, delayMs) => retries.push([attempt, delayMs]),
        sleep: async (ms) => {
          waits.push(ms);
          return true;
        },
      },
    );
    expect(result).to.deep.equal({ ok: true, value: 'done', attempts: 4 });
    expect(retries).to.deep.equal([
      [1, 10],
      [2, 30],
      [3, 50],
    ]);
    expect(waits).to.deep.equal([10, 30, 50]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    const result = await retryWithBackoff(
      async () => {
        calls += 1;
        throw new Error(`fail ${calls}`);
      },
      { backoff: { initialMs: 0, factor: 1, maxMs: 0 }, maxAttempts: 3, signal: new AbortController().signal },
    );
    expect(calls).to.equal(3);
    expect(result.ok).to.equal(false);
    if (!result.ok) {
      expect(result.error.message).to.equal('fail 3');
      expect(result).to.deep.include({ attempts: 3, aborted: false });
    }
  });

  it('stops retrying when aborted during the wait', async () => {
    const controller = new AbortController();
    const result = await retryWithBackoff(
      async () => {
        throw new Error('down');
      },
      {
        backoff: { initialMs: 60_000, factor: 1, maxMs: 60_000 },
        maxAttempts: Infinity,
        signal: controller.signal,
        onRetry: () => controller.abort(),
      },
    );
    expect(result).to.deep.include({ ok: false, attempts: 1, aborted: true });
  });
});
