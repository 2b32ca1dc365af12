import { join } from 'node:path';
import { expect } from 'chai';
import {
  AbortedError,
  type JobOutcome,
  JobRunner,
  WorkerCrashedError,
  workerExecutor,
  WorkerPool,
  WorkerPoolClosedError,
} from '../../processor';
import { FAST, until } from './support';

const TASKS = join(__dirname, 'fixtures', 'cpu-tasks.ts');
const THROWS_ON_LOAD = join(__dirname, 'fixtures', 'throws-on-load.ts');

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('processor/worker-pool', () => {
  let pool: WorkerPool;

  before(async () => {
    pool = new WorkerPool({ size: 2, name: 'test' });
    await pool.warmUp();
  });

  after(async () => {
    await pool.close();
  });

  it('runs an exported function of a TypeScript module on a worker thread', async () => {
    expect(await pool.run<number>({ modulePath: TASKS, exportName: 'double', args: [21] })).to.equal(42);
    expect(await pool.run<number>({ modulePath: TASKS, exportName: 'whichThread', args: [] })).to.be.greaterThan(0);
  });

  it('keeps the event loop responsive while a worker is busy', async () => {
    // The worker spins without yielding until the main thread raises the flag, which the main
    // thread only does from a timer: the task can only finish if timers keep firing meanwhile.
    const flag = new SharedArrayBuffer(8);
    let ticks = 0;
    let spinning = false;
    const task = pool.run<number>({ modulePath: TASKS, exportName: 'spinUntilFlag', args: [flag] });
    const interval = setInterval(() => {
      ticks += 1;
      const cell = new Int32Array(flag);
      if (ticks >= 10 && Atomics.load(cell, 1) === 1 && Atomics.load(cell, 0) === 0) {
        spinning = pool.stats.busy === 1;
        Atomics.store(cell, 0, 1);
      }
    }, 1);
    try {
      const spins = await task;
      expect(spinning).to.equal(true);
      expect(ticks).to.be.at.least(10);
      expect(spins).to.be.greaterThan(0);
    } finally {
      clearInterval(interval);
    }
  });

  it('rejects with the error a task throws, keeping its name, message and code', async () => {
    const error = await rejection(pool.run({ modulePath: TASKS, exportName: 'fail', args: ['bad input'] }));
    expect(error.name).to.equal('RangeError');
    expect(error.message).to.equal('bad input');
    expect((error as Error & { code?: string }).code).to.equal('E_TEST');
    expect(await pool.run({ modulePath: TASKS, exportName: 'double', args: [1] })).to.equal(2);
  });

  it('rejects a task naming a missing export or a module that throws on load', async () => {
    const missing = await rejection(pool.run({ modulePath: TASKS, exportName: 'nope', args: [] }));
    expect(missing.message).to.match(/does not export a function named nope/);
    const onLoad = await rejection(pool.run({ modulePath: THROWS_ON_LOAD, exportName: 'unreachable', args: [] }));
    expect(onLoad.message).to.equal('module failed to load');
    expect(pool.stats.crashed).to.equal(0);
  });

  it('replaces a worker that calls process.exit and keeps working', async () => {
    const crashedBefore = pool.stats.crashed;
    const error = await rejection(pool.run({ modulePath: TASKS, exportName: 'exitNow', args: [7] }));
    expect(error).to.be.instanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).exitCode).to.equal(7);
    expect(pool.stats.crashed).to.equal(crashedBefore + 1);
    const results = await Promise.all(
      [1, 2, 3, 4].map((x) => pool.run<number>({ modulePath: TASKS, exportName: 'double', args: [x] })),
    );
    expect(results).to.deep.equal([2, 4, 6, 8]);
    await until(() => pool.stats.live === 2, 'pool back to full size');
  });

  it('replaces a worker killed by an uncaught exception and keeps working', async () => {
    const error = await rejection(pool.run({ modulePath: TASKS, exportName: 'crashLater', args: [] }));
    expect(error).to.be.instanceOf(WorkerCrashedError);
    expect(error.message).to.match(/uncaught in worker/);
    expect(await pool.run({ modulePath: TASKS, exportName: 'double', args: [5] })).to.equal(10);
  });

  it('terminates the worker of an aborted task and replaces it', async () => {
    const controller = new AbortController();
    const running = pool.run({ modulePath: TASKS, exportName: 'spinForever', args: [] }, controller.signal);
    await until(() => pool.stats.busy === 1, 'task running');
    controller.abort(new AbortedError('enough'));
    const error = await rejection(running);
    expect(error.message).to.equal('enough');
    expect(pool.stats.busy).to.equal(0);
    expect(await pool.run({ modulePath: TASKS, exportName: 'double', args: [6] })).to.equal(12);
  });

  it('runs at most size tasks at once and queues the rest', async () => {
    const flag = new SharedArrayBuffer(8);
    const spinning = [0, 1, 2].map(() => pool.run({ modulePath: TASKS, exportName: 'spinUntilFlag', args: [flag] }));
    await until(() => pool.stats.busy === 2, 'both workers busy');
    expect(pool.stats.queued).to.equal(1);
    Atomics.store(new Int32Array(flag), 0, 1);
    await Promise.all(spinning);
    expect(pool.stats).to.deep.include({ busy: 0, queued: 0 });
  });

  it('rejects queued and running tasks on close, and new tasks after', async () => {
    const own = new WorkerPool({ size: 1 });
    const running = rejection(own.run({ modulePath: TASKS, exportName: 'spinForever', args: [] }));
    const queued = rejection(own.run({ modulePath: TASKS, exportName: 'double', args: [1] }));
    await own.close();
    expect(await running).to.be.instanceOf(WorkerPoolClosedError);
    expect(await queued).to.be.instanceOf(WorkerPoolClosedError);
    expect(await rejection(own.run({ modulePath: TASKS, exportName: 'double', args: [1] }))).to.be.instanceOf(
      WorkerPoolClosedError,
    );
    expect(own.stats.live).to.equal(0);
  });

  it('serves a JobRunner as an executor; a crash becomes an ok:false outcome', async () => {
    const executor = workerExecutor<number, { id: number }, { id: number; value: number }>({
      pool,
      modulePath: TASKS,
      exportName: 'square',
    });
    const crashing = workerExecutor<number, { id: number }, never>({
      pool,
      modulePath: TASKS,
      exportName: 'exitNow',
      args: () => [3],
    });
    const saved: JobOutcome<{ id: number }, unknown>[] = [];
    const ids = [1, 2, 3];
    const stop = new AbortController();
    const done = new JobRunner(
      {
        pick: async () => {
          const id = ids.shift();
          return id === undefined ? null : { input: id, metadata: { id } };
        },
      },
      { execute: (input, metadata, signal) => (input === 2 ? crashing : executor).execute(input, metadata, signal) },
      { save: async (outcome) => void saved.push(outcome) },
      { ...FAST, concurrency: 2 },
    ).run(stop.signal);
    await until(() => saved.length === 3, 'all saved');
    stop.abort();
    const report = await done;

    const byId = new Map(saved.map((outcome) => [outcome.metadata.id, outcome]));
    expect(byId.get(1)).to.deep.include({ ok: true, output: { id: 1, value: 1 } });
    expect(byId.get(3)).to.deep.include({ ok: true, output: { id: 3, value: 9 } });
    const crashed = byId.get(2);
    expect(crashed?.ok).to.equal(false);
    if (crashed && !crashed.ok) expect(crashed.error).to.be.instanceOf(WorkerCrashedError);
    expect(report).to.deep.include({ saved: 3, failedExecutions: 1 });
  });
});
