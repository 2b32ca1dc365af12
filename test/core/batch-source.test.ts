import { expect } from 'chai';
import { commitmentOfBatch, cutIntoInstances, decodeBatchInput, encodeBatchInput } from '../../lib/batch-execution';
import { DEFAULT_PROTOCOL_VERSION } from '../../lib/protocol-version';
import { basicCircuitIds } from '../../topics/catalog';
import { sealBatchInput } from '../../core/batch-source';
import { batchKeys } from '../../core/store';
import { RunningCore } from '../../core/main';
import { SMALL_SHAPE, TempStore, coreOn, tempStore } from './helpers';

const V = DEFAULT_PROTOCOL_VERSION;

describe('core batch source', () => {
  let store: TempStore;
  let core: RunningCore | null = null;

  beforeEach(() => {
    store = tempStore();
  });
  afterEach(async () => {
    await core?.close();
    core = null;
    store.remove();
  });

  it('seals the same batch from the same (seed, number) and different ones otherwise', () => {
    const o = { seed: 's1', version: V, basicJobs: 40 };
    const a = encodeBatchInput(sealBatchInput(o, 7));
    const b = encodeBatchInput(sealBatchInput(o, 7));
    expect(a.equals(b)).to.equal(true);
    expect(encodeBatchInput(sealBatchInput(o, 8)).equals(a)).to.equal(false);
    expect(encodeBatchInput(sealBatchInput({ ...o, seed: 's2' }, 7)).equals(a)).to.equal(false);
    const decoded = decodeBatchInput(a);
    expect(decoded.batchNumber).to.equal(7);
    expect(decoded.protocolVersion).to.deep.equal(V);
  });

  it('follows the shape over a sample: about basicJobs instances, a few types large, some absent', () => {
    const basicJobs = 200;
    const all = basicCircuitIds();
    let withAbsentTypes = 0;
    let skewed = 0;
    const sample = 40;
    for (let n = 1; n <= sample; n++) {
      const input = sealBatchInput({ seed: 'shape', version: V, basicJobs }, n);
      const cut = cutIntoInstances(input);
      const counts = [...cut.values()].map((l) => l.length);
      const total = counts.reduce((a, b) => a + b, 0);
      for (const id of cut.keys()) expect(all).to.include(id);
      expect(cut.has(all[0]), 'the first circuit id is always present').to.equal(true);
      expect(total).to.be.within(basicJobs * 0.8, basicJobs + all.length);
      if (cut.size < all.length) withAbsentTypes++;
      const sorted = [...counts].sort((a, b) => b - a);
      const top3 = sorted.slice(0, 3).reduce((a, b) => a + b, 0);
      if (top3 >= total / 2) skewed++;
    }
    expect(withAbsentTypes, 'batches missing some circuit types').to.be.at.least(sample * 0.8);
    expect(skewed, 'batches where 3 types hold half the instances').to.be.at.least(sample * 0.6);
  });

  it('uses only the configured circuit ids and instance capacity', () => {
    for (let n = 1; n <= 10; n++) {
      const input = sealBatchInput({ seed: 'ids', version: V, basicJobs: 30, circuitIds: [2, 4, 6], instanceCapacity: 3 }, n);
      expect(input.instanceCapacity).to.equal(3);
      for (const op of input.ops) expect([2, 4, 6]).to.include(op.circuitId);
    }
  });

  it('stores each sealed batch input and records its commitment', async () => {
    core = await coreOn(store, { batches: 3 });
    const records = core.registry.list();
    expect(records.map((r) => r.batch_number)).to.deep.equal([1, 2, 3]);
    for (const r of records) {
      const expected = sealBatchInput({ seed: 'test-seed', version: V, ...SMALL_SHAPE, circuitIds: [...SMALL_SHAPE.circuitIds] }, r.batch_number);
      const stored = await core.store.get(batchKeys.input(r.batch_number));
      expect(stored.equals(encodeBatchInput(expected))).to.equal(true);
      expect(r.commitment).to.equal(commitmentOfBatch(expected).toString('hex'));
      expect(r.state).to.equal('sealed');
      expect(r.input_key).to.equal(batchKeys.input(r.batch_number));
      const counts = Object.fromEntries([...cutIntoInstances(expected)].map(([id, l]) => [String(id), l.length]));
      expect(r.instances).to.deep.equal(counts);
      expect(await core.store.exists(batchKeys.record(r.batch_number))).to.equal(true);
    }
  });

  it('does not reseal on restart and continues the numbering with the same bytes', async () => {
    core = await coreOn(store, { batches: 3 });
    const before = await core.store.get(batchKeys.input(2));
    await core.close();
    core = await coreOn(store, { batches: 3 });
    expect(core.registry.summary().total).to.equal(3);
    expect((await core.store.get(batchKeys.input(2))).equals(before)).to.equal(true);
    await core.close();
    core = await coreOn(store, { batches: 5 });
    expect(core.registry.list().map((r) => r.batch_number)).to.deep.equal([1, 2, 3, 4, 5]);

    const fresh = tempStore();
    try {
      const other = await coreOn(fresh, { batches: 5 });
      try {
        for (const n of [4, 5]) {
          expect((await other.store.get(batchKeys.input(n))).equals(await core.store.get(batchKeys.input(n)))).to.equal(true);
        }
      } finally {
        await other.close();
      }
    } finally {
      fresh.remove();
    }
  });

  it('seals one batch every N ms up to the limit', async () => {
    core = await coreOn(store, { batches: 1, sealEveryMs: 15, maxBatches: 4 });
    const deadline = Date.now() + 60_000;
    while (core.registry.summary().total < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(core.registry.summary().total).to.equal(4);
    await new Promise((r) => setTimeout(r, 100));
    expect(core.registry.summary().total).to.equal(4);
  });

  it('refuses unknown circuit ids', async () => {
    let err: Error | null = null;
    try {
      core = await coreOn(store, { circuitIds: [1, 999] });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/unknown basic circuit id/);
  });
});
