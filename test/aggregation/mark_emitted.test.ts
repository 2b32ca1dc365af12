// mark_emitted.lua: after the transaction that produced a parent job commits, a redelivered
// trigger owner no longer answers TRIGGER.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { AggregationCounters, AggregationError } from '../../aggregation';
import { aggregationKeys } from '../../aggregation/keys';
import { connect, evalScript, expectRejects, keysOf, uniqueBatchRun } from './support';

describe('aggregation/scripts/mark_emitted.lua', () => {
  let redis: Redis;
  let counters: AggregationCounters;
  const created: string[] = [];
  before(() => {
    redis = connect();
    counters = new AggregationCounters(redis);
  });
  after(async () => {
    for (const b of created) await counters.clear(b);
    redis.disconnect();
  });
  function fresh(): string {
    const b = uniqueBatchRun();
    created.push(b);
    return b;
  }

  it('on its own: marks complete groups, counts only new marks, and gives the hash the plan TTL', async () => {
    const b = fresh();
    const k = aggregationKeys(b);
    await counters.registerPlan(b, [{ parent: 'p', expected: 1 }, { parent: 'q', expected: 1 }], { ttlSeconds: 60 });
    await counters.land(b, 'p', 0);
    await counters.land(b, 'q', 0);
    expect(await evalScript(redis, 'mark_emitted', [k.plan, k.owner, k.emitted], ['p', 'q'])).to.equal(2);
    expect(await evalScript(redis, 'mark_emitted', [k.plan, k.owner, k.emitted], ['p'])).to.equal(0);
    expect(await redis.hgetall(k.emitted)).to.deep.equal({ p: '1', q: '1' });
    expect(await redis.pttl(k.emitted)).to.be.greaterThan(0).and.at.most(60_000);
  });

  it('keeps answering TRIGGER to the owner until its parent job is marked emitted', async () => {
    const br = fresh();
    await counters.registerPlan(br, [{ parent: 'p', expected: 2 }]);
    await counters.land(br, 'p', 0);
    expect((await counters.land(br, 'p', 1)).status).to.equal('TRIGGER');
    expect((await counters.land(br, 'p', 1)).status, 'redelivered owner before the commit').to.equal('TRIGGER');
    expect(await counters.markEmitted(br, ['p'])).to.equal(1);
    const after = await counters.land(br, 'p', 1);
    expect(after.status, 'duplicated owner after the commit').to.equal('ALREADY_TRIGGERED');
    expect(after.owner).to.equal(1);
    expect(await counters.markEmitted(br, ['p']), 'idempotent').to.equal(0);
    expect((await counters.progress(br))!.groups[0]).to.deep.include({ owner: 1, emitted: true });
  });

  it('applies to batched landings too, and is removed by clear', async () => {
    const br = fresh();
    await counters.registerPlan(br, [{ parent: 'q', expected: 1 }]);
    expect((await counters.landMany(br, [{ parent: 'q', member: 0 }]))[0].status).to.equal('TRIGGER');
    await counters.markEmitted(br, ['q']);
    expect((await counters.landMany(br, [{ parent: 'q', member: 0 }]))[0].status).to.equal('ALREADY_TRIGGERED');
    expect((await counters.landManyPipelined([{ batchRunKey: br, parent: 'q', member: 0 }]))[0].status).to.equal(
      'ALREADY_TRIGGERED',
    );
    await counters.clear(br);
    expect(await redis.exists(aggregationKeys(br).emitted)).to.equal(0);
  });

  it('rejects an unregistered batch-run or group, or a group not complete, and writes nothing', async () => {
    const none = fresh();
    const noPlan = await expectRejects(counters.markEmitted(none, ['p']));
    expect(noPlan).to.be.instanceOf(AggregationError);
    expect((noPlan as AggregationError).code).to.equal('UNREGISTERED_BATCH');
    expect(await keysOf(redis, none)).to.deep.equal([]);

    const b = fresh();
    await counters.registerPlan(b, [{ parent: 'p', expected: 2 }, { parent: 'q', expected: 1 }]);
    await counters.land(b, 'q', 0);
    await counters.land(b, 'p', 0);
    expect(((await expectRejects(counters.markEmitted(b, ['q', 'x']))) as AggregationError).code).to.equal(
      'UNREGISTERED_GROUP',
    );
    expect(((await expectRejects(counters.markEmitted(b, ['q', 'p']))) as AggregationError).code).to.equal(
      'NOT_TRIGGERED',
    );
    expect(await redis.exists(aggregationKeys(b).emitted)).to.equal(0);
    expect(await counters.markEmitted(b, [])).to.equal(0);
  });
});
