// land_proof.lua on its own (EVAL of the file, no client class).
import { expect } from 'chai';
import type Redis from 'ioredis';
import { aggregationKeys } from '../../aggregation/keys';
import { connect, evalScript, expectRejects, fixedKeys, keysOf, uniqueBatchRun } from './support';

describe('aggregation/scripts/land_proof.lua', () => {
  let redis: Redis;
  const created: string[] = [];

  async function planned(groups: Record<string, number>, ttlMs = 600_000): Promise<string> {
    const b = uniqueBatchRun();
    created.push(b);
    const k = aggregationKeys(b);
    await evalScript(redis, 'register_plan', [k.plan, k.meta], [ttlMs, ...Object.entries(groups).flat()]);
    return b;
  }
  function land(b: string, parent: string, member: number | string): Promise<unknown> {
    const k = aggregationKeys(b);
    return evalScript(redis, 'land_proof', [...fixedKeys(b), k.group(parent)], [parent, member]);
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

  it('answers WAITING with landed/expected until the group is complete', async () => {
    const b = await planned({ p: 3 });
    expect(await land(b, 'p', 0)).to.deep.equal(['WAITING', 1, 3, '']);
    expect(await land(b, 'p', 2)).to.deep.equal(['WAITING', 2, 3, '']);
  });

  it('answers TRIGGER to the landing that completes the group and records its member as owner', async () => {
    const b = await planned({ p: 3 });
    const k = aggregationKeys(b);
    await land(b, 'p', 2);
    await land(b, 'p', 0);
    expect(await land(b, 'p', 1)).to.deep.equal(['TRIGGER', 3, 3, '1']);
    expect(await redis.hget(k.owner, 'p')).to.equal('1');
    expect(await redis.hget(k.meta, 'triggered')).to.equal('1');
  });

  it('answers TRIGGER again to a redelivery of the owner, ALREADY_TRIGGERED to any other member', async () => {
    const b = await planned({ p: 2 });
    await land(b, 'p', 0);
    await land(b, 'p', 1);
    expect(await land(b, 'p', 1)).to.deep.equal(['TRIGGER', 2, 2, '1']);
    expect(await land(b, 'p', 0)).to.deep.equal(['ALREADY_TRIGGERED', 2, 2, '1']);
    expect(await redis.hget(aggregationKeys(b).meta, 'triggered')).to.equal('1');
  });

  it('counts a duplicate landing once', async () => {
    const b = await planned({ p: 3 });
    await land(b, 'p', 1);
    expect(await land(b, 'p', 1)).to.deep.equal(['WAITING', 1, 3, '']);
  });

  it('completes a group of one with its only landing', async () => {
    const b = await planned({ 'r4:c1:d0:s0': 1 });
    expect(await land(b, 'r4:c1:d0:s0', 0)).to.deep.equal(['TRIGGER', 1, 1, '0']);
  });

  it('stamps the first and last landing times on the Redis clock; a duplicate moves neither', async () => {
    const b = await planned({ p: 3 });
    const k = aggregationKeys(b);
    const [sec] = await redis.time();
    await land(b, 'p', 0);
    const first = Number(await redis.hget(k.first, 'p'));
    expect(first).to.be.closeTo(Number(sec) * 1000, 5000);
    await new Promise((r) => setTimeout(r, 15));
    await land(b, 'p', 1);
    const last = Number(await redis.hget(k.last, 'p'));
    expect(last).to.be.greaterThan(first);
    expect(Number(await redis.hget(k.first, 'p'))).to.equal(first);
    await new Promise((r) => setTimeout(r, 15));
    await land(b, 'p', 1);
    expect(Number(await redis.hget(k.last, 'p'))).to.equal(last);
  });

  it('gives every key it creates the remaining lifetime of the plan', async () => {
    const b = await planned({ p: 1 }, 30_000);
    const k = aggregationKeys(b);
    await land(b, 'p', 0);
    for (const key of [k.group('p'), k.first, k.last, k.owner]) {
      const pttl = await redis.pttl(key);
      expect(pttl, key).to.be.greaterThan(0).and.at.most(30_000);
    }
  });

  it('rejects a landing in a batch-run with no plan: UNREGISTERED_BATCH, nothing written', async () => {
    const b = uniqueBatchRun();
    created.push(b);
    const err = await expectRejects(land(b, 'p', 0));
    expect(err.message).to.match(/^UNREGISTERED_BATCH /);
    expect(await keysOf(redis, b)).to.deep.equal([]);
  });

  it('rejects a landing in a group not in the plan: UNREGISTERED_GROUP, nothing written', async () => {
    const b = await planned({ p: 2 });
    const err = await expectRejects(land(b, 'q', 0));
    expect(err.message).to.match(/^UNREGISTERED_GROUP /);
    expect(await redis.exists(aggregationKeys(b).group('q'))).to.equal(0);
  });

  it('rejects a member outside 0..expected-1 or not a canonical integer, nothing written', async () => {
    const b = await planned({ p: 2 });
    for (const m of [2, 3, 1000]) {
      expect((await expectRejects(land(b, 'p', m))).message).to.match(/^MEMBER_OUT_OF_RANGE /);
    }
    for (const m of ['-1', '01', '1.0', 'x', '', ' 1']) {
      expect((await expectRejects(land(b, 'p', m))).message, JSON.stringify(m)).to.match(/^BAD_MEMBER /);
    }
    expect(await redis.exists(aggregationKeys(b).group('p'))).to.equal(0);
  });
});
