// AggregationCounters: the typed client over the scripts.
import { expect } from 'chai';
import type Redis from 'ioredis';
import {
  AggregationCounters,
  AggregationError,
  isLandFailure,
  type GroupSpec,
  type LandOutcome,
} from '../../aggregation/counters';
import { aggregationKeys, batchRunKey } from '../../aggregation/keys';
import { connect, expectRejects, keysOf, shuffle, uniqueBatchRun } from './support';

describe('AggregationCounters', () => {
  let redis: Redis;
  let counters: AggregationCounters;
  const created: string[] = [];

  // A small batch: type 3 with 70 basic jobs (leaf groups 32, 32, 6), type 5 with 1 job,
  // node groups per type, the tip over both types, scheduler, compression.
  const plan: GroupSpec[] = [
    { parent: 'r1:c5:d0:s0', expected: 32 },
    { parent: 'r1:c5:d0:s1', expected: 32 },
    { parent: 'r1:c5:d0:s2', expected: 6 },
    { parent: 'r1:c7:d0:s0', expected: 1 },
    { parent: 'r2:c5:d0:s0', expected: 3 },
    { parent: 'r2:c7:d0:s0', expected: 1 },
    { parent: 'r3:c255:d0:s0', expected: 2 },
    { parent: 'r4:c1:d0:s0', expected: 1 },
    { parent: 'r5:c1:d0:s0', expected: 1 },
  ];

  async function registered(groups: GroupSpec[] = plan): Promise<string> {
    const b = uniqueBatchRun();
    created.push(b);
    await counters.registerPlan(b, groups);
    return b;
  }
  async function aggErr(p: Promise<unknown>): Promise<AggregationError> {
    const err = await expectRejects(p);
    expect(err).to.be.instanceOf(AggregationError);
    return err as AggregationError;
  }

  before(() => {
    redis = connect();
    counters = new AggregationCounters(redis, { ttlSeconds: 600 });
  });
  after(async () => {
    for (const b of created) await counters.clear(b);
    redis.disconnect();
  });

  describe('batch-run keys', () => {
    it('writes v{minor}.{patch}:b{batch}:run{run} and hash-tags it in every key', () => {
      const b = batchRunKey({ minor: 27, patch: 1 }, 1042, 0);
      expect(b).to.equal('v27.1:b1042:run0');
      const k = aggregationKeys(b);
      for (const key of [k.plan, k.meta, k.owner, k.emitted, k.first, k.last, k.group('r1:c3:d0:s0')]) {
        expect(key.startsWith('agg:{v27.1:b1042:run0}:')).to.equal(true);
      }
    });
    it('refuses keys that would break the hash tag', () => {
      for (const bad of ['', 'v1.0:{b1}', 'v1.0 b1', 'v1}']) {
        expect(() => aggregationKeys(bad), bad).to.throw(RangeError);
      }
      expect(() => batchRunKey({ minor: 1, patch: -1 }, 1, 0)).to.throw(RangeError);
    });
  });

  describe('registerPlan', () => {
    it('registers once, then answers ALREADY_REGISTERED to the same plan', async () => {
      const b = uniqueBatchRun();
      created.push(b);
      expect(await counters.registerPlan(b, plan)).to.deep.equal({ status: 'REGISTERED', groups: plan.length });
      expect(await counters.registerPlan(b, shuffle(plan))).to.deep.equal({
        status: 'ALREADY_REGISTERED',
        groups: plan.length,
      });
    });
    it('throws PLAN_CONFLICT for a different plan of the same batch-run', async () => {
      const b = await registered();
      const changed = plan.map((g) => (g.parent === 'r1:c5:d0:s2' ? { ...g, expected: 7 } : g));
      expect((await aggErr(counters.registerPlan(b, changed))).code).to.equal('PLAN_CONFLICT');
      expect((await aggErr(counters.registerPlan(b, plan.slice(1)))).code).to.equal('PLAN_CONFLICT');
    });
    it('throws BAD_PLAN for an empty plan or a bad count, before calling Redis', async () => {
      const b = uniqueBatchRun();
      expect((await aggErr(counters.registerPlan(b, []))).code).to.equal('BAD_PLAN');
      expect((await aggErr(counters.registerPlan(b, [{ parent: 'p', expected: 0 }]))).code).to.equal('BAD_PLAN');
      expect((await aggErr(counters.registerPlan(b, [{ parent: 'p', expected: 2.5 }]))).code).to.equal('BAD_PLAN');
      expect((await aggErr(counters.registerPlan(b, [{ parent: '', expected: 1 }]))).code).to.equal('BAD_PLAN');
    });
    it('uses the constructor TTL, or the one given per call', async () => {
      const b = await registered();
      expect(await redis.pttl(aggregationKeys(b).plan)).to.be.greaterThan(590_000).and.at.most(600_000);
      const b2 = uniqueBatchRun();
      created.push(b2);
      await counters.registerPlan(b2, plan, { ttlSeconds: 30 });
      expect(await redis.pttl(aggregationKeys(b2).plan)).to.be.greaterThan(0).and.at.most(30_000);
    });
  });

  describe('land', () => {
    it('triggers a group exactly once, on the landing of its last child', async () => {
      const b = await registered();
      const statuses: string[] = [];
      for (let m = 0; m < 32; m++) statuses.push((await counters.land(b, 'r1:c5:d0:s0', m)).status);
      expect(statuses.slice(0, 31).every((s) => s === 'WAITING')).to.equal(true);
      expect(statuses[31]).to.equal('TRIGGER');
    });

    it('triggers once whatever the order of the landings', async () => {
      for (let round = 0; round < 5; round++) {
        const b = await registered();
        const order = shuffle([...Array(32).keys()]);
        const results = [];
        for (const m of order) results.push(await counters.land(b, 'r1:c5:d0:s1', m));
        const triggers = results.filter((r) => r.status === 'TRIGGER');
        expect(triggers).to.have.length(1);
        expect(triggers[0].owner).to.equal(order[31]);
        expect(results[31]).to.deep.equal({ status: 'TRIGGER', landed: 32, expected: 32, owner: order[31] });
      }
    });

    it('does not count a duplicate landing before completion, nor trigger twice after it', async () => {
      const b = await registered();
      expect(await counters.land(b, 'r1:c5:d0:s2', 0)).to.deep.include({ status: 'WAITING', landed: 1 });
      expect(await counters.land(b, 'r1:c5:d0:s2', 0)).to.deep.include({ status: 'WAITING', landed: 1 });
      for (const m of [1, 2, 3, 4]) await counters.land(b, 'r1:c5:d0:s2', m);
      expect(await counters.land(b, 'r1:c5:d0:s2', 4)).to.deep.include({ status: 'WAITING', landed: 5 });
      expect(await counters.land(b, 'r1:c5:d0:s2', 5)).to.deep.equal({
        status: 'TRIGGER',
        landed: 6,
        expected: 6,
        owner: 5,
      });
      for (const m of [0, 1, 2, 3, 4]) {
        expect(await counters.land(b, 'r1:c5:d0:s2', m)).to.deep.equal({
          status: 'ALREADY_TRIGGERED',
          landed: 6,
          expected: 6,
          owner: 5,
        });
      }
    });

    it('answers TRIGGER again to a redelivery of the trigger owner', async () => {
      const b = await registered();
      await counters.land(b, 'r3:c255:d0:s0', 1);
      const first = await counters.land(b, 'r3:c255:d0:s0', 0);
      const again = await counters.land(b, 'r3:c255:d0:s0', 0);
      const third = await counters.land(b, 'r3:c255:d0:s0', 0);
      expect(first.status).to.equal('TRIGGER');
      expect(again).to.deep.equal(first);
      expect(third).to.deep.equal(first);
      expect((await counters.land(b, 'r3:c255:d0:s0', 1)).status).to.equal('ALREADY_TRIGGERED');
    });

    it('throws UNREGISTERED_BATCH, UNREGISTERED_GROUP, MEMBER_OUT_OF_RANGE, BAD_MEMBER with clear codes', async () => {
      const b = await registered();
      expect((await aggErr(counters.land(uniqueBatchRun(), 'r1:c5:d0:s0', 0))).code).to.equal('UNREGISTERED_BATCH');
      expect((await aggErr(counters.land(b, 'r1:c9:d0:s0', 0))).code).to.equal('UNREGISTERED_GROUP');
      expect((await aggErr(counters.land(b, 'r1:c5:d0:s2', 6))).code).to.equal('MEMBER_OUT_OF_RANGE');
      expect((await aggErr(counters.land(b, 'r1:c5:d0:s2', -1))).code).to.equal('BAD_MEMBER');
      expect((await aggErr(counters.land(b, 'r1:c5:d0:s2', 1.5))).code).to.equal('BAD_MEMBER');
      const progress = await counters.progress(b);
      expect(progress!.groups.every((g) => g.landed === 0)).to.equal(true);
    });

    it('stops landing once the batch-run is cleared: UNREGISTERED_BATCH', async () => {
      const b = await registered();
      await counters.land(b, 'r1:c5:d0:s0', 0);
      expect(await counters.clear(b)).to.be.greaterThan(0);
      expect((await aggErr(counters.land(b, 'r1:c5:d0:s0', 1))).code).to.equal('UNREGISTERED_BATCH');
      expect(await keysOf(redis, b)).to.deep.equal([]);
    });

    it('keeps runs of the same batch apart', async () => {
      const b0 = batchRunKey({ minor: 990_001, patch: Date.now() % 1_000_000 }, 7, 0);
      const b1 = batchRunKey({ minor: 990_001, patch: Date.now() % 1_000_000 }, 7, 1);
      created.push(b0, b1);
      await counters.registerPlan(b0, [{ parent: 'p', expected: 1 }]);
      await counters.registerPlan(b1, [{ parent: 'p', expected: 1 }]);
      expect((await counters.land(b0, 'p', 0)).status).to.equal('TRIGGER');
      expect(await counters.land(b1, 'p', 0)).to.deep.equal({ status: 'TRIGGER', landed: 1, expected: 1, owner: 0 });
    });
  });

  describe('landMany', () => {
    it('lands many in one call and answers in input order, as single lands would', async () => {
      const b = await registered();
      const landings = shuffle([
        ...[...Array(32).keys()].map((m) => ({ parent: 'r1:c5:d0:s0', member: m })),
        ...[...Array(6).keys()].map((m) => ({ parent: 'r1:c5:d0:s2', member: m })),
        { parent: 'r1:c7:d0:s0', member: 0 },
        { parent: 'r1:c5:d0:s2', member: 3 },
      ]);
      const outcomes = await counters.landMany(b, landings);
      expect(outcomes).to.have.length(landings.length);
      const triggers = outcomes
        .map((o, i) => ({ o, l: landings[i] }))
        .filter(({ o }) => o.status === 'TRIGGER')
        .map(({ l }) => l.parent)
        .sort();
      // r1:c5:d0:s2 member 3 lands twice; it can own the trigger, then both of its replies are TRIGGER.
      expect([...new Set(triggers)]).to.deep.equal(['r1:c5:d0:s0', 'r1:c5:d0:s2', 'r1:c7:d0:s0']);
      const progress = await counters.progress(b);
      expect(progress!.triggered).to.equal(3);
    });

    it('splits a long list into batchSize calls and mixes batch-runs, keeping input order', async () => {
      const small = new AggregationCounters(redis, { batchSize: 7 });
      const b1 = await registered();
      const b2 = await registered();
      const landings = shuffle(
        [b1, b2].flatMap((b) => [...Array(32).keys()].map((m) => ({ batchRunKey: b, parent: 'r1:c5:d0:s1', member: m }))),
      );
      const outcomes = await small.landMany(landings);
      for (const b of [b1, b2]) {
        const mine = outcomes.filter((_, i) => landings[i].batchRunKey === b);
        expect(mine.filter((o) => o.status === 'TRIGGER')).to.have.length(1);
        expect(mine.filter((o) => o.status === 'WAITING')).to.have.length(31);
        const lastIndex = landings.map((l) => l.batchRunKey).lastIndexOf(b);
        expect(outcomes[lastIndex].status).to.equal('TRIGGER');
        expect((outcomes[lastIndex] as { owner: number }).owner).to.equal(landings[lastIndex].member);
      }
    });

    it('reports a rejected landing in its slot and lands the rest', async () => {
      const b = await registered();
      const outcomes: LandOutcome[] = await counters.landMany([
        { batchRunKey: b, parent: 'r1:c7:d0:s0', member: 0 },
        { batchRunKey: b, parent: 'r1:c7:d0:s0', member: 1 },
        { batchRunKey: b, parent: 'nope', member: 0 },
        { batchRunKey: uniqueBatchRun(), parent: 'r1:c7:d0:s0', member: 0 },
        { batchRunKey: b, parent: 'r2:c7:d0:s0', member: 0 },
      ]);
      expect(outcomes[0]).to.deep.equal({ status: 'TRIGGER', landed: 1, expected: 1, owner: 0 });
      expect(outcomes.slice(1, 4).map((o) => (isLandFailure(o) ? o.code : o.status))).to.deep.equal([
        'MEMBER_OUT_OF_RANGE',
        'UNREGISTERED_GROUP',
        'UNREGISTERED_BATCH',
      ]);
      expect(outcomes[4].status).to.equal('TRIGGER');
    });

    it('answers [] to no landings', async () => {
      expect(await counters.landMany([])).to.deep.equal([]);
    });

    it('landManyPipelined (one script call per landing) answers the same as landMany', async () => {
      const b1 = await registered();
      const b2 = await registered();
      const members = shuffle([...[...Array(32).keys()], 3, 17, 31, 0]);
      const a = await counters.landMany(b1, members.map((m) => ({ parent: 'r1:c5:d0:s0', member: m })));
      const p = await counters.landManyPipelined(
        members.map((m) => ({ batchRunKey: b2, parent: 'r1:c5:d0:s0', member: m })),
      );
      expect(p).to.deep.equal(a);
      const bad = await counters.landManyPipelined([{ batchRunKey: b2, parent: 'r1:c5:d0:s0', member: 99 }]);
      expect(isLandFailure(bad[0]) && bad[0].code).to.equal('MEMBER_OUT_OF_RANGE');
    });
  });

  describe('progress', () => {
    it('is null for a batch-run with no plan', async () => {
      expect(await counters.progress(uniqueBatchRun())).to.equal(null);
    });

    it('reports every group, which are waiting, idle times and the missing members', async () => {
      const b = await registered();
      for (let m = 0; m < 32; m++) await counters.land(b, 'r1:c5:d0:s0', m);
      await counters.land(b, 'r1:c5:d0:s2', 4);
      await counters.land(b, 'r1:c5:d0:s2', 1);
      const p = (await counters.progress(b, { missing: true }))!;
      expect(p.total).to.equal(plan.length);
      expect(p.triggered).to.equal(1);
      expect(p.groups.map((g) => g.parent)).to.deep.equal(plan.map((g) => g.parent).sort());
      expect(p.waiting.map((g) => g.parent)).to.deep.equal(
        plan.map((g) => g.parent).filter((x) => x !== 'r1:c5:d0:s0').sort(),
      );
      const done = p.groups.find((g) => g.parent === 'r1:c5:d0:s0')!;
      expect(done).to.deep.include({ expected: 32, landed: 32, triggered: true, owner: 31, emitted: false });
      expect(done.firstLandingAt).to.be.a('number');
      expect(done.lastLandingAt).to.be.at.least(done.firstLandingAt!);
      expect(done.missing).to.equal(undefined);
      const partial = p.groups.find((g) => g.parent === 'r1:c5:d0:s2')!;
      expect(partial).to.deep.include({ landed: 2, triggered: false, owner: null, missing: [0, 2, 3, 5] });
      expect(partial.idleMs).to.equal(p.now - partial.lastLandingAt!);
      const untouched = p.groups.find((g) => g.parent === 'r5:c1:d0:s0')!;
      expect(untouched).to.deep.include({ landed: 0, firstLandingAt: null, lastLandingAt: null, missing: [0] });
      expect(untouched.idleMs).to.equal(p.now - p.registeredAt);
      expect(p.ttlMs).to.be.greaterThan(0).and.at.most(600_000);
    });
  });

  describe('durability', () => {
    it('fails with NOT_REPLICATED when fewer replicas than required acknowledge a landing', async function () {
      const replicas = Number((await redis.info('replication')).match(/connected_slaves:(\d+)/)?.[1] ?? 0);
      if (replicas > 0) this.skip();
      const strict = new AggregationCounters(redis, { durability: { replicas: 1, timeoutMs: 20 } });
      const b = await registered();
      expect((await aggErr(strict.land(b, 'r1:c7:d0:s0', 0))).code).to.equal('NOT_REPLICATED');
      expect((await aggErr(strict.landMany(b, [{ parent: 'r2:c7:d0:s0', member: 0 }]))).code).to.equal(
        'NOT_REPLICATED',
      );
      // The landings themselves were applied; a retry of the same landing is idempotent.
      expect((await counters.land(b, 'r1:c7:d0:s0', 0)).status).to.equal('TRIGGER');
    });
  });

  it('refuses a client with a keyPrefix', () => {
    const prefixed = { options: { keyPrefix: 'x:' } } as unknown as Redis;
    expect(() => new AggregationCounters(prefixed)).to.throw(RangeError);
  });
});
