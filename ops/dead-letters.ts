// The dead letter topic of a version: list what is on it, and requeue a batch's dead-lettered
// jobs to their topics once the cause is fixed.
//
// Requeueing is safe to repeat: a job keeps its deterministic id, so proving it again writes the
// same proof to the same key and lands the same member in its parent's group (a duplicate landing
// changes nothing, and a group never triggers twice). A double requeue costs work, nothing else.
import { formatVersion, sameVersion } from '../lib/protocol-version';
import { BatchJob, DeadLetter, ProverJob, WitnessVectorJob, decode, encode } from '../schemas';
import { batchesTopic, dltTopic, parseTopic } from '../topics/naming';
import { jobRecord } from '../consumers/prover-stage';
import { handOffRecord } from '../consumers/witness-vector-stage';
import { OpsContext } from './context';
import { readWholeTopic } from './kafka-read';
import { produceRecords } from './produce';

export interface DeadLetterEntry {
  partition: number;
  offset: number;
  letter: DeadLetter;
}

export interface DeadLetterRow {
  partition: number;
  offset: number;
  time: string;
  deadAtMs: number;
  batch: number | null;
  jobId: string | null;
  stage: string;
  kind: string;
  attempts: number;
  reason: string;
  originalTopic: string;
  originalPartition: number;
  originalOffset: number;
  originalKey: string | null;
}

export interface DeadLetterList {
  topic: string;
  /** Dead letters on the topic (after the batch filter). */
  total: number;
  /** The newest `limit` of them, oldest first. */
  rows: DeadLetterRow[];
  /** Records on the topic that are not DeadLetters. */
  undecodable: number;
  /** False when the topic could not be read to its end (e.g. an open transaction). */
  complete: boolean;
}

/** Every dead letter of the version, in topic order. */
export async function readDeadLetters(ctx: Pick<OpsContext, 'kafka' | 'version'>, options: { timeoutMs?: number } = {}): Promise<{ entries: DeadLetterEntry[]; undecodable: number; complete: boolean }> {
  const topic = dltTopic(ctx.version);
  const entries: DeadLetterEntry[] = [];
  let undecodable = 0;
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return { entries, undecodable, complete: true };
    const read = await readWholeTopic(admin, ctx.kafka, topic, (m) => {
      try {
        entries.push({ partition: m.partition, offset: m.offset, letter: decode('DeadLetter', m.value) });
      } catch {
        undecodable++;
      }
    }, options);
    entries.sort((a, b) => a.letter.dead_at_ms - b.letter.dead_at_ms || a.partition - b.partition || a.offset - b.offset);
    return { entries, undecodable, complete: read.complete };
  } finally {
    await admin.disconnect();
  }
}

export function deadLetterRow(e: DeadLetterEntry): DeadLetterRow {
  const l = e.letter;
  return {
    partition: e.partition,
    offset: e.offset,
    time: new Date(l.dead_at_ms).toISOString(),
    deadAtMs: l.dead_at_ms,
    batch: l.batch_number,
    jobId: l.job_id,
    stage: l.failed_stage,
    kind: l.error_kind,
    attempts: l.attempts,
    reason: l.reason,
    originalTopic: l.original_topic,
    originalPartition: l.original_partition,
    originalOffset: l.original_offset,
    originalKey: l.original_key === null ? null : l.original_key.toString(),
  };
}

export async function listDeadLetters(ctx: Pick<OpsContext, 'kafka' | 'version'>, options: { limit?: number; batch?: number } = {}): Promise<DeadLetterList> {
  const { entries, undecodable, complete } = await readDeadLetters(ctx);
  const matching = options.batch === undefined ? entries : entries.filter((e) => e.letter.batch_number === options.batch);
  const limit = options.limit ?? 50;
  return { topic: dltTopic(ctx.version), total: matching.length, rows: matching.slice(Math.max(0, matching.length - limit)).map(deadLetterRow), undecodable, complete };
}

export interface RequeuedJob {
  jobId: string;
  message: 'ProverJob' | 'BatchJob' | 'WitnessVectorJob';
  topic: string;
  /** The dead letter it came from. */
  letter: { partition: number; offset: number; kind: string; reason: string; originalTopic: string };
}

export interface RequeueResult {
  version: string;
  batch: number;
  dryRun: boolean;
  requeued: RequeuedJob[];
  skipped: Array<{ jobId: string | null; originalTopic: string; offset: number; why: string }>;
}

/**
 * Re-produces the dead-lettered jobs of `batch` — ProverJobs from pair and retry topics to their
 * pair topic with `attempt` 0 and no back-off, BatchJobs to the batches topic — once per job id
 * (the newest letter of each). Letters from other topics (the gateway's rejected final proofs)
 * and letters whose message does not decode are listed as skipped.
 */
export async function requeueBatch(ctx: Pick<OpsContext, 'kafka' | 'version'>, batch: number, options: { dryRun?: boolean; jobIds?: readonly string[] } = {}): Promise<RequeueResult> {
  const { entries } = await readDeadLetters(ctx);
  const result: RequeueResult = { version: formatVersion(ctx.version), batch, dryRun: options.dryRun ?? false, requeued: [], skipped: [] };
  const chosen = new Map<string, { record: { topic: string; key: string; value: Buffer }; job: RequeuedJob }>();
  for (const e of entries) {
    const l = e.letter;
    if (l.batch_number !== batch) continue;
    if (options.jobIds && (l.job_id === null || !options.jobIds.includes(l.job_id))) continue;
    const skip = (why: string) => result.skipped.push({ jobId: l.job_id, originalTopic: l.original_topic, offset: e.offset, why });
    let kind: string;
    try {
      const parsed = parseTopic(l.original_topic);
      if (!sameVersion(parsed.version, ctx.version)) {
        skip(`from a topic of ${formatVersion(parsed.version)}`);
        continue;
      }
      kind = parsed.kind;
    } catch {
      skip('from a topic outside the pipeline');
      continue;
    }
    const letter = { partition: e.partition, offset: e.offset, kind: l.error_kind, reason: l.reason, originalTopic: l.original_topic };
    try {
      if (kind === 'pair' || kind === 'retry') {
        const job = decode('ProverJob', l.original_value) as ProverJob;
        if (!sameVersion(job.protocol_version, ctx.version)) {
          skip(`a job of ${formatVersion(job.protocol_version)}`);
          continue;
        }
        const fresh: ProverJob = { ...job, attempt: 0, not_before_ms: 0, triggered_at_ms: Date.now() };
        const record = jobRecord(ctx.version, fresh);
        chosen.set(job.job_id, { record, job: { jobId: job.job_id, message: 'ProverJob', topic: record.topic, letter } });
      } else if (kind === 'batches') {
        const job = decode('BatchJob', l.original_value) as BatchJob;
        if (!sameVersion(job.protocol_version, ctx.version)) {
          skip(`a batch job of ${formatVersion(job.protocol_version)}`);
          continue;
        }
        const topic = batchesTopic(ctx.version);
        chosen.set(job.job_id, { record: { topic, key: job.job_id, value: encode('BatchJob', { ...job, created_at_ms: Date.now() }) }, job: { jobId: job.job_id, message: 'BatchJob', topic, letter } });
      } else if (kind === 'handoff' || kind === 'handoff-retry') {
        // Back to its zone's hand-off topic: the vector is stored there, and only that zone proves it.
        const job = decode('WitnessVectorJob', l.original_value) as WitnessVectorJob;
        if (!sameVersion(job.protocol_version, ctx.version)) {
          skip(`a job of ${formatVersion(job.protocol_version)}`);
          continue;
        }
        const record = handOffRecord(ctx.version, { ...job, attempt: 0, not_before_ms: 0 });
        chosen.set(`${job.job_id}@${job.zone}`, { record, job: { jobId: job.job_id, message: 'WitnessVectorJob', topic: record.topic, letter } });
      } else {
        skip(`not a job (${kind} topic); nothing to requeue`);
      }
    } catch (err) {
      skip(`original message does not decode: ${(err as Error).message}`);
    }
  }
  result.requeued = [...chosen.values()].map((c) => c.job);
  if (!result.dryRun && chosen.size > 0) await produceRecords(ctx.kafka, [...chosen.values()].map((c) => c.record));
  return result;
}
