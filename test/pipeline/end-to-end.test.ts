// The whole flow on the real Kafka, Redis and object store: the core seals batches, the
// gateway hands them to basic witness generation, every pair topic's consumer group proves,
// the Redis counters trigger each level, and the core accepts the final proofs.
import { expect } from 'chai';
import { LocalPipeline, startLocalPipeline } from '../../cli/local-pipeline';
import { decodeBatchInput } from '../../lib/batch-execution';
import { DeadLetter, ProverJob, decode, encode } from '../../schemas';
import { AggregationRound } from '../../topics/catalog';
import { AggregationPlan } from '../../topics/geometry';
import { dltTopic, pairTopic } from '../../topics/naming';
import { PlanCache } from '../../consumers/batch-plan';
import { objectKeys } from '../../consumers/job-identity';
import { proverJobFor } from '../../consumers/prover-stage';
import { batchRunKey } from '../../aggregation';
import { proveBatchWithDigest } from '../core/prove-batch-with-digest';
import { dropVersion, readTopic, uniqueVersion } from '../support/kafka-helpers';
import { until } from '../processor/support';

const GEOMETRY = { leafArity: 8, nodeArity: 3, tipCapacity: 20 };

describe('pipeline end to end (Kafka + Redis + object store)', function () {
  this.timeout(240_000);
  const version = uniqueVersion();
  let pipeline: LocalPipeline;
  /** Saved jobs per batch: job id -> round (a redelivered job is one job). */
  const saved = new Map<number, Map<string, number>>();
  const triggers = new Map<string, number>();
  const submitted: Array<{ batch: number; status: string }> = [];
  let rawSaves = 0;

  before(async () => {
    pipeline = await startLocalPipeline({
      version,
      batches: 2,
      basicJobsPerBatch: 1100,
      geometry: GEOMETRY,
      seed: 'e2e',
      instancePrefix: `e2e-${version.minor}`,
      stageObserver: {
        jobSaved: (job) => {
          rawSaves++;
          let m = saved.get(job.batch_number);
          if (!m) saved.set(job.batch_number, (m = new Map()));
          m.set(job.job_id, job.aggregation_round);
        },
        parentTriggered: (parent) => triggers.set(parent.job_id, (triggers.get(parent.job_id) ?? 0) + 1),
      },
      gatewayObserver: { finalProofSubmitted: (batch, r) => submitted.push({ batch, status: r.status }) },
    });
  });

  after(async () => {
    await pipeline?.stop();
    if (pipeline) await dropVersion(pipeline.kafka, version);
  });

  it('proves two concurrent batches of 1,000+ basic jobs over 10+ circuit types, and the core accepts both', async () => {
    await pipeline.waitForProven([1, 2], 200_000);
    const plans = new PlanCache(pipeline.store);
    for (const batch of [1, 2]) {
      const plan: AggregationPlan = await plans.get({ protocolVersion: version, batchNumber: batch, runId: 0 });
      expect(plan.jobsPerRound[0]).to.be.at.least(1000);
      expect(plan.circuits.length).to.be.at.least(10);
      const status = await pipeline.coreClient.batchStatus(batch);
      expect(status.state).to.equal('proven');
    }
    // The core flips a batch to proven before its answer reaches the gateway's observer.
    const acceptedBatches = () => submitted.filter((s) => s.status === 'accepted').map((s) => s.batch).sort();
    await until(() => acceptedBatches().length === 2, 'the gateway to see both acceptances', 30_000).catch(() => undefined);
    expect(acceptedBatches()).to.deep.equal([1, 2]);
  });

  it('runs exactly the jobs the geometry asks for, per round: ceil(inputs / arity), node depths down to one per type', async () => {
    const plans = new PlanCache(pipeline.store);
    for (const batch of [1, 2]) {
      const plan = await plans.get({ protocolVersion: version, batchNumber: batch, runId: 0 });
      const perRound = [0, 0, 0, 0, 0, 0];
      for (const round of saved.get(batch)!.values()) perRound[round]++;
      const expected = [0, 0, 0, 1, 1, 1];
      for (const c of plan.circuits) {
        expected[0] += c.basicJobs;
        const leaves = Math.ceil(c.basicJobs / GEOMETRY.leafArity);
        expected[1] += leaves;
        let level = leaves;
        do {
          level = Math.ceil(level / GEOMETRY.nodeArity);
          expected[2] += level;
        } while (level > 1);
      }
      expect(perRound).to.deep.equal(expected);
      expect(plan.circuits.some((c) => c.nodeLevels.length >= 2), 'some type needs several node depths').to.equal(true);
    }
  });

  it('keeps concurrent batches apart: every stored proof equals the one computed from that batch alone', async () => {
    for (const batch of [1, 2]) {
      const core = await pipeline.core.store.get(`batches/${batch}/input`);
      const reference = await proveBatchWithDigest(decodeBatchInput(core), { leafArity: GEOMETRY.leafArity, nodeArity: GEOMETRY.nodeArity });
      const prefix = `v${version.minor}.${version.patch}/b${batch}/run0/proof/`;
      const keys = await pipeline.store.list(prefix);
      expect(keys.length).to.equal(reference.proofs.size);
      for (const key of keys) {
        const expected = reference.proofs.get(key.slice(prefix.length));
        expect(expected, key).to.not.equal(undefined);
        expect((await pipeline.store.get(key)).equals(expected!), key).to.equal(true);
      }
    }
  });

  it('triggered every aggregation job exactly once', () => {
    expect([...triggers.values()].every((n) => n === 1)).to.equal(true);
    // Every job of round >= 1 was triggered by its children.
    let aggregation = 0;
    for (const m of saved.values()) for (const r of m.values()) if (r >= AggregationRound.LeafAggregation) aggregation++;
    expect(triggers.size).to.equal(aggregation);
  });

  it('sends a malformed message and an unknown schema to the dead letter topic with a reason, and keeps proving', async () => {
    const topic = pairTopic(version, { round: AggregationRound.BasicCircuits, circuitId: 1 });
    const unknownSchema = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.from('0123456789abcdef', 'hex'), Buffer.from([2, 4, 6])]);
    const producer = pipeline.kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'garbage', value: Buffer.from('not avro at all') }, { key: 'unknown', value: unknownSchema }] });
    await producer.disconnect();
    const letters = (await readTopic(pipeline.kafka, dltTopic(version), (v) => v.length >= 2)).map((v) => decode('DeadLetter', v) as DeadLetter);
    const byKey = new Map(letters.map((l) => [l.original_key?.toString(), l]));
    expect(byKey.get('garbage')?.error_kind).to.equal('malformed');
    expect(byKey.get('unknown')?.error_kind).to.equal('unknown-schema');
    expect(byKey.get('garbage')?.original_value.toString()).to.equal('not avro at all');
    expect(byKey.get('unknown')?.reason).to.match(/fingerprint|schema/i);
    expect(byKey.get('garbage')?.original_topic).to.equal(topic);
    // The pipeline goes on: a new batch is proven after the bad messages.
    await pipeline.core.source.sealUpTo(3);
    await pipeline.waitForProven([3], 120_000);
  });

  it('does not double-trigger or lose a level when proof jobs are duplicated and reordered', async () => {
    const run = { protocolVersion: version, batchNumber: 1, runId: 0 };
    const plan = await new PlanCache(pipeline.store).get(run);
    const triggersBefore = new Map(triggers);
    const savesBefore = rawSaves;
    // Every round-0 job of batch 1 again, twice, in random order.
    const jobs: ProverJob[] = [];
    for (const c of plan.circuits) {
      for (let seq = 0; seq < c.basicJobs; seq++) {
        const coord = { round: AggregationRound.BasicCircuits, circuitId: c.basicCircuitId, depth: 0, seq };
        jobs.push(proverJobFor(run, plan, coord, [objectKeys.witness(run, c.basicCircuitId, seq)], null));
      }
    }
    const shuffled = [...jobs, ...jobs].sort(() => Math.random() - 0.5);
    const producer = pipeline.kafka.producer();
    await producer.connect();
    const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
    for (const j of shuffled) {
      const topic = pairTopic(version, { round: j.aggregation_round, circuitId: j.circuit_id });
      if (!byTopic.has(topic)) byTopic.set(topic, []);
      byTopic.get(topic)!.push({ key: j.job_id, value: encode('ProverJob', j) });
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    await producer.disconnect();
    const deadline = Date.now() + 90_000;
    while (rawSaves < savesBefore + shuffled.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(rawSaves - savesBefore).to.be.at.least(shuffled.length);
    await new Promise((r) => setTimeout(r, 2000)); // anything they (wrongly) triggered would run now
    expect(triggers.size).to.equal(triggersBefore.size);
    for (const [id, n] of triggers) expect(n, id).to.equal(triggersBefore.get(id));
    const progress = await pipeline.counters.progress(batchRunKey(version, 1, 0));
    expect(progress?.waiting).to.deep.equal([]);
    expect(progress?.triggered).to.equal(progress?.total);
    expect((await pipeline.coreClient.batchStatus(1)).state).to.equal('proven');
  });
});
