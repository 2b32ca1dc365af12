// land_proofs_batch.lua on its own (EVAL of the file, no client class).
import { expect } from 'chai';
import type Redis from 'ioredis';
import { aggregationKeys } from '../../aggregation/keys';
import { connect, evalScript, expectRejects, fixedKeys, keysOf, uniqueBatchRun } from './support';

describe('aggregation/scripts/land_proofs_batch.lua', () => {
  let redis: Redis;
  const created: string[] = [];

  async function planned(groups: Record<string, number>): Promise<string> {
    const b = uniqueBatchRun();
    created.push(b);
    const k = aggregationKeys(b);
    await evalScript(redis, 'register_plan', [k.plan, k.meta], [600_000, ...Object.entries(groups).flat()]);
    return b;
  }
  function landBatch(b: string, landings: [string, number | string][]): Promise<unknown> {
    const k = aggregationKeys(b);
    return evalScript(
      redis,
      'land_proofs_batch',
      [...fixedKeys(b), ...landings.map(([p]) => k.group(p))],
      landings.flat(),
    );
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

  it('lands in argument order and answers four entries per landing', async () => {
    const b = await planned({ p: 2, q: 3 });
    const reply = await landBatch(b, [['p', 0], ['q', 2], ['p', 1], ['p', 1], ['p', 0], ['q', 0]]);
    expect(reply).to.deep.equal([
      'WAITING', 1, 2, '',
      'WAITING', 1, 3, '',
      'TRIGGER', 2, 2, '1',
      'TRIGGER', 2, 2, '1',
      'ALREADY_TRIGGERED', 2, 2, '1',
      'WAITING', 2, 3, '',
    ]);
  });

  it('answers ERROR in the slot of a rejected landing and still lands the others', async () => {
    const b = await planned({ p: 2 });
    const reply = (await landBatch(b, [['p', 0], ['x', 0], ['p', 5], ['p', '07'], ['p', 1]])) as unknown[];
    expect(reply.slice(0, 4)).to.deep.equal(['WAITING', 1, 2, '']);
    expect(reply.slice(4, 7)).to.deep.equal(['ERROR', 0, 0]);
    expect(reply[7]).to.match(/^UNREGISTERED_GROUP /);
    expect(reply[11]).to.match(/^MEMBER_OUT_OF_RANGE /);
    expect(reply[15]).to.match(/^BAD_MEMBER /);
    expect(reply.slice(16)).to.deep.equal(['TRIGGER', 2, 2, '1']);
    expect(await redis.exists(aggregationKeys(b).group('x'))).to.equal(0);
  });

  it('answers UNREGISTERED_BATCH per landing when the batch-run has no plan', async () => {
    const b = uniqueBatchRun();
    created.push(b);
    const reply = (await landBatch(b, [['p', 0], ['q', 1]])) as unknown[];
    expect(reply[0]).to.equal('ERROR');
    expect(reply[3]).to.match(/^UNREGISTERED_BATCH /);
    expect(reply[4]).to.equal('ERROR');
    expect(await keysOf(redis, b)).to.deep.equal([]);
  });

  it('rejects a call whose keys and arguments do not match', async () => {
    const b = await planned({ p: 2 });
    const err = await expectRejects(evalScript(redis, 'land_proofs_batch', fixedKeys(b), ['p', 0]));
    expect(err.message).to.match(/^BAD_CALL /);
  });
});
