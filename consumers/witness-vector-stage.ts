// The split deployment's two halves of a pair's stage, for zones:
//
//   witness vector generator (zone Z): consumes the pair topic (ProverJobs), generates the
//     witness (verifying the children) and the witness vector, stores the vector under a key of
//     zone Z, and produces a WitnessVectorJob to the pair's hand-off topic of zone Z, in one
//     transaction with the job's offset;
//   prover (zone Z): consumes only zone Z's hand-off topics, proves the vector, then saves, lands
//     and emits exactly as the combined stage does (ProverJobSaver with the hand-off source).
//
// So a vector is made and proven in the same zone. Parent jobs go back to the shared pair topics.
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { Executor } from '../processor/executor';
import { JobOutcome, JobSaver } from '../processor/job-saver';
import { ProverJob, WitnessVectorJob, encode } from '../schemas';
import { handOffRetryTopic, handOffTopic } from '../topics/naming';
import { ObjectNotFoundError } from '../storage';
import { PermanentJobError } from './dead-letters';
import { jobPlace, objectKeys } from './job-identity';
import { KafkaJobMeta } from './kafka/kafka-job-picker';
import { Completion, OutgoingRecord } from './kafka/transactional-committer';
import { GeneratedVector, JobSource, ProvedJob, StageContext, coordOf, failureRecord, generateVector, pairJobs, proveVector, runOf } from './prover-stage';

function pairOf(job: { aggregation_round: number; circuit_id: number }) {
  return { round: job.aggregation_round, circuitId: job.circuit_id };
}

/** The record that puts a hand-off job on its zone's hand-off topic (or that topic's retry topic). */
export function handOffRecord(version: ProtocolVersion, handOff: WitnessVectorJob, retry = false): OutgoingRecord {
  const pair = pairOf(handOff);
  const topic = retry ? handOffRetryTopic(version, pair, handOff.zone) : handOffTopic(version, pair, handOff.zone);
  return { topic, key: handOff.job_id, value: encode('WitnessVectorJob', handOff) };
}

/** The hand-off job for `job`'s vector, made in `zone` by `generator`. */
export function handOffFor(job: ProverJob, zone: string, generator: string): WitnessVectorJob {
  return {
    ...jobPlace(job),
    level_size: job.level_size,
    zone,
    vector_key: objectKeys.vector(runOf(job), coordOf(job), zone),
    generator,
    attempt: 0,
    triggered_at_ms: job.triggered_at_ms,
    handed_off_at_ms: Date.now(),
    not_before_ms: 0,
  };
}

/** The proving job a hand-off job stands for; its `zone` is the zone that made (and proves) the vector. */
export function proverJobOf(h: WitnessVectorJob): ProverJob {
  return {
    ...jobPlace(h),
    level_size: h.level_size,
    input_keys: [h.vector_key],
    attempt: h.attempt,
    triggered_at_ms: h.triggered_at_ms,
    not_before_ms: 0,
    zone: h.zone,
  };
}

/** Hand-off topics as a source of proving jobs: a failed proving is retried on the zone's hand-off retry topic, so it stays in the zone. */
export function handOffJobs(version: ProtocolVersion): JobSource<WitnessVectorJob> {
  return {
    stage: (h) => `prover r${h.aggregation_round} zone ${h.zone}`,
    proverJob: proverJobOf,
    attempt: (h) => h.attempt,
    retryRecord: (h, attempt, notBeforeMs) => handOffRecord(version, { ...h, attempt, not_before_ms: notBeforeMs }, true),
    consumedObjects: (h) => [h.vector_key],
  };
}

function requireZone(ctx: StageContext): string {
  if (!ctx.zone) throw new Error('the split deployment needs a zone');
  return ctx.zone;
}

export class WitnessVectorExecutor implements Executor<ProverJob, KafkaJobMeta<ProverJob>, GeneratedVector> {
  constructor(private readonly ctx: StageContext) {
    requireZone(ctx);
  }

  async execute(job: ProverJob): Promise<GeneratedVector> {
    this.ctx.observer?.jobStarted?.(job, Math.max(0, Date.now() - job.triggered_at_ms));
    return generateVector(this.ctx, job);
  }
}

/** Stores the vector and hands it off to the zone's provers, with the pair job's offset, in one transaction. */
export class WitnessVectorSaver implements JobSaver<KafkaJobMeta<ProverJob>, GeneratedVector> {
  private readonly zone: string;
  private readonly source: JobSource<ProverJob>;

  constructor(private readonly ctx: StageContext) {
    this.zone = requireZone(ctx);
    this.source = pairJobs(ctx.version);
  }

  async save(outcome: JobOutcome<KafkaJobMeta<ProverJob>, GeneratedVector>): Promise<void> {
    const meta = outcome.metadata;
    const completion: Completion = { groupId: meta.groupId, topic: meta.topic, partition: meta.partition, offset: meta.offset };
    let record: OutgoingRecord;
    if (outcome.ok) {
      const handOff = handOffFor(meta.job, this.zone, this.ctx.worker);
      // A redelivered job writes the same key again; a throw here is retried by the runner.
      await this.ctx.store.put(handOff.vector_key, outcome.output.vector);
      record = handOffRecord(this.ctx.version, handOff);
      this.ctx.observer?.vectorHandedOff?.(handOff, { witnessMs: outcome.output.witnessMs, vectorMs: outcome.output.vectorMs });
    } else {
      record = failureRecord(this.ctx, this.source, meta, outcome.error);
      this.ctx.observer?.jobSaved?.(meta.job, false, null);
    }
    // Not awaited: the offset commits with the record; a failed transaction stops the process.
    this.ctx.committer.submit([record], [completion]).catch(() => undefined);
  }
}

/** A split deployment's prover: proves a vector of its own zone. */
export class HandOffProverExecutor implements Executor<WitnessVectorJob, KafkaJobMeta<WitnessVectorJob>, ProvedJob> {
  private readonly zone: string;

  constructor(private readonly ctx: StageContext) {
    this.zone = requireZone(ctx);
  }

  async execute(h: WitnessVectorJob, meta: KafkaJobMeta<WitnessVectorJob>): Promise<ProvedJob> {
    const job = proverJobOf(h);
    this.ctx.observer?.handOffStarted?.(h, meta.topic);
    this.ctx.observer?.jobStarted?.(job, Math.max(0, Date.now() - h.handed_off_at_ms));
    if (!sameVersion(h.protocol_version, this.ctx.version)) {
      throw new PermanentJobError(`job of protocol ${formatVersion(h.protocol_version)} on a ${formatVersion(this.ctx.version)} component`, 'version-mismatch');
    }
    if (h.zone !== this.zone) throw new PermanentJobError(`witness vector of zone ${h.zone} on a prover of zone ${this.zone}`, 'zone-mismatch');
    const expectedKey = objectKeys.vector(runOf(job), coordOf(job), h.zone);
    if (h.vector_key !== expectedKey) throw new PermanentJobError(`job ${h.job_id} names vector ${h.vector_key}, not its own ${expectedKey}`);
    let vector: Buffer;
    try {
      vector = await this.ctx.store.get(h.vector_key);
    } catch (e) {
      if (!(e instanceof ObjectNotFoundError)) throw e;
      // A vector is deleted once its proof is committed: a hand-off delivered again after that
      // (a rebalance, a reset of its group) finds the proof instead and saves it again, which
      // changes nothing. Neither there is an error the retries will report.
      const proofKey = objectKeys.proof(runOf(job), coordOf(job));
      try {
        return { proof: await this.ctx.store.get(proofKey), timings: { witnessMs: null, vectorMs: null, proveMs: 0 } };
      } catch (e2) {
        if (e2 instanceof ObjectNotFoundError) throw new Error(`witness vector ${h.vector_key} is missing and job ${h.job_id} has no proof at ${proofKey}`);
        throw e2;
      }
    }
    const { proof, proveMs } = await proveVector(this.ctx, job, vector);
    return { proof, timings: { witnessMs: null, vectorMs: null, proveMs } };
  }
}
