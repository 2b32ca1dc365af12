// A whole small batch proved through NativePayload, as test/core/prove-batch-with-digest.ts does
// with DigestPayload: every level's proof verifies for its place, and the final proof's
// commitment is the one the core computes.
import { expect } from 'chai';
import { commitmentOfBatch, cutIntoInstances, encodeInstanceWitness } from '../../lib/batch-execution';
import { AggregationRound } from '../../topics/catalog';
import { FINAL_JOB } from '../core/prove-batch-with-digest';
import { SLOW_MS, addon, at, provedSmallBatch, smallBatch, smallPayload } from './support';
import { topStatement } from '../../payload/native';

describe('native prover: a whole batch', function () {
  this.timeout(SLOW_MS);

  before(() => {
    addon(); // fails the suite with the build hint when the addon is not built
  });

  it('proves every level of a small batch and each proof verifies for its place', async () => {
    const proved = await provedSmallBatch();
    const payload = smallPayload();
    expect(proved.jobs).to.equal(17);
    const rounds = new Set<number>();
    for (const [key, proof] of proved.proofs) {
      const m = /^r(\d+)\/c(\d+)\/d(\d+)\/s(\d+)$/.exec(key)!;
      const job = at(7, { round: Number(m[1]), circuitId: Number(m[2]), depth: Number(m[3]), seq: Number(m[4]) });
      expect(await payload.verify(job, proof), key).to.deep.equal({ ok: true });
      rounds.add(job.round);
    }
    expect([...rounds].sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it('the final proof binds the batch commitment the core computes', async () => {
    const proved = await provedSmallBatch();
    const payload = smallPayload();
    expect(payload.finalCommitment(proved.finalProof).equals(commitmentOfBatch(smallBatch()))).to.equal(true);
    const s = topStatement(proved.finalProof);
    expect(s.round).to.equal(AggregationRound.Compression);
    expect(s.count).to.equal(6);
    expect(s.types.map((t) => [t.basicCircuitId, t.instances])).to.deep.equal([
      [1, 5],
      [3, 1],
    ]);
    expect(payload.nativeCommitment(proved.finalProof).equals(Buffer.alloc(32))).to.equal(false);
    expect(await payload.verify(at(7, FINAL_JOB), proved.finalProof)).to.deep.equal({ ok: true });
  });

  it('compression makes the final proof smaller than the scheduler proof', async () => {
    const proved = await provedSmallBatch();
    const scheduler = proved.proofs.get('r4/c1/d0/s0')!;
    expect(proved.finalProof.length).to.be.lessThan(scheduler.length);
  });

  it('proving a job again gives a proof of the same statement, with the same digest', async () => {
    const proved = await provedSmallBatch();
    const payload = smallPayload();
    const job = at(7, { round: 0, circuitId: 3, depth: 0, seq: 0 });
    const instance = cutIntoInstances(smallBatch()).get(3)![0];
    const w = await payload.generateWitness(job, { kind: 'basic', witness: encodeInstanceWitness(instance) });
    const proof = await payload.prove(job, await payload.generateWitnessVector(job, w));
    const first = proved.proofs.get('r0/c3/d0/s0')!;
    expect(payload.proofDigest(proof)).to.equal(payload.proofDigest(first));
    expect(await payload.verify(job, proof)).to.deep.equal({ ok: true });
    expect(payload.proofDigest(Buffer.from('x'))).to.match(/^[0-9a-f]{32}$/);
  });
});
