import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { AggregationCounters } from '../../aggregation';
import { connect, uniqueBatchRun } from './support';

describe('mark_emitted.lua', () => {
  let redis: Redis;
  let counters: AggregationCounters;
  before(() => {
    redis = connect();
    counters = new AggregationCounters(redis);
  });
  after(() => redis.disconnect());

  it('keeps answering TRIGGER to the owner until its parent job is marked emitted', async () => {
    const br = uniqueBatchRun();
    await counters.registerPlan(br, [{ parent: 'p', expected: 2 }]);
    await counters.land(br, 'p', 0);
    expect((await counters.land(br, 'p', 1)).status).to.equal('TRIGGER');
    expect((await counters.land(br, 'p', 1)).status, 'redelivered owner before the commit').to.equal('TRIGGER');
    expect(await counters.markEmitted(br, ['p'])).to.equal(1);
    const after = await counters.land(br, 'p', 1);
    expect(after.status, 'duplicated owner after the commit').to.equal('ALREADY_TRIGGERED');
    expect(after.owner).to.equal(1);
    expect(await counters.markEmitted(br, ['p']), 'idempotent').to.equal(0);
  });

  it('applies to batched landings too, and is removed by clear', async () => {
    const br = uniqueBatchRun();
    await counters.registerPlan(br, [{ parent: 'q', expected: 1 }]);
    expect((await counters.landMany(br, [{ parent: 'q', member: 0 }]))[0].status).to.equal('TRIGGER');
    await counters.markEmitted(br, ['q']);
    expect((await counters.landMany(br, [{ parent: 'q', member: 0 }]))[0].status).to.equal('ALREADY_TRIGGERED');
    await counters.clear(br);
    expect(await redis.exists(`agg:{${br}}:emitted`)).to.equal(0);
  });
});
