// Real proofs through the whole pipeline: the core seals small batches, the gateway hands them
// out over Kafka, every pair topic's consumer group proves with the native payload (plonky2,
// each aggregation level verifying its children in-circuit), the Redis counters trigger each
// level, and the core verifies the final proofs before accepting them. Then the core's API is
// given bad final proofs for a batch nobody proved yet, and rejects each with its reason.
import { expect } from 'chai';
import { LocalPipeline, startLocalPipeline } from '../../cli/local-pipeline';
import { formatVersion } from '../../lib/protocol-version';
import { NativePayload, readProofHeader } from '../../payload/native';
import { JobCoordinates } from '../../payload/payload';
import { PlanCache } from '../../consumers/batch-plan';
import { AggregationRound } from '../../topics/catalog';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { FINAL_JOB } from '../core/prove-batch-with-digest';
import { SLOW_MS, SMALL, addon, tamper } from '../native-prover/support';
import { until } from '../processor/support';

const CIRCUITS = [1, 3];
const GEOMETRY = { leafArity: SMALL.leafArity!, nodeArity: SMALL.nodeArity!, tipCapacity: CIRCUITS.length };

describe('pipeline end to end with native proofs (Kafka + Redis + object store + plonky2)', function () {
  this.timeout(SLOW_MS * 2);
  const version = uniqueVersion();
  let pipeline: LocalPipeline;
  let payload: NativePayload;
  const submitted: Array<{ batch: number; status: string }> = [];
  const deadLetters: string[] = [];

  before(async () => {
    payload = new NativePayload({ ...SMALL, tipCapacity: CIRCUITS.length, addon: addon() });
    pipeline = await startLocalPipeline({
      version,
      batches: 2,
      basicJobsPerBatch: 5,
      circuitIds: CIRCUITS,
      geometry: GEOMETRY,
      seed: 'native-e2e',
      payload,
      concurrency: 2,
      instancePrefix: `native-e2e-${version.minor}`,
      stageObserver: { deadLettered: (_job, reason) => deadLetters.push(reason) },
      gatewayObserver: { finalProofSubmitted: (batch, r) => submitted.push({ batch, status: r.status }) },
    });
  });

  after(async () => {
    await pipeline?.stop();
    if (pipeline) await dropVersion(pipeline.kafka, version);
  });

  it('proves two batches with real recursive proofs, and the core verifies and accepts both', async () => {
    await pipeline.waitForProven([1, 2], SLOW_MS, () => {
      if (deadLetters.length > 0) throw new Error(`dead letters: ${deadLetters.join(' | ')}`);
    });
    for (const batch of [1, 2]) expect((await pipeline.coreClient.batchStatus(batch)).state).to.equal('proven');
    // The core flips a batch to proven before its answer reaches the gateway's observer.
    const acceptedBatches = () => submitted.filter((s) => s.status === 'accepted').map((s) => s.batch).sort();
    await until(() => acceptedBatches().length === 2, 'the gateway to see both acceptances', 30_000).catch(() => undefined);
    expect(acceptedBatches()).to.deep.equal([1, 2]);
    expect(deadLetters).to.deep.equal([]);
  });

  it('stores a native proof for every job of the plan, each verifying for its own place only', async () => {
    const plans = new PlanCache(pipeline.store);
    const rounds = new Set<number>();
    for (const batch of [1, 2]) {
      const plan = await plans.get({ protocolVersion: version, batchNumber: batch, runId: 0 });
      const prefix = `${formatVersion(version)}/b${batch}/run0/proof/`;
      const keys = await pipeline.store.list(prefix);
      expect(keys.length, `proofs of batch ${batch}`).to.equal(plan.jobsPerRound.reduce((a, b) => a + b, 0));
      for (const key of keys) {
        const m = /^r(\d+)\/c(\d+)\/d(\d+)\/s(\d+)$/.exec(key.slice(prefix.length))!;
        const place: JobCoordinates = { protocolVersion: version, batchNumber: batch, round: Number(m[1]), circuitId: Number(m[2]), depth: Number(m[3]), sequence: Number(m[4]) };
        const proof = await pipeline.store.get(key);
        expect(readProofHeader(proof).round, key).to.equal(place.round);
        expect(await payload.verify(place, proof), key).to.deep.equal({ ok: true });
        const elsewhere = await payload.verify({ ...place, batchNumber: batch === 1 ? 2 : 1 }, proof);
        expect(elsewhere.ok, `${key} as the other batch's`).to.equal(false);
        rounds.add(place.round);
      }
    }
    expect([...rounds].sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it("the core rejects a tampered final proof, another batch's, and one under another protocol version", async () => {
    // No gateway from here on: batch 3 is sealed but nobody proves it.
    await pipeline.gateway.stop();
    await pipeline.core.source.sealUpTo(3);
    const finalKey = (b: number) => `${formatVersion(version)}/b${b}/run0/proof/r${FINAL_JOB.round}/c${FINAL_JOB.circuitId}/d0/s0`;
    const batch1 = await pipeline.store.get(finalKey(1));
    expect(readProofHeader(batch1).round).to.equal(AggregationRound.Compression);

    const otherBatch = await pipeline.coreClient.submitProof(3, version, batch1);
    expect(otherBatch.status).to.equal('rejected');
    const tampered = await pipeline.coreClient.submitProof(3, version, tamper(batch1));
    expect(tampered.status).to.equal('rejected');
    expect((tampered as { reason: string }).reason).to.match(/does not verify/);
    const otherVersion = await pipeline.coreClient.submitProof(3, { minor: version.minor, patch: version.patch + 1 }, batch1);
    expect(otherVersion.status).to.equal('rejected');
    expect((otherVersion as { reason: string }).reason).to.match(/not accepted|sealed under/);
    expect((await pipeline.coreClient.batchStatus(3)).state).to.not.equal('proven');
    // And a tampered copy of a batch's own proof does not replace the accepted one.
    const again = await pipeline.coreClient.submitProof(1, version, tamper(batch1));
    expect(again.status).to.not.equal('accepted');
  });
});
