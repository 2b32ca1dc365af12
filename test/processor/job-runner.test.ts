import { expect } from 'chai';
import {
  type Executor,
  type JobOutcome,
  type JobPicker,
  JobRunner,
  type JobRunnerFailure,
  type JobRunnerListener,
  type JobSaver,
  type PickedJob,
} from '../../processor';
import { deferred, EndlessPicker, FAST, ListPicker, MemorySaver, settle, until } from './support';

const identity: Executor<number, number, number> = { execute: async (input) => input };

describe('processor/job-runner', () => {
  it('saves every picked job exactly once', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => i);
    const picker = new ListPicker([...ids]);
    const saver = new MemorySaver<number>();
    const executor: Executor<number, number, number> = {
      // Uneven durations so that completion order differs from pick order.
      execute: async (input) => {
        await new Promise((resolve) => setTimeout(resolve, input % 3));
        return input * 10;
      },
    };
    const runner = new JobRunner(picker, executor, saver, { ...FAST, concurrency: 4, pickedQueueSize: 2, outcomeQueueSize: 2 });
    const stop = new AbortController();
    const done = runner.run(stop.signal);
    await until(() => saver.outcomes.length === ids.length, 'all saved');
    stop.abort();
    const report = await done;

    expect([...saver.acknowledged].sort((a, b) => a - b)).to.deep.equal(ids);
    for (const outcome of saver.outcomes) {
      expect(outcome.ok).to.equal(true);
      if (outcome.ok) expect(outcome.output).to.equal(outcome.metadata * 10);
    }
    expect(report).to.deep.include({ reason: 'aborted', picked: 40, saved: 40, failedExecutions: 0, unsaved: [] });
  });

  it('picks the next job while an execution is in flight, and executes while saving', async () => {
    const events: string[] = [];
    const execGates = [deferred(), deferred()];
    const saveGate = deferred();
    const picker = new ListPicker([0, 1], events);
    const executor: Executor<number, number, number> = {
      execute: async (input) => {
        events.push(`exec-start:${input}`);
        await execGates[input].promise;
        events.push(`exec-end:${input}`);
        return input;
      },
    };
    const saver: JobSaver<number, number> = {
      save: async (outcome) => {
        events.push(`save-start:${outcome.metadata}`);
        if (outcome.metadata === 0) await saveGate.promise;
        events.push(`save-end:${outcome.metadata}`);
      },
    };
    const stop = new AbortController();
    const done = new JobRunner(picker, executor, saver, FAST).run(stop.signal);

    await until(() => events.includes('pick:1'), 'second pick');
    execGates[0].resolve();
    await until(() => events.includes('exec-start:1'), 'second execution');
    saveGate.resolve();
    execGates[1].resolve();
    await until(() => events.includes('save-end:1'), 'second save');
    stop.abort();
    await done;

    const at = (event: string): number => events.indexOf(event);
    // Job 1 was picked while job 0 was executing.
    expect(at('exec-start:0')).to.be.lessThan(at('pick:1'));
    expect(at('pick:1')).to.be.lessThan(at('exec-end:0'));
    // Job 1 started executing while job 0 was being saved.
    expect(at('save-start:0')).to.be.lessThan(at('exec-start:1'));
    expect(at('exec-start:1')).to.be.lessThan(at('save-end:0'));
  });

  it('does not pick beyond the queue bounds while the executor is blocked', async () => {
    const picker = new EndlessPicker();
    const gate = deferred();
    let executing = 0;
    const executor: Executor<number, number, number> = {
      execute: async (input) => {
        executing += 1;
        await gate.promise;
        return input;
      },
    };
    const saver = new MemorySaver<number>();
    const stop = new AbortController();
    const done = new JobRunner(picker, executor, saver, { ...FAST, concurrency: 2, pickedQueueSize: 3 }).run(stop.signal);

    await until(() => executing === 2, 'both executors busy');
    await settle();
    // Two jobs in the executors, three in the queue, none held by a blocked picker.
    expect(picker.calls).to.equal(2 + 3);

    stop.abort();
    gate.resolve();
    const report = await done;
    expect(report.saved).to.equal(5);
    expect(picker.calls).to.equal(5);
  });

  it('does not pick beyond the queue bounds while the saver is blocked', async () => {
    const picker = new EndlessPicker();
    const gate = deferred();
    const saver: JobSaver<number, number> & { calls: number } = {
      calls: 0,
      async save() {
        this.calls += 1;
        await gate.promise;
      },
    };
    const stop = new AbortController();
    const done = new JobRunner(picker, identity, saver, { ...FAST, pickedQueueSize: 2, outcomeQueueSize: 1 }).run(stop.signal);

    await until(() => saver.calls === 1, 'saver busy');
    await settle();
    // 1 saving + 1 in the outcome queue + 1 executed, waiting for room + 2 in the picked queue.
    expect(picker.calls).to.equal(5);
    stop.abort();
    gate.resolve();
    expect((await done).saved).to.equal(5);
  });

  it('runs N executions concurrently and never more', async () => {
    const concurrency = 3;
    let active = 0;
    let maxActive = 0;
    let arrivals = 0;
    const allArrived = deferred();
    const executor: Executor<number, number, number> = {
      execute: async (input) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        arrivals += 1;
        if (arrivals === concurrency) allArrived.resolve();
        // The first N wait for each other: this only completes if N run at the same time.
        await allArrived.promise;
        await new Promise((resolve) => setImmediate(resolve));
        active -= 1;
        return input;
      },
    };
    const saver = new MemorySaver<number>();
    const stop = new AbortController();
    const done = new JobRunner(new ListPicker([0, 1, 2, 3, 4, 5, 6, 7, 8]), executor, saver, {
      ...FAST,
      concurrency,
      pickedQueueSize: 4,
    }).run(stop.signal);
    await until(() => saver.outcomes.length === 9, 'all saved');
    stop.abort();
    await done;
    expect(maxActive).to.equal(concurrency);
  });

  it('backs off while idle, doubling up to the maximum, and resets after a pick', async () => {
    const script: Array<number | null> = [null, null, null, null, null, 7, null, null, null];
    const picker: JobPicker<number, number> = {
      pick: async () => {
        const next = script.shift();
        return next === undefined || next === null ? null : { input: next, metadata: next };
      },
    };
    const delays: number[] = [];
    const listener: JobRunnerListener<number> = { idle: (ms) => delays.push(ms) };
    const stop = new AbortController();
    const done = new JobRunner(picker, identity, new MemorySaver<number>(), {
      ...FAST,
      idleBackoff: { initialMs: 1, factor: 2, maxMs: 8 },
      listener,
    }).run(stop.signal);
    await until(() => delays.length >= 10, 'ten idle waits');
    stop.abort();
    await done;
    expect(delays.slice(0, 10)).to.deep.equal([1, 2, 4, 8, 8, 1, 2, 4, 8, 8]);
  });

  it('retries a throwing pick with back-off', async () => {
    let calls = 0;
    const picker: JobPicker<number, number> = {
      pick: async () => {
        calls += 1;
        if (calls <= 2) throw new Error(`broker unavailable ${calls}`);
        return calls === 3 ? { input: 3, metadata: 3 } : null;
      },
    };
    const retries: Array<[string, string, number, number]> = [];
    const saver = new MemorySaver<number>();
    const stop = new AbortController();
    const done = new JobRunner(picker, identity, saver, {
      ...FAST,
      pickRetry: { backoff: { initialMs: 1, factor: 3, maxMs: 100 } },
      listener: { retried: (stage, error, attempt, delayMs) => retries.push([stage, error.message, attempt, delayMs]) },
    }).run(stop.signal);
    await until(() => saver.outcomes.length === 1, 'job saved');
    stop.abort();
    const report = await done;
    expect(retries).to.deep.equal([
      ['pick', 'broker unavailable 1', 1, 1],
      ['pick', 'broker unavailable 2', 2, 3],
    ]);
    expect(saver.acknowledged).to.deep.equal([3]);
    expect(report.reason).to.equal('aborted');
  });

  it('stops and reports when picks keep failing past maxAttempts', async () => {
    const failures: JobRunnerFailure<number>[] = [];
    const picker: JobPicker<number, number> = {
      pick: async () => {
        throw new Error('no broker');
      },
    };
    const report = await new JobRunner(picker, identity, new MemorySaver<number>(), {
      ...FAST,
      pickRetry: { backoff: FAST.pickRetry.backoff, maxAttempts: 3 },
      onError: (failure) => failures.push(failure),
    }).run();
    expect(report.reason).to.equal('pick-failed');
    expect(failures).to.have.length(1);
    expect(failures[0]).to.deep.include({ stage: 'pick', attempts: 3, stopping: true });
  });

  it('retries a throwing save until it succeeds, saving the job once', async () => {
    let attempts = 0;
    const acknowledged: number[] = [];
    const saver: JobSaver<number, number> = {
      save: async (outcome) => {
        attempts += 1;
        if (attempts <= 2) throw new Error('object store timeout');
        acknowledged.push(outcome.metadata);
      },
    };
    const retries: number[] = [];
    const stop = new AbortController();
    const done = new JobRunner(new ListPicker([5]), identity, saver, {
      ...FAST,
      saveRetry: { backoff: { initialMs: 1, factor: 2, maxMs: 4 }, maxAttempts: 5 },
      listener: { retried: (stage, _error, attempt) => retries.push(attempt) },
    }).run(stop.signal);
    await until(() => acknowledged.length === 1, 'saved');
    stop.abort();
    const report = await done;
    expect(acknowledged).to.deep.equal([5]);
    expect(attempts).to.equal(3);
    expect(retries).to.deep.equal([1, 2]);
    expect(report).to.deep.include({ saved: 1, unsaved: [] });
  });

  describe('a save that keeps failing', () => {
    class PoisonSaver extends MemorySaver<number> {
      attemptsOnPoison = 0;
      constructor(private readonly poison: number) {
        super();
      }
      override async save(outcome: JobOutcome<number, number>): Promise<void> {
        if (outcome.metadata === this.poison) {
          this.attemptsOnPoison += 1;
          throw new Error('cannot write');
        }
        await super.save(outcome);
      }
    }

    it('is reported, not acknowledged, and stops the runner by default', async () => {
      const saver = new PoisonSaver(1);
      const failures: JobRunnerFailure<number>[] = [];
      const picker = new EndlessPicker();
      const report = await new JobRunner(picker, identity, saver, {
        ...FAST,
        onError: (failure) => failures.push(failure),
      }).run();

      expect(saver.attemptsOnPoison).to.equal(3);
      expect(saver.acknowledged).to.not.include(1);
      expect(failures).to.have.length(1);
      expect(failures[0]).to.deep.include({ stage: 'save', metadata: 1, attempts: 3, stopping: true });
      expect(failures[0].error.message).to.equal('cannot write');
      expect(report.reason).to.equal('save-failed');
      const poisoned = report.unsaved.find((job) => job.metadata === 1);
      expect(poisoned).to.deep.include({ stage: 'save-failed' });
      expect(poisoned?.error?.message).to.equal('cannot write');
      // Everything picked is either saved or listed as unsaved.
      expect(report.saved + report.unsaved.length).to.equal(report.picked);
    });

    it("is reported and skipped with onSaveFailure: 'continue'", async () => {
      const saver = new PoisonSaver(1);
      const failures: JobRunnerFailure<number>[] = [];
      const stop = new AbortController();
      const done = new JobRunner(new ListPicker([0, 1, 2, 3]), identity, saver, {
        ...FAST,
        onSaveFailure: 'continue',
        onError: (failure) => failures.push(failure),
      }).run(stop.signal);
      await until(() => saver.acknowledged.length === 3, 'others saved');
      stop.abort();
      const report = await done;

      expect(saver.acknowledged).to.deep.equal([0, 2, 3]);
      expect(failures.map((f) => [f.stage, f.stopping])).to.deep.equal([['save', false]]);
      expect(report.reason).to.equal('aborted');
      expect(report.unsaved.map((job) => [job.metadata, job.stage])).to.deep.equal([[1, 'save-failed']]);
    });
  });

  it('turns a failing executor into an ok:false outcome for the saver', async () => {
    const executor: Executor<number, number, number> = {
      execute(input) {
        if (input === 0) throw new Error('synchronous throw');
        if (input === 1) return Promise.reject(new TypeError('rejected'));
        if (input === 2) return Promise.reject('a string'); // eslint-disable-line prefer-promise-reject-errors
        return Promise.resolve(input);
      },
    };
    const saver = new MemorySaver<number>();
    const executed: boolean[] = [];
    const stop = new AbortController();
    const done = new JobRunner(new ListPicker([0, 1, 2, 3]), executor, saver, {
      ...FAST,
      listener: { executed: (_m, ok) => executed.push(ok) },
    }).run(stop.signal);
    await until(() => saver.outcomes.length === 4, 'all saved');
    stop.abort();
    const report = await done;

    const byId = new Map(saver.outcomes.map((outcome) => [outcome.metadata, outcome]));
    const errorOf = (id: number): Error | undefined => {
      const outcome = byId.get(id);
      return outcome && !outcome.ok ? outcome.error : undefined;
    };
    expect(errorOf(0)?.message).to.equal('synchronous throw');
    expect(errorOf(1)).to.be.instanceOf(TypeError);
    expect(errorOf(2)?.message).to.equal('a string');
    expect(byId.get(3)).to.deep.include({ ok: true, output: 3 });
    expect(executed).to.deep.equal([false, false, false, true]);
    expect(report).to.deep.include({ saved: 4, failedExecutions: 3 });
  });

  it('keeps running when a listener throws', async () => {
    const saver = new MemorySaver<number>();
    const stop = new AbortController();
    const done = new JobRunner(new ListPicker([0, 1]), identity, saver, {
      ...FAST,
      listener: {
        picked: () => {
          throw new Error('metrics broke');
        },
        saved: () => {
          throw new Error('metrics broke');
        },
      },
    }).run(stop.signal);
    await until(() => saver.outcomes.length === 2, 'saved');
    stop.abort();
    expect((await done).saved).to.equal(2);
  });

  describe('cancellation', () => {
    it('stops picking, finishes and saves in-flight jobs, then resolves', async () => {
      const picker = new EndlessPicker();
      const gate = deferred();
      let executing = 0;
      const signals: AbortSignal[] = [];
      const executor: Executor<number, number, number> = {
        execute: async (input, _metadata, signal) => {
          signals.push(signal);
          executing += 1;
          await gate.promise;
          return input;
        },
      };
      const saver = new MemorySaver<number>();
      const stop = new AbortController();
      let resolved = false;
      const done = new JobRunner(picker, executor, saver, { ...FAST, concurrency: 2, pickedQueueSize: 1 })
        .run(stop.signal)
        .finally(() => {
          resolved = true;
        });
      await until(() => executing === 2 && picker.calls === 3, 'two executing, one queued');

      stop.abort();
      await settle();
      expect(resolved).to.equal(false); // still draining
      gate.resolve();
      const report = await done;

      expect(picker.calls).to.equal(3); // no pick after the abort
      expect([...saver.acknowledged].sort()).to.deep.equal([0, 1, 2]);
      expect(report).to.deep.include({ reason: 'aborted', gracePeriodElapsed: false, picked: 3, saved: 3, unsaved: [] });
      expect(signals.every((signal) => !signal.aborted)).to.equal(true);
    });

    it('gives a long pick the stop signal', async () => {
      const picker: JobPicker<number, number> = {
        pick: (signal) =>
          new Promise<PickedJob<number, number> | null>((resolve) => {
            signal.addEventListener('abort', () => resolve(null), { once: true });
          }),
      };
      const stop = new AbortController();
      const done = new JobRunner(picker, identity, new MemorySaver<number>(), FAST).run(stop.signal);
      await settle(5);
      stop.abort();
      expect(await done).to.deep.include({ reason: 'aborted', picked: 0, unsaved: [] });
    });

    it('resolves at once when the signal is already aborted', async () => {
      const picker = new EndlessPicker();
      const stop = new AbortController();
      stop.abort();
      const report = await new JobRunner(picker, identity, new MemorySaver<number>(), FAST).run(stop.signal);
      expect(picker.calls).to.equal(0);
      expect(report.picked).to.equal(0);
    });

    it('aborts in-flight work when the grace period elapses and reports what was not saved', async () => {
      const picker = new EndlessPicker();
      const seen: AbortSignal[] = [];
      const executor: Executor<number, number, number> = {
        execute: (input, _metadata, signal) => {
          seen.push(signal);
          // Job 0 honours the signal; the others never settle at all.
          if (input === 0) {
            return new Promise((_resolve, reject) => {
              signal.addEventListener('abort', () => reject(signal.reason), { once: true });
            });
          }
          return new Promise<number>(() => undefined);
        },
      };
      const saver = new MemorySaver<number>();
      const stop = new AbortController();
      const done = new JobRunner(picker, executor, saver, {
        ...FAST,
        concurrency: 2,
        pickedQueueSize: 1,
        gracePeriodMs: 20,
      }).run(stop.signal);
      await until(() => seen.length === 2 && picker.calls === 3, 'two executing, one queued');
      stop.abort();
      const report = await done;

      expect(seen.every((signal) => signal.aborted)).to.equal(true);
      expect(saver.outcomes).to.deep.equal([]);
      expect(report).to.deep.include({ reason: 'aborted', gracePeriodElapsed: true, picked: 3, saved: 0 });
      expect(report.unsaved).to.deep.equal([
        { metadata: 0, stage: 'executing' },
        { metadata: 1, stage: 'executing' },
        { metadata: 2, stage: 'queued' },
      ]);
    });

    it('aborts a save in progress when the grace period elapses', async () => {
      let saveSignal: AbortSignal | undefined;
      const saver: JobSaver<number, number> = {
        save: (_outcome, signal) => {
          saveSignal = signal;
          return new Promise<void>(() => undefined);
        },
      };
      const stop = new AbortController();
      const done = new JobRunner(new ListPicker([4]), identity, saver, { ...FAST, gracePeriodMs: 10 }).run(stop.signal);
      await until(() => saveSignal !== undefined, 'save started');
      stop.abort();
      const report = await done;
      expect(saveSignal?.aborted).to.equal(true);
      expect(report.gracePeriodElapsed).to.equal(true);
      expect(report.unsaved).to.deep.equal([{ metadata: 4, stage: 'saving' }]);
    });
  });

  describe('batched saves (saveBatchSize)', () => {
    it('hands the saver what waits while it is busy, in one saveBatch, and reports each job', async () => {
      const gate = deferred();
      const batches: number[][] = [];
      const saved: number[] = [];
      const saver: JobSaver<number, number> = {
        save: async (outcome) => {
          batches.push([outcome.metadata]);
          await gate.promise; // holds the saver while the other outcomes queue up
        },
        saveBatch: async (outcomes) => {
          batches.push(outcomes.map((o) => o.metadata));
        },
      };
      const listener: JobRunnerListener<number> = { saved: (m) => saved.push(m) };
      const stop = new AbortController();
      const done = new JobRunner(new ListPicker([0, 1, 2, 3, 4, 5]), identity, saver, { ...FAST, concurrency: 6, pickedQueueSize: 6, outcomeQueueSize: 8, saveBatchSize: 4, listener }).run(stop.signal);
      await until(() => batches.length === 1, 'first save started');
      await new Promise((r) => setTimeout(r, 30)); // the five others finish executing meanwhile
      gate.resolve();
      await until(() => saved.length === 6, 'all saved');
      stop.abort();
      const report = await done;
      expect(batches[0]).to.have.length(1);
      expect(batches.slice(1).map((b) => b.length)).to.deep.equal([4, 1], 'at most saveBatchSize at once, and no wait for a full batch');
      expect(batches.flat().sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(saved.sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(report).to.deep.include({ saved: 6, unsaved: [] });
    });

    it('retries a throwing saveBatch as a whole; each job is acknowledged once', async () => {
      let calls = 0;
      const acknowledged: number[] = [];
      const gate = deferred();
      const saver: JobSaver<number, number> = {
        save: async (outcome) => {
          await gate.promise;
          acknowledged.push(outcome.metadata);
        },
        saveBatch: async (outcomes) => {
          if (++calls === 1) throw new Error('store unavailable');
          acknowledged.push(...outcomes.map((o) => o.metadata));
        },
      };
      const stop = new AbortController();
      const done = new JobRunner(new ListPicker([0, 1, 2]), identity, saver, { ...FAST, concurrency: 3, pickedQueueSize: 3, outcomeQueueSize: 4, saveBatchSize: 8 }).run(stop.signal);
      await new Promise((r) => setTimeout(r, 30));
      gate.resolve();
      await until(() => acknowledged.length === 3, 'all acknowledged');
      stop.abort();
      const report = await done;
      expect(calls).to.equal(2);
      expect(acknowledged.sort()).to.deep.equal([0, 1, 2]);
      expect(report).to.deep.include({ saved: 3, unsaved: [] });
    });

    it('reports every job of a batch whose save keeps failing', async () => {
      const failures: JobRunnerFailure<number>[] = [];
      const gate = deferred();
      const saver: JobSaver<number, number> = {
        save: async () => {
          await gate.promise;
        },
        saveBatch: async () => {
          throw new Error('disk full');
        },
      };
      const stop = new AbortController();
      const done = new JobRunner(new ListPicker([0, 1, 2]), identity, saver, { ...FAST, concurrency: 3, pickedQueueSize: 3, outcomeQueueSize: 4, saveBatchSize: 8, onError: (f) => failures.push(f) }).run(stop.signal);
      await new Promise((r) => setTimeout(r, 30));
      gate.resolve();
      const report = await done;
      expect(report.reason).to.equal('save-failed');
      expect(failures.map((f) => (f.stage === 'save' ? f.metadata : -1)).sort()).to.deep.equal([1, 2]);
      expect(report.unsaved.filter((u) => u.stage === 'save-failed').map((u) => u.metadata).sort()).to.deep.equal([1, 2]);
      expect(report.saved).to.equal(1);
    });

    it('needs a saver with saveBatch', () => {
      expect(() => new JobRunner(new ListPicker([]), identity, new MemorySaver<number>(), { saveBatchSize: 2 })).to.throw(RangeError, /saveBatch/);
    });
  });

  it('rejects a second run()', async () => {
    const stop = new AbortController();
    stop.abort();
    const runner = new JobRunner(new ListPicker([]), identity, new MemorySaver<number>(), FAST);
    await runner.run(stop.signal);
    let error: unknown;
    try {
      await runner.run(stop.signal);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).to.be.instanceOf(Error);
  });

  it('rejects invalid options', () => {
    const make = (options: object) => () => new JobRunner(new ListPicker([]), identity, new MemorySaver<number>(), options);
    expect(make({ concurrency: 0 })).to.throw(RangeError);
    expect(make({ pickedQueueSize: 1.5 })).to.throw(RangeError);
    expect(make({ idleBackoff: { initialMs: 10, factor: 2, maxMs: 5 } })).to.throw(RangeError);
    expect(make({ saveRetry: { maxAttempts: 0 } })).to.throw(RangeError);
  });
});
