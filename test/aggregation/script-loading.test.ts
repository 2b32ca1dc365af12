// The script files are read once per process, sent once per connection (EVAL, then
// EVALSHA), and survive SCRIPT FLUSH through the NOSCRIPT fallback.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import type Redis from 'ioredis';
import { AggregationCounters } from '../../aggregation/counters';
import { SCRIPT_NAMES, scriptFileReads, scriptSource } from '../../aggregation/scripts';
import { connect, uniqueBatchRun } from './support';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** A line of each land script that the other does not have (MONITOR escapes EVAL text). */
const MARKERS: Record<string, string> = {
  land_proof: 'KEYS[6], KEYS[7],',
  land_proofs_batch: 'BAD_CALL land_proofs_batch',
};

describe('aggregation script loading', () => {
  let redis: Redis;
  const created: string[] = [];

  before(() => {
    redis = connect();
  });
  after(async () => {
    const counters = new AggregationCounters(redis);
    for (const b of created) await counters.clear(b);
    redis.disconnect();
  });

  async function registered(counters: AggregationCounters): Promise<string> {
    const b = uniqueBatchRun();
    created.push(b);
    await counters.registerPlan(b, [
      { parent: 'p', expected: 4 },
      { parent: 'q', expected: 1 },
    ]);
    return b;
  }

  it('every script file resolves its includes and has no include line left', () => {
    for (const name of SCRIPT_NAMES) {
      const text = scriptSource(name);
      expect(text, name).not.to.match(/^--- @include/m);
      expect(text.length, name).to.be.greaterThan(100);
    }
    expect(scriptSource('land_proof')).to.match(/local function landOne\(/);
    expect(scriptSource('land_proofs_batch')).to.match(/local function landOne\(/);
  });

  it('reads the files from disk once per process, whatever the number of clients and instances', async () => {
    new AggregationCounters(redis); // makes sure everything is loaded
    const reads = scriptFileReads();
    expect(reads).to.be.greaterThan(0);
    const others = [connect(), connect()];
    try {
      for (const client of [redis, ...others]) {
        for (let i = 0; i < 3; i++) {
          const counters = new AggregationCounters(client);
          const b = await registered(counters);
          await counters.land(b, 'q', 0);
        }
      }
    } finally {
      for (const c of others) c.disconnect();
    }
    expect(scriptFileReads()).to.equal(reads);
  });

  it('sends each script once per connection (EVAL) and by its SHA after that (EVALSHA)', async () => {
    const client = connect();
    const monitor = await connect().monitor();
    const seen: string[] = [];
    const bySha = new Map(SCRIPT_NAMES.map((n) => [sha1(scriptSource(n)), n]));
    try {
      const counters = new AggregationCounters(client);
      const b = await registered(counters);
      await new Promise((r) => setTimeout(r, 100)); // let the registration pass the monitor first
      monitor.on('monitor', (_time: string, args: string[]) => {
        const command = String(args[0]).toLowerCase();
        // MONITOR also shows the commands a script runs; keep the script calls.
        if ((command === 'eval' || command === 'evalsha') && args.some((a) => a.includes(b))) {
          const name =
            command === 'evalsha'
              ? bySha.get(args[1])
              : Object.keys(MARKERS).find((n) => args[1].includes(MARKERS[n])) ?? 'another script';
          seen.push(`${command} ${name}`);
        }
      });
      for (const m of [0, 1, 2, 3]) await counters.land(b, 'p', m);
      await counters.landMany(b, [{ parent: 'p', member: 1 }]);
      await counters.landMany(b, [{ parent: 'p', member: 2 }]);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      monitor.disconnect();
      client.disconnect();
    }
    // land_proof: EVAL once then EVALSHA; land_proofs_batch: the same on its own.
    expect(seen.filter((s) => !s.endsWith('register_plan'))).to.deep.equal([
      'eval land_proof',
      'evalsha land_proof',
      'evalsha land_proof',
      'evalsha land_proof',
      'eval land_proofs_batch',
      'evalsha land_proofs_batch',
    ]);
  });

  it('leaves the scripts in the server cache under their SHA1, and recovers from SCRIPT FLUSH (NOSCRIPT fallback)', async () => {
    const counters = new AggregationCounters(redis);
    const b = await registered(counters);
    await counters.land(b, 'p', 0);
    await counters.landMany(b, [{ parent: 'p', member: 1 }]);
    await counters.progress(b);
    const shas = ['register_plan', 'land_proof', 'land_proofs_batch', 'batch_progress'].map((n) =>
      sha1(scriptSource(n as (typeof SCRIPT_NAMES)[number])),
    );
    expect(await redis.script('EXISTS', ...shas)).to.deep.equal([1, 1, 1, 1]);

    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', ...shas)).to.deep.equal([0, 0, 0, 0]);

    // Single calls and pipelined calls both fall back to EVAL and go on.
    expect((await counters.land(b, 'p', 2)).status).to.equal('WAITING');
    await redis.script('FLUSH');
    const [out] = await counters.landMany(b, [{ parent: 'p', member: 3 }]);
    expect(out).to.deep.equal({ status: 'TRIGGER', landed: 4, expected: 4, owner: 3 });
    await redis.script('FLUSH');
    const [again] = await counters.landManyPipelined([{ batchRunKey: b, parent: 'q', member: 0 }]);
    expect(again.status).to.equal('TRIGGER');
    await redis.script('FLUSH');
    expect((await counters.progress(b))!.triggered).to.equal(2);
    expect(await redis.script('EXISTS', sha1(scriptSource('batch_progress')))).to.deep.equal([1]);
  });
});
