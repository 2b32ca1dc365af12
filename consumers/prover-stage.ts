// The stage every pair topic runs: for one ProverJob, witness generation (load the instance
// witness, or the children's proofs), witness vector generation, proving; then save the
// proof, land it in its parent's counter, and produce what follows — the parent job when this
// proof completed its group, the final proof after compression — together with the offset
// commit, in one transaction. The split deployment (consumers/witness-vector-stage.ts) runs the
// first two steps and the last two in different processes and reuses both halves from here.
import { AggregationCounters, AggregationError, batchRunKey } from '../aggregation';
import { crashPoint } from '../lib/fault-injection';
import { Logger } from '../lib/logger';
import { ProtocolVersion, sameVersion, formatVersion } from '../lib/protocol-version';
import { JobCoordinates, ProofPayload, ProofRejectedError } from '../payload/payload';
import { ProverJob, WitnessVectorJob, encode } from '../schemas';
import { ObjectStore } from '../storage';
import { AggregationRound } from '../topics/catalog';
import { AggregationPlan, GeometryError, JobCoord, childrenOf, levelSize, parentOf } from '../topics/geometry';
import { aggregationReadyTopic, finalProofsTopic, pairTopic, proofsLandedTopic, retryTopic } from '../topics/naming';
import { Executor } from '../processor/executor';
import { JobOutcome, JobSaver } from '../processor/job-saver';
import { PlanCache } from './batch-plan';
import { PermanentJobError, deadLetterRecord } from './dead-letters';
import { BatchRun, coordId, jobId, jobPlace, objectKeys } from './job-identity';
import { KafkaJobMeta } from './kafka/kafka-job-picker';
import { Completion, OutgoingRecord, TransactionalCommitter } from './kafka/transactional-committer';

export interface StageTimings {
  /** Null where another process ran the step (a split prover gets its vectors from a zone's generator). */
  witnessMs: number | null;
  vectorMs: number | null;
  proveMs: number;
}

export interface StageObserver {
  /** A job started executing; `hopMs` is the time since the job became ready. */
  jobStarted?(job: ProverJob, hopMs: number): void;
  jobSaved?(job: ProverJob, ok: boolean, timings: StageTimings | null): void;
  /** A job completed its parent's group and the parent job was emitted. */
  parentTriggered?(parent: ProverJob): void;
  deadLettered?(job: ProverJob | null, reason: string): void;
  /** Split deployment: a witness vector generator stored a vector and handed it to its zone's provers. */
  vectorHandedOff?(handOff: WitnessVectorJob, timings: { witnessMs: number; vectorMs: number }): void;
  /** Split deployment: a prover took a hand-off job from `topic`. */
  handOffStarted?(handOff: WitnessVectorJob, topic: string): void;
}

export interface StageContext {
  version: ProtocolVersion;
  store: ObjectStore;
  counters: AggregationCounters;
  payload: ProofPayload;
  plans: PlanCache;
  committer: TransactionalCommitter;
  /** Names this process in events. */
  worker: string;
  /** Attempts of a failing job before it goes to the dead letter topic. */
  maxAttempts: number;
  /** Back-off of the n-th retry: retryBackoffMs * 2^(n-1). */
  retryBackoffMs: number;
  zone: string | null;
  observer?: StageObserver;
  logger: Logger;
}

export interface ProvedJob {
  proof: Buffer;
  timings: StageTimings;
}

export interface GeneratedVector {
  vector: Buffer;
  witnessMs: number;
  vectorMs: number;
}

export function runOf(job: ProverJob): BatchRun {
  return { protocolVersion: job.protocol_version, batchNumber: job.batch_number, runId: job.run_id };
}

export function coordOf(job: ProverJob): JobCoord {
  return { round: job.aggregation_round, circuitId: job.circuit_id, depth: job.depth, seq: job.sequence_number };
}

function coordinates(run: BatchRun, c: JobCoord): JobCoordinates {
  return { protocolVersion: run.protocolVersion, batchNumber: run.batchNumber, round: c.round, circuitId: c.circuitId, depth: c.depth, sequence: c.seq };
}

/** The ProverJob message for `coord`, ready now. */
export function proverJobFor(run: BatchRun, plan: AggregationPlan | null, coord: JobCoord, inputKeys: string[], zone: string | null, levelSizeHint?: number): ProverJob {
  return {
    protocol_version: run.protocolVersion,
    batch_number: run.batchNumber,
    job_id: jobId(run, coord),
    run_id: run.runId,
    aggregation_round: coord.round,
    circuit_id: coord.circuitId,
    depth: coord.depth,
    sequence_number: coord.seq,
    level_size: levelSizeHint ?? (plan ? levelSize(plan, coord.round, coord.circuitId, coord.depth) : 1),
    input_keys: inputKeys,
    attempt: 0,
    triggered_at_ms: Date.now(),
    not_before_ms: 0,
    zone,
  };
}

export function jobRecord(version: ProtocolVersion, job: ProverJob, retry = false): OutgoingRecord {
  const pair = { round: job.aggregation_round, circuitId: job.circuit_id };
  return { topic: retry ? retryTopic(version, pair) : pairTopic(version, pair), key: job.job_id, value: encode('ProverJob', job) };
}

/**
 * Witness generation and witness vector generation of one job: loads the instance witness
 * (round 0) or the children's proofs, each verified by the payload, and synthesizes the vector.
 */
export async function generateVector(ctx: StageContext, job: ProverJob): Promise<GeneratedVector> {
  if (!sameVersion(job.protocol_version, ctx.version)) {
    throw new PermanentJobError(`job of protocol ${formatVersion(job.protocol_version)} on a ${formatVersion(ctx.version)} component`, 'version-mismatch');
  }
  const run = runOf(job);
  const coord = coordOf(job);
  const here = coordinates(run, coord);
  const { payload, store } = ctx;
  let t = performance.now();
  let witness: Buffer;
  try {
    if (coord.round === AggregationRound.BasicCircuits) {
      if (job.input_keys.length !== 1) throw new PermanentJobError(`basic job ${job.job_id} must name exactly one witness`);
      witness = await payload.generateWitness(here, { kind: 'basic', witness: await store.get(job.input_keys[0]) });
    } else {
      const plan = await ctx.plans.get(run);
      const children = childrenOf(plan, coord);
      const keys = children.map((c) => objectKeys.proof(run, c));
      if (keys.length !== job.input_keys.length || keys.some((k, i) => k !== job.input_keys[i])) {
        throw new PermanentJobError(`job ${job.job_id} names inputs that are not its children in the batch's plan`);
      }
      const proofs = await Promise.all(keys.map((k) => store.get(k)));
      witness = await payload.generateWitness(here, {
        kind: 'aggregate',
        children: children.map((c, i) => ({ coordinates: coordinates(run, c), proof: proofs[i] })),
      });
    }
  } catch (e) {
    if (e instanceof ProofRejectedError) throw new PermanentJobError(e.message, 'proof-rejected');
    throw e;
  }
  const witnessMs = performance.now() - t;
  t = performance.now();
  const vector = await payload.generateWitnessVector(here, witness);
  return { vector, witnessMs, vectorMs: performance.now() - t };
}

/** Proving of one job from its witness vector. */
export async function proveVector(ctx: StageContext, job: ProverJob, vector: Buffer): Promise<{ proof: Buffer; proveMs: number }> {
  const t = performance.now();
  const proof = await ctx.payload.prove(coordinates(runOf(job), coordOf(job)), vector);
  return { proof, proveMs: performance.now() - t };
}

export class ProverJobExecutor implements Executor<ProverJob, KafkaJobMeta<ProverJob>, ProvedJob> {
  constructor(private readonly ctx: StageContext) {}

  async execute(job: ProverJob): Promise<ProvedJob> {
    this.ctx.observer?.jobStarted?.(job, Math.max(0, Date.now() - job.triggered_at_ms));
    const { vector, witnessMs, vectorMs } = await generateVector(this.ctx, job);
    const { proof, proveMs } = await proveVector(this.ctx, job, vector);
    return { proof, timings: { witnessMs, vectorMs, proveMs } };
  }
}

/**
 * What a stage consumes, seen by the saver: the proving job each message stands for, and how the
 * message is retried. Pair topics carry ProverJobs (`pairJobs`); a zone's hand-off topics carry
 * WitnessVectorJobs (consumers/witness-vector-stage.ts).
 */
export interface JobSource<J> {
  /** Names the stage in dead letters. */
  stage(job: J): string;
  /** The proving job: its proof is saved, landed and announced under this job's identity. */
  proverJob(job: J): ProverJob;
  attempt(job: J): number;
  /** The record that retries `job` as attempt `attempt`, not to start before `notBeforeMs`. */
  retryRecord(job: J, attempt: number, notBeforeMs: number): OutgoingRecord;
  /** Objects only this job reads (a zone's witness vector): deleted once its proof is committed. */
  consumedObjects?(job: J): string[];
}

export function pairJobs(version: ProtocolVersion): JobSource<ProverJob> {
  return {
    stage: (job) => `prover r${job.aggregation_round}`,
    proverJob: (job) => job,
    attempt: (job) => job.attempt,
    retryRecord: (job, attempt, notBeforeMs) => jobRecord(version, { ...job, attempt, not_before_ms: notBeforeMs }, true),
  };
}

/**
 * A failed execution: the record that retries it later (through its source's retry topic), or
 * its dead letter when retrying cannot help or the attempts are used up.
 */
export function failureRecord<J>(ctx: StageContext, source: JobSource<J>, meta: KafkaJobMeta<J>, error: Error, job = source.proverJob(meta.job)): OutgoingRecord {
  const attempts = source.attempt(meta.job) + 1;
  if (error instanceof PermanentJobError || attempts >= ctx.maxAttempts) {
    return deadLetterFor(ctx, source, meta, error, attempts, error instanceof PermanentJobError ? undefined : 'max-attempts', job);
  }
  ctx.logger.warn({ jobId: job.job_id, attempt: attempts, err: error.message }, 'job failed; retrying');
  return source.retryRecord(meta.job, attempts, Date.now() + ctx.retryBackoffMs * 2 ** (attempts - 1));
}

export function deadLetterFor<J>(ctx: StageContext, source: JobSource<J>, meta: KafkaJobMeta<J>, error: Error, attempts: number, kind?: string, job = source.proverJob(meta.job)): OutgoingRecord {
  ctx.logger.error({ jobId: job.job_id, err: error.message }, 'job to dead letter topic');
  ctx.observer?.deadLettered?.(job, error.message);
  return deadLetterRecord(ctx.version, meta, error, source.stage(meta.job), attempts, { protocolVersion: job.protocol_version, batchNumber: job.batch_number, jobId: job.job_id }, kind);
}

/** What a proof's landing means for what the saver produces. */
type Landed = { kind: 'final' } | { kind: 'landed' } | { kind: 'trigger'; plan: AggregationPlan; parent: JobCoord; expected: number };

/**
 * Saves a proof, lands it and produces what follows, with the offset commit, in one transaction.
 * The same for a combined stage (pair topics) and a split deployment's prover (hand-off topics):
 * only the source of the jobs differs.
 */
export class ProverJobSaver<J = ProverJob> implements JobSaver<KafkaJobMeta<J>, ProvedJob> {
  private readonly source: JobSource<J>;

  constructor(
    private readonly ctx: StageContext,
    source?: JobSource<J>,
  ) {
    this.source = source ?? (pairJobs(ctx.version) as unknown as JobSource<J>);
  }

  save(outcome: JobOutcome<KafkaJobMeta<J>, ProvedJob>): Promise<void> {
    return this.saveBatch([outcome]);
  }

  /**
   * Saves several outcomes together: their proofs written in parallel, their landings in one
   * Redis round trip, their records and offsets in one transaction. Each outcome ends exactly as
   * alone; a transient failure (store, Redis connection) throws and the runner retries the batch.
   */
  async saveBatch(outcomes: JobOutcome<KafkaJobMeta<J>, ProvedJob>[]): Promise<void> {
    const items = outcomes.map((outcome) => ({ outcome, job: this.source.proverJob(outcome.metadata.job) }));
    const proved = items.filter((i): i is { outcome: Extract<typeof i.outcome, { ok: true }>; job: ProverJob } => i.outcome.ok);
    await Promise.all(proved.map(({ job, outcome }) => this.ctx.store.put(objectKeys.proof(runOf(job), coordOf(job)), outcome.output.proof)));
    for (let i = 0; i < proved.length; i++) crashPoint('after-proof-saved');

    // In the order of `proved`, which keeps the outcomes' order.
    const landings = await this.land(proved.map((p) => p.job));
    let nextLanding = 0;
    const records: OutgoingRecord[] = [];
    const completions: Completion[] = [];
    const emitted: Array<{ job: ProverJob; parent: string }> = [];
    for (const { outcome, job } of items) {
      const meta = outcome.metadata;
      completions.push({ groupId: meta.groupId, topic: meta.topic, partition: meta.partition, offset: meta.offset });
      if (!outcome.ok) {
        records.push(failureRecord(this.ctx, this.source, meta, outcome.error, job));
      } else {
        const landing = landings[nextLanding++];
        if (landing instanceof Error) {
          records.push(deadLetterFor(this.ctx, this.source, meta, landing, this.source.attempt(meta.job) + 1, undefined, job));
        } else {
          records.push(...this.follows(job, outcome.output.proof, landing));
          if (landing.kind === 'trigger') emitted.push({ job, parent: coordId(landing.parent) });
        }
      }
      this.ctx.observer?.jobSaved?.(job, outcome.ok, outcome.ok ? outcome.output.timings : null);
    }
    // Once committed, a job is never redelivered: its parent can be marked emitted, and what only
    // it read can go.
    const consumed = proved.flatMap(({ outcome }) => this.source.consumedObjects?.(outcome.metadata.job) ?? []);
    const afterCommit = () =>
      Promise.all([
        ...emitted.map(({ job, parent }) => this.ctx.counters.markEmitted(batchRunKey(job.protocol_version, job.batch_number, job.run_id), [parent])),
        ...consumed.map((key) => this.ctx.store.delete(key)),
      ]);
    // Not awaited: the offsets commit with these records; a failed transaction stops the process.
    this.ctx.committer
      .submit(records, completions)
      .then(afterCommit, () => undefined)
      .catch((e: Error) => this.ctx.logger.warn({ err: e.message }, 'after a commit: could not mark a parent emitted or delete consumed objects'));
  }

  /**
   * Lands every proved job but compression (whose proof is final) in its parent's group, in one
   * round trip. Per job, in order: what the landing means, or the error that sends the job to the
   * dead letter topic (a job without a place in its plan, a landing the counters reject).
   */
  private async land(jobs: ProverJob[]): Promise<Array<Landed | Error>> {
    const out: Array<Landed | Error> = [];
    const landings: Array<{ index: number; job: ProverJob; plan: AggregationPlan; link: NonNullable<ReturnType<typeof parentOf>> }> = [];
    for (const [index, job] of jobs.entries()) {
      if (job.aggregation_round === AggregationRound.Compression) {
        out[index] = { kind: 'final' };
        continue;
      }
      const plan = await this.ctx.plans.get(runOf(job));
      let link: ReturnType<typeof parentOf>;
      try {
        link = parentOf(plan, coordOf(job));
      } catch (e) {
        if (!(e instanceof GeometryError)) throw e;
        out[index] = new PermanentJobError(`job ${job.job_id}: ${e.message}`, 'invalid-job');
        continue;
      }
      if (!link) out[index] = new PermanentJobError(`job ${job.job_id} has no parent in its plan`, 'invalid-job');
      else landings.push({ index, job, plan, link });
    }
    const results = await this.ctx.counters.landMany(
      landings.map(({ job, link }) => ({ batchRunKey: batchRunKey(job.protocol_version, job.batch_number, job.run_id), parent: coordId(link.parent), member: link.childIndex })),
    );
    landings.forEach(({ index, plan, link }, i) => {
      crashPoint('after-landed');
      const r = results[i];
      if (r.status === 'ERROR') out[index] = new AggregationError(r.code, r.message);
      else if (r.status === 'TRIGGER') out[index] = { kind: 'trigger', plan, parent: link.parent, expected: r.expected };
      else out[index] = { kind: 'landed' };
    });
    return out;
  }

  /** What a saved, landed proof produces: its landed event, and the final proof or the parent job it completed. */
  private follows(job: ProverJob, proof: Buffer, landing: Landed): OutgoingRecord[] {
    const { version, payload } = this.ctx;
    const run = runOf(job);
    const proofKey = objectKeys.proof(run, coordOf(job));
    const landed = {
      ...jobPlace(job),
      proof_key: proofKey,
      proof_digest: payload.proofDigest(proof),
      landed_at_ms: Date.now(),
      worker: this.ctx.worker,
      zone: this.ctx.zone,
    };
    const records: OutgoingRecord[] = [{ topic: proofsLandedTopic(version), key: job.job_id, value: encode('ProofLanded', landed) }];
    if (landing.kind === 'final') {
      const final = { protocol_version: job.protocol_version, batch_number: job.batch_number, job_id: job.job_id, run_id: job.run_id, proof_key: proofKey, proof, created_at_ms: Date.now() };
      records.push({ topic: finalProofsTopic(version), key: String(job.batch_number), value: encode('FinalProof', final) });
    } else if (landing.kind === 'trigger') {
      const inputs = childrenOf(landing.plan, landing.parent).map((c) => objectKeys.proof(run, c));
      // The parent goes to the shared pair topic, where any zone's witness vector generator may
      // take it (docs/pipeline.md, "Zones"); `zone` only records where its group completed.
      const parent = proverJobFor(run, landing.plan, landing.parent, inputs, job.zone);
      records.push(jobRecord(version, parent));
      const ready = {
        ...jobPlace(parent),
        child_count: landing.expected,
        ready_at_ms: parent.triggered_at_ms,
      };
      records.push({ topic: aggregationReadyTopic(version), key: parent.job_id, value: encode('AggregationReady', ready) });
      this.ctx.observer?.parentTriggered?.(parent);
    }
    return records;
  }
}
