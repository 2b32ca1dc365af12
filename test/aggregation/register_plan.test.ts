// register_plan.lua on its own (EVAL of the file, no client class).
import { expect } from 'chai';
import type Redis from 'ioredis';
import { aggregationKeys } from '../../aggregation/keys';
import { connect, evalScript, expectRejects, keysOf, uniqueBatchRun } from './support';

describe('aggregation/scripts/register_plan.lua', () => {
  let redis: Redis;
  const created: string[] = [];
  const ttlMs = 7 * 24 * 3600 * 1000;

  function register(batchRun: string, pairs: (string | number)[], ttl: number | string = ttlMs) {
    const k = aggregationKeys(batchRun);
    return evalScript(redis, 'register_plan', [k.plan, k.meta], [ttl, ...pairs]);
  }
  function fresh(): string {
    const b = uniqueBatchRun();
    created.push(b);
    return b;
  }

  before(() => {
    redis = connect();
  });
  after(async () => {
    for (const b of created) {
      const keys = await keysOf(redis, b);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });

  it('stores every group with its expected count, a meta hash, and the TTL on both', async () => {
    const b = fresh();
    const k = aggregationKeys(b);
    const reply = await register(b, ['r1:c3:d0:s0', 32, 'r1:c3:d0:s1', 5, 'r3:c255:d0:s0', 2]);
    expect(reply).to.deep.equal(['REGISTERED', 3]);
    expect(await redis.hgetall(k.plan)).to.deep.equal({ 'r1:c3:d0:s0': '32', 'r1:c3:d0:s1': '5', 'r3:c255:d0:s0': '2' });
    const meta = await redis.hgetall(k.meta);
    expect(meta.groups).to.equal('3');
    expect(meta.ttlMs).to.equal(String(ttlMs));
    expect(meta.triggered).to.equal('0');
    expect(Number(meta.registeredAt)).to.be.closeTo(Date.now(), 60_000);
    for (const key of [k.plan, k.meta]) {
      const pttl = await redis.pttl(key);
      expect(pttl).to.be.greaterThan(ttlMs - 60_000).and.at.most(ttlMs);
    }
  });

  it('takes the TTL from its argument', async () => {
    const b = fresh();
    await register(b, ['r4:c1:d0:s0', 1], 5000);
    const pttl = await redis.pttl(aggregationKeys(b).plan);
    expect(pttl).to.be.greaterThan(0).and.at.most(5000);
  });

  it('is a no-op when the same plan is registered again, in any order, and leaves the TTL alone', async () => {
    const b = fresh();
    const k = aggregationKeys(b);
    await register(b, ['a', 2, 'b', 3], 100_000);
    const before = await redis.hgetall(k.meta);
    const reply = await register(b, ['b', 3, 'a', 2], 900_000);
    expect(reply).to.deep.equal(['ALREADY_REGISTERED', 2]);
    expect(await redis.hgetall(k.meta)).to.deep.equal(before);
    expect(await redis.pttl(k.plan)).to.be.at.most(100_000);
  });

  it('rejects a different plan for the same batch-run with PLAN_CONFLICT and keeps the stored one', async () => {
    const b = fresh();
    const k = aggregationKeys(b);
    await register(b, ['a', 2, 'b', 3]);
    for (const other of [
      ['a', 2, 'b', 4], // a changed count
      ['a', 2], // a group missing
      ['a', 2, 'b', 3, 'c', 1], // a group more
      ['a', 2, 'c', 3], // a group renamed
    ]) {
      const err = await expectRejects(register(b, other));
      expect(err.message).to.match(/^PLAN_CONFLICT /);
    }
    expect(await redis.hgetall(k.plan)).to.deep.equal({ a: '2', b: '3' });
  });

  it('rejects malformed plans with BAD_PLAN and writes nothing', async () => {
    const b = fresh();
    for (const [pairs, ttl] of [
      [[], ttlMs], // no group
      [['a', 0], ttlMs], // zero children
      [['a', -1], ttlMs],
      [['a', '01'], ttlMs], // not canonical
      [['a', '1.5'], ttlMs],
      [['', 1], ttlMs], // empty parent
      [['a', 1, 'a', 1], ttlMs], // duplicate parent
      [['a'], ttlMs], // odd arguments
      [['a', 1], 0], // no TTL
      [['a', 1], 'soon'],
    ] as [(string | number)[], number | string][]) {
      const err = await expectRejects(register(b, pairs, ttl));
      expect(err.message, JSON.stringify(pairs)).to.match(/^BAD_PLAN /);
    }
    expect(await keysOf(redis, b)).to.deep.equal([]);
  });

  it('registers a plan of 5,000 groups in one call', async () => {
    const b = fresh();
    const pairs: (string | number)[] = [];
    for (let i = 0; i < 5000; i++) pairs.push(`r1:c3:d0:s${i}`, 32);
    expect(await register(b, pairs)).to.deep.equal(['REGISTERED', 5000]);
    expect(await redis.hlen(aggregationKeys(b).plan)).to.equal(5000);
    expect(await register(b, pairs)).to.deep.equal(['ALREADY_REGISTERED', 5000]);
  });
});
