// Basic witness generation: runs a batch, cuts it into circuit instances per basic type,
// stores each instance's witness, registers in Redis how many proofs every aggregation level
// waits for, and emits one round-0 job per instance — the jobs and the batch job's offset in
// one transaction. Every step is idempotent, so a redelivered batch job redoes it harmlessly.
import { batchRunKey } from '../aggregation';
import { commitmentOfBatch, cutIntoInstances, decodeBatchInput, encodeInstanceWitness, BatchFormatError } from '../lib/batch-execution';
import { formatVersion, sameVersion } from '../lib/protocol-version';
import { Executor } from '../processor/executor';
import { JobOutcome, JobSaver } from '../processor/job-saver';
import { BatchJob, ProverJob } from '../schemas';
import { AggregationRound } from '../topics/catalog';
import { Geometry } from '../topics/geometry';
import { counterGroups, savePlan } from './batch-plan';
import { PermanentJobError, deadLetterRecord } from './dead-letters';
import { objectKeys } from './job-identity';
import { KafkaJobMeta } from './kafka/kafka-job-picker';
import { Completion, OutgoingRecord } from './kafka/transactional-committer';
import { StageContext, jobRecord, proverJobFor } from './prover-stage';

export interface BasicWitnessOutput {
  jobs: ProverJob[];
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

export class BasicWitnessExecutor implements Executor<BatchJob, KafkaJobMeta<BatchJob>, BasicWitnessOutput> {
  constructor(
    private readonly ctx: StageContext,
    private readonly geometry: Geometry,
  ) {}

  async execute(job: BatchJob): Promise<BasicWitnessOutput> {
    if (!sameVersion(job.protocol_version, this.ctx.version)) {
      throw new PermanentJobError(`batch of protocol ${formatVersion(job.protocol_version)} on a ${formatVersion(this.ctx.version)} component`, 'version-mismatch');
    }
    const run = { protocolVersion: job.protocol_version, batchNumber: job.batch_number, runId: job.run_id };
    let input;
    try {
      input = decodeBatchInput(await this.ctx.store.get(job.input_key));
    } catch (e) {
      if (e instanceof BatchFormatError) throw new PermanentJobError(e.message, 'malformed-input');
      throw e;
    }
    if (input.batchNumber !== job.batch_number || !sameVersion(input.protocolVersion, job.protocol_version)) {
      throw new PermanentJobError(`input at ${job.input_key} is batch ${input.batchNumber} of ${formatVersion(input.protocolVersion)}`, 'malformed-input');
    }
    if (commitmentOfBatch(input).toString('hex') !== job.batch_commitment) {
      throw new PermanentJobError(`input of batch ${job.batch_number} does not match its commitment`, 'malformed-input');
    }
    const byType = cutIntoInstances(input);
    const instances = [...byType.values()].flat();
    await forEachLimited(instances, 64, (i) => this.ctx.store.put(objectKeys.witness(run, i.circuitId, i.sequence), encodeInstanceWitness(i)));
    const counts = new Map([...byType].map(([c, list]) => [c, list.length]));
    const plan = await savePlan(this.ctx.store, run, counts, this.geometry);
    await this.ctx.counters.registerPlan(batchRunKey(run.protocolVersion, run.batchNumber, run.runId), counterGroups(plan));
    const jobs = instances.map((i) =>
      proverJobFor(run, plan, { round: AggregationRound.BasicCircuits, circuitId: i.circuitId, depth: 0, seq: i.sequence }, [objectKeys.witness(run, i.circuitId, i.sequence)], this.ctx.zone),
    );
    return { jobs };
  }
}

export class BasicWitnessSaver implements JobSaver<KafkaJobMeta<BatchJob>, BasicWitnessOutput> {
  constructor(private readonly ctx: StageContext) {}

  async save(outcome: JobOutcome<KafkaJobMeta<BatchJob>, BasicWitnessOutput>): Promise<void> {
    const meta = outcome.metadata;
    const completion: Completion = { groupId: meta.groupId, topic: meta.topic, partition: meta.partition, offset: meta.offset };
    let records: OutgoingRecord[];
    if (outcome.ok) {
      records = outcome.output.jobs.map((j) => jobRecord(this.ctx.version, j));
      this.ctx.logger.info({ batch: meta.job.batch_number, run: meta.job.run_id, jobs: records.length }, 'batch cut into basic jobs');
    } else {
      const job = meta.job;
      this.ctx.logger.error({ batch: job.batch_number, err: outcome.error.message }, 'basic witness generation failed; batch job to dead letter topic');
      this.ctx.observer?.deadLettered?.(null, outcome.error.message);
      records = [deadLetterRecord(this.ctx.version, meta, outcome.error, 'basic-witness-generation', 1, { protocolVersion: job.protocol_version, batchNumber: job.batch_number, jobId: job.job_id })];
    }
    // The round-0 jobs must be durable before the batch job counts as done: wait for the commit.
    await this.ctx.committer.submit(records, [completion]);
  }
}
