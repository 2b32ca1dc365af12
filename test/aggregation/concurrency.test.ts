// Many clients land the same children concurrently, in random orders, with duplicates:
// every group still has exactly one trigger owner.
import { expect } from 'chai';
import type Redis from 'ioredis';
import { AggregationCounters, isLandFailure, type GroupSpec, type LandOutcome } from '../../aggregation/counters';
import { connect, shuffle, uniqueBatchRun } from './support';
import { randomInt } from 'node:crypto';

interface Reply {
  parent: string;
  member: number;
  outcome: LandOutcome;
}

describe('AggregationCounters under concurrency', () => {
  const clients: Redis[] = [];
  let admin: AggregationCounters;
  const created: string[] = [];

  before(() => {
    for (let i = 0; i < 8; i++) clients.push(connect());
    admin = new AggregationCounters(clients[0]);
  });
  after(async () => {
    for (const b of created) await admin.clear(b);
    for (const c of clients) c.disconnect();
  });

  it('8 clients landing every member of 60 groups, each in its own order and with duplicates, produce exactly one trigger owner per group', async () => {
    const b = uniqueBatchRun();
    created.push(b);
    const groups: GroupSpec[] = [];
    for (let i = 0; i < 60; i++) groups.push({ parent: `r1:c${3 + (i % 5)}:d0:s${i}`, expected: [32, 32, 7, 1, 2][i % 5] });
    await admin.registerPlan(b, groups);

    const all = groups.flatMap((g) => [...Array(g.expected).keys()].map((member) => ({ parent: g.parent, member })));
    const replies: Reply[] = [];

    await Promise.all(
      clients.map(async (redis, c) => {
        const counters = new AggregationCounters(redis, { batchSize: 1 + randomInt(64) });
        // Every member once, some twice more, in this client's own order.
        const mine = shuffle([...all, ...all.filter(() => Math.random() < 0.2), ...all.filter(() => Math.random() < 0.1)]);
        let i = 0;
        while (i < mine.length) {
          const size = 1 + randomInt(40);
          const slice = mine.slice(i, i + size);
          i += size;
          const mode = (c + i) % 3;
          if (mode === 0) {
            // Single landings, several in flight at once on this client.
            const outs = await Promise.all(slice.map((l) => counters.land(b, l.parent, l.member)));
            outs.forEach((outcome, j) => replies.push({ ...slice[j], outcome }));
          } else {
            const outs =
              mode === 1
                ? await counters.landMany(b, slice)
                : await counters.landManyPipelined(slice.map((l) => ({ batchRunKey: b, ...l })));
            outs.forEach((outcome, j) => replies.push({ ...slice[j], outcome }));
          }
        }
      }),
    );

    expect(replies.filter((r) => isLandFailure(r.outcome))).to.deep.equal([]);
    const progress = (await admin.progress(b))!;
    expect(progress.waiting).to.deep.equal([]);
    expect(progress.triggered).to.equal(groups.length);

    for (const g of progress.groups) {
      const mine = replies.filter((r) => r.parent === g.parent);
      const triggerMembers = new Set(mine.filter((r) => r.outcome.status === 'TRIGGER').map((r) => r.member));
      expect([...triggerMembers], g.parent).to.deep.equal([g.owner]);
      for (const r of mine) {
        const o = r.outcome;
        if (isLandFailure(o)) continue;
        if (o.status === 'WAITING') {
          expect(o.landed, g.parent).to.be.lessThan(o.expected);
          expect(o.owner).to.equal(null);
        } else {
          expect(o.landed).to.equal(g.expected);
          expect(o.owner, g.parent).to.equal(g.owner);
          expect(o.status).to.equal(r.member === g.owner ? 'TRIGGER' : 'ALREADY_TRIGGERED');
        }
      }
    }
  });
  it('when the last two children of 200 groups land at the same instant from two clients, exactly one of each pair triggers', async () => {
    const b = uniqueBatchRun();
    created.push(b);
    const groups = [...Array(200).keys()].map((i) => ({ parent: `r2:c3:d0:s${i}`, expected: 2 }));
    await admin.registerPlan(b, groups);
    const left = new AggregationCounters(clients[1]);
    const right = new AggregationCounters(clients[2]);
    const pairs = await Promise.all(
      groups.map((g) => Promise.all([left.land(b, g.parent, 0), right.land(b, g.parent, 1)])),
    );
    for (const [a, c] of pairs) {
      expect([a.status, c.status].sort()).to.deep.equal(['TRIGGER', 'WAITING']);
    }
  });
});
