// ProverJobSaver.saveBatch on the real Redis, Kafka and a local object store: outcomes saved
// together end exactly as they would one by one — the group's last landing triggers its parent
// once, a failed execution goes to its retry topic, a job the counters reject goes to the dead
// letter topic — and every record and offset commits in one transaction.
import { expect } from 'chai';
import Redis from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregationCounters, batchRunKey } from '../../aggregation';
import { kafkaClient } from '../../cli/local-pipeline';
import { PlanCache, counterGroups, savePlan } from '../../consumers/batch-plan';
import { BatchRun, objectKeys } from '../../consumers/job-identity';
import { KafkaJobMeta } from '../../consumers/kafka/kafka-job-picker';
import { TransactionalCommitter } from '../../consumers/kafka/transactional-committer';
import { ProvedJob, ProverJobSaver, StageContext, proverJobFor } from '../../consumers/prover-stage';
import { endpoints } from '../../lib/endpoints';
import { loggerFor } from '../../lib/logger';
import { DigestPayload } from '../../payload/digest';
import { JobOutcome } from '../../processor';
import { DeadLetter, ProverJob, decode } from '../../schemas';
import { createObjectStore } from '../../storage';
import { ensureTopics } from '../../topics/admin';
import { JobCoord } from '../../topics/geometry';
import { aggregationReadyTopic, dltTopic, pairTopic, proofsLandedTopic, retryTopic } from '../../topics/naming';
import { dropVersion, readTopic, uniqueVersion } from '../support/kafka-helpers';

const GEOMETRY = { leafArity: 4, nodeArity: 2, tipCapacity: 20 };

describe('consumers/ProverJobSaver: saving a batch of outcomes (Redis + Kafka + object store)', function () {
  this.timeout(120_000);
  const version = uniqueVersion();
  const kafka = kafkaClient('saver-test');
  const store = createObjectStore(`file://${mkdtempSync(join(tmpdir(), 'zkp-saver-'))}`);
  const run: BatchRun = { protocolVersion: version, batchNumber: 1, runId: 0 };
  const leaf: JobCoord = { round: 1, circuitId: 3, depth: 0, seq: 0 };
  let redis: Redis;
  let committer: TransactionalCommitter;
  let ctx: StageContext;
  const triggered: ProverJob[] = [];

  before(async () => {
    redis = new Redis(endpoints.redisUrl);
    await ensureTopics(kafka, version, { pairs: [{ round: 0, circuitId: 1 }, { round: 1, circuitId: 3 }] });
    // Basic circuit 1: 5 instances -> leaf jobs s0 (4 children) and s1 (1 child).
    const plan = await savePlan(store, run, new Map([[1, 5]]), GEOMETRY);
    const counters = new AggregationCounters(redis);
    await counters.registerPlan(batchRunKey(version, 1, 0), counterGroups(plan));
    committer = new TransactionalCommitter(kafka, { transactionalId: `saver-test-${version.minor}`, logger: loggerFor('saver-test'), onFatal: (e) => { throw e; } });
    await committer.start();
    ctx = {
      version,
      store,
      counters,
      payload: new DigestPayload(),
      plans: new PlanCache(store),
      committer,
      worker: 'saver-test',
      maxAttempts: 5,
      retryBackoffMs: 10,
      zone: null,
      observer: { parentTriggered: (p) => triggered.push(p) },
      logger: loggerFor('saver-test'),
    };
  });

  after(async () => {
    await committer?.close();
    await new AggregationCounters(redis).clear(batchRunKey(version, 1, 0));
    redis?.disconnect();
    await dropVersion(kafka, version);
  });

  function outcome(seq: number, ok: boolean, offset: number): JobOutcome<KafkaJobMeta<ProverJob>, ProvedJob> {
    const job = proverJobFor(run, null, { round: 0, circuitId: 1, depth: 0, seq }, [objectKeys.witness(run, 1, seq)], null);
    const metadata: KafkaJobMeta<ProverJob> = { job, groupId: `${pairTopic(version, { round: 0, circuitId: 1 })}.workers`, topic: pairTopic(version, { round: 0, circuitId: 1 }), partition: 0, offset: String(offset), key: job.job_id, value: Buffer.alloc(0), pickedAtMs: Date.now() };
    return ok
      ? { metadata, ok: true, output: { proof: Buffer.from(`proof ${seq}`), timings: { witnessMs: 1, vectorMs: 1, proveMs: 1 } }, durationMs: 3 }
      : { metadata, ok: false, error: new Error(`prover crashed on ${seq}`), durationMs: 3 };
  }

  it('lands a whole group in one batch and triggers its parent once; a failed execution is retried; all in one transaction', async () => {
    const saver = new ProverJobSaver(ctx);
    const transactionsBefore = committer.stats.transactions;
    // Members 0..3 of leaf s0 (one of them failed: retried, so the group is not complete yet).
    await saver.saveBatch([outcome(0, true, 0), outcome(1, true, 1), outcome(2, false, 2), outcome(3, true, 3)]);
    await committer.flush();
    expect(triggered, 'three of four children landed').to.deep.equal([]);
    for (const seq of [0, 1, 3]) expect((await store.get(objectKeys.proof(run, { round: 0, circuitId: 1, depth: 0, seq }))).toString()).to.equal(`proof ${seq}`);
    const retries = await readTopic(kafka, retryTopic(version, { round: 0, circuitId: 1 }), (vs) => vs.length >= 1, 20_000);
    expect(retries.map((v) => (decode('ProverJob', v) as ProverJob).sequence_number)).to.deep.equal([2]);

    // The retried child lands with member 4 (leaf s1's only child) and a redelivered member 0.
    await saver.saveBatch([outcome(2, true, 4), outcome(4, true, 5), outcome(0, true, 0)]);
    await committer.flush();
    expect(triggered.map((p) => p.job_id).sort()).to.deep.equal([`v${version.minor}.${version.patch}:b1:run0:r1:c3:d0:s0`, `v${version.minor}.${version.patch}:b1:run0:r1:c3:d0:s1`]);
    const parents = await readTopic(kafka, pairTopic(version, leaf), (vs) => vs.length >= 2, 20_000);
    expect(parents.map((v) => (decode('ProverJob', v) as ProverJob).sequence_number).sort()).to.deep.equal([0, 1]);
    const ready = await readTopic(kafka, aggregationReadyTopic(version), (vs) => vs.length >= 2, 20_000);
    expect(ready).to.have.length(2);
    const landed = await readTopic(kafka, proofsLandedTopic(version), (vs) => vs.length >= 6, 20_000);
    expect(landed).to.have.length(6);
    expect(committer.stats.transactions - transactionsBefore, 'one transaction per batch').to.be.at.most(2);
  });

  it('dead-letters a job with no place in its plan and one the counters reject, and saves the others of the batch', async () => {
    const saver = new ProverJobSaver(ctx);
    // Sequence 9 has no place in a plan of five instances.
    const outOfPlan = outcome(9, true, 6);
    // Batch 2 has a stored plan but no registered counters: its landing is refused.
    const run2: BatchRun = { ...run, batchNumber: 2 };
    await savePlan(store, run2, new Map([[1, 5]]), GEOMETRY);
    const unregistered = outcome(0, true, 7);
    unregistered.metadata.job = proverJobFor(run2, null, { round: 0, circuitId: 1, depth: 0, seq: 0 }, [objectKeys.witness(run2, 1, 0)], null);
    const good = outcome(3, true, 8);
    await saver.saveBatch([outOfPlan, unregistered, good]);
    await committer.flush();
    const letters = (await readTopic(kafka, dltTopic(version), (vs) => vs.length >= 2, 20_000)).map((v) => decode('DeadLetter', v) as DeadLetter);
    const byJob = new Map(letters.map((l) => [l.job_id, l]));
    expect([...byJob.keys()].sort()).to.deep.equal([outOfPlan.metadata.job.job_id, unregistered.metadata.job.job_id].sort());
    expect(byJob.get(outOfPlan.metadata.job.job_id)!.error_kind).to.equal('invalid-job');
    expect(byJob.get(outOfPlan.metadata.job.job_id)!.reason).to.include('not part of this plan');
    expect(byJob.get(unregistered.metadata.job.job_id)!.reason).to.include('UNREGISTERED');
    const landed = (await readTopic(kafka, proofsLandedTopic(version), (vs) => vs.length >= 7, 20_000)).map((v) => decode('ProofLanded', v) as { job_id: string });
    expect(landed.filter((l) => l.job_id === good.metadata.job.job_id).length, 'the good one landed again').to.equal(2);
    expect(triggered, 'nothing triggered again').to.have.length(2);
  });
});
