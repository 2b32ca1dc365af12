// batch_progress.lua and clear_batch.lua on their own (EVAL of the files, no client class).
import { expect } from 'chai';
import type Redis from 'ioredis';
import { aggregationKeys } from '../../aggregation/keys';
import { connect, evalScript, fixedKeys, keysOf, uniqueBatchRun } from './support';

describe('aggregation/scripts/batch_progress.lua and clear_batch.lua', () => {
  let redis: Redis;
  const created: string[] = [];

  async function planned(groups: Record<string, number>): Promise<string> {
    const b = uniqueBatchRun();
    created.push(b);
    const k = aggregationKeys(b);
    await evalScript(redis, 'register_plan', [k.plan, k.meta], [600_000, ...Object.entries(groups).flat()]);
    return b;
  }
  function land(b: string, parent: string, member: number): Promise<unknown> {
    return evalScript(redis, 'land_proof', [...fixedKeys(b), aggregationKeys(b).group(parent)], [parent, member]);
  }
  /** The per-group rows of a progress reply, keyed by parent. */
  function rows(reply: unknown[]): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {};
    for (let i = 5; i < reply.length; i += 8) out[String(reply[i])] = reply.slice(i + 1, i + 8);
    return out;
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

  it('reports -2 for a batch-run with no plan', async () => {
    const b = uniqueBatchRun();
    const reply = (await evalScript(redis, 'batch_progress', fixedKeys(b), ['0'])) as unknown[];
    expect(reply).to.have.length(2);
    expect(reply[1]).to.equal(-2);
  });

  it('reports per group expected, landed, owner, emitted, first and last landing, and the batch totals', async () => {
    const b = await planned({ p: 2, q: 3, r: 1 });
    await land(b, 'p', 1);
    await land(b, 'p', 0);
    await land(b, 'q', 2);
    const reply = (await evalScript(redis, 'batch_progress', fixedKeys(b), ['0'])) as unknown[];
    const [now, pttl, registeredAt, groups, triggered] = reply;
    expect(Number(now)).to.be.at.least(Number(registeredAt));
    expect(pttl).to.be.greaterThan(0);
    expect(groups).to.equal('3');
    expect(triggered).to.equal('1');
    const byParent = rows(reply);
    expect(byParent.p.slice(0, 4)).to.deep.equal(['2', 2, '0', 0]);
    expect(byParent.p[4]).to.match(/^\d{13}$/);
    expect(byParent.p[5]).to.match(/^\d{13}$/);
    expect(byParent.q.slice(0, 4)).to.deep.equal(['3', 1, '', 0]);
    expect(byParent.r).to.deep.equal(['1', 0, '', 0, '', '', '']);
    await evalScript(redis, 'mark_emitted', [aggregationKeys(b).plan, aggregationKeys(b).owner, aggregationKeys(b).emitted], ['p']);
    const after = rows((await evalScript(redis, 'batch_progress', fixedKeys(b), ['0'])) as unknown[]);
    expect(after.p[3]).to.equal(1);
  });

  it('lists the members not landed yet of incomplete groups when asked', async () => {
    const b = await planned({ p: 2, q: 5 });
    await land(b, 'p', 0);
    await land(b, 'p', 1);
    await land(b, 'q', 1);
    await land(b, 'q', 3);
    const byParent = rows((await evalScript(redis, 'batch_progress', fixedKeys(b), ['1'])) as unknown[]);
    expect(byParent.q[6]).to.equal('0,2,4');
    expect(byParent.p[6]).to.equal('');
  });

  it('clear_batch deletes every key of the batch-run and no other', async () => {
    const b = await planned({ p: 2, q: 3 });
    const other = await planned({ p: 2 });
    await land(b, 'p', 0);
    await land(b, 'p', 1);
    await land(b, 'q', 0);
    await land(other, 'p', 0);
    const k = aggregationKeys(b);
    await evalScript(redis, 'mark_emitted', [k.plan, k.owner, k.emitted], ['p']);
    const before = await keysOf(redis, b);
    expect(before).to.have.length(8); // plan meta owner emitted first last + 2 group sets
    const deleted = await evalScript(redis, 'clear_batch', fixedKeys(b), []);
    expect(deleted).to.equal(8);
    expect(await keysOf(redis, b)).to.deep.equal([]);
    expect(await redis.scard(aggregationKeys(other).group('p'))).to.equal(1);
  });
});
