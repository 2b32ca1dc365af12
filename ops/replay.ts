// Reproving a batch under a new run id.
//
// A run is one proving of a batch; everything of it — object keys, counter keys, job ids —
// carries the run, so a replay never mixes with the run it replays. The new run is the lowest
// run >= 1 that has no plan in Redis, no object under its prefix in the store and no replay
// reservation (`ops:replay:{<batch-run>}`, taken with SET NX so two operators never get the same
// run). Run 0 belongs to the gateway.
//
// - Whole batch (`fromRound` 0): the batch's BatchJob (from the batches topic; else the input in
//   the store and the commitment from the core) is produced again with the new run id and the
//   input copied to the new run's input key. Basic witness generation does the rest.
// - From round R (1..5): the proofs of rounds < R are copied from the source run's keys to the new
//   run's, the plan is saved and registered for the new run, every group whose children are of a
//   round < R is landed in full (so the new run's counters read like a run that got there by
//   itself), and the jobs those landings trigger — the round-R jobs whose children are all
//   copied — are produced, then marked emitted. Nothing of round >= R is landed: the pipeline
//   proves and lands it.
//
// Every step is idempotent; an interrupted replay is finished by running it again with
// `targetRun` set to the run it reported.
import { batchRunKey } from '../aggregation';
import { formatVersion, sameVersion } from '../lib/protocol-version';
import { BatchJob, decode, encode } from '../schemas';
import { ObjectNotFoundError } from '../storage';
import { AggregationRound } from '../topics/catalog';
import { AggregationPlan, Geometry, JobCoord, childrenOf, planAggregation } from '../topics/geometry';
import { batchesTopic } from '../topics/naming';
import { counterGroups, jobsOfPlan, savePlan } from '../consumers/batch-plan';
import { BatchRun, batchJobId, batchRunPrefix, objectKeys } from '../consumers/job-identity';
import { jobRecord, proverJobFor } from '../consumers/prover-stage';
import { childRoundOf, parseCoordId } from './batch-runs';
import { OpsContext, OpsError } from './context';
import { readWholeTopic } from './kafka-read';
import { OpsRecord, produceRecords } from './produce';

export interface ReplayOptions {
  batch: number;
  /** 0: the whole batch from its BatchJob; 1..5: from that round, reusing the source run's proofs below it. */
  fromRound?: number;
  /** The run whose BatchJob or proofs are reused. Default 0. */
  sourceRun?: number;
  /** Finish an interrupted replay into this run instead of taking a new one. */
  targetRun?: number;
}

export interface ReplayResult {
  version: string;
  batch: number;
  fromRound: number;
  sourceRun: number;
  newRun: number;
  batchRunKey: string;
  /** Objects copied from the source run (the input, or the proofs of rounds < fromRound). */
  copied: number;
  /** Landings recorded for the new run (proofs of rounds < fromRound). */
  landed: number;
  /** Messages produced: the BatchJob, or the round-`fromRound` jobs. */
  produced: Array<{ jobId: string; topic: string }>;
  /** Where the BatchJob came from (whole replays). */
  batchJobSource?: 'batches-topic' | 'store-and-core';
  /** Something was written for the new run (so a failed replay keeps its run reserved, to be finished with targetRun). */
  written: boolean;
}

const RESERVATION_TTL_S = 7 * 24 * 3600;

function reservationKey(key: string): string {
  return `ops:replay:{${key}}`;
}

interface Reservation {
  fromRound: number;
  sourceRun: number;
  at: number;
}

async function runInUse(ctx: OpsContext, run: BatchRun): Promise<boolean> {
  const key = batchRunKey(run.protocolVersion, run.batchNumber, run.runId);
  if ((await ctx.redis.exists(`agg:{${key}}:plan`)) > 0) return true;
  return (await ctx.store.list(`${batchRunPrefix(run)}/`)).length > 0;
}

/** The lowest run >= 1 of `batch` with no plan, no objects and no reservation; reserves it. */
export async function reserveNextRun(ctx: OpsContext, batch: number, reservation: Omit<Reservation, 'at'>): Promise<number> {
  for (let r = 1; r < 10_000; r++) {
    const run: BatchRun = { protocolVersion: ctx.version, batchNumber: batch, runId: r };
    if (await runInUse(ctx, run)) continue;
    const ok = await ctx.redis.set(reservationKey(batchRunKey(ctx.version, batch, r)), JSON.stringify({ ...reservation, at: Date.now() }), 'EX', RESERVATION_TTL_S, 'NX');
    if (ok === 'OK') return r;
  }
  throw new OpsError(`batch ${batch} has no free run below 10000`);
}

/** Checks that `run` may be (re)used for this replay: free, or reserved by a replay with the same source and round. */
async function claimRun(ctx: OpsContext, batch: number, run: number, reservation: Omit<Reservation, 'at'>): Promise<void> {
  if (run === 0) throw new OpsError('run 0 belongs to the gateway; a replay uses run 1 or later');
  const key = reservationKey(batchRunKey(ctx.version, batch, run));
  const existing = await ctx.redis.get(key);
  if (existing) {
    const r = JSON.parse(existing) as Reservation;
    if (r.fromRound !== reservation.fromRound || r.sourceRun !== reservation.sourceRun) {
      throw new OpsError(`run ${run} of batch ${batch} was reserved by a replay from round ${r.fromRound} of run ${r.sourceRun}, not from round ${reservation.fromRound} of run ${reservation.sourceRun}`);
    }
    return;
  }
  if (await runInUse(ctx, { protocolVersion: ctx.version, batchNumber: batch, runId: run })) {
    throw new OpsError(`run ${run} of batch ${batch} is in use and was not reserved by a replay; pick a free run or leave --to-run out`);
  }
  if ((await ctx.redis.set(key, JSON.stringify({ ...reservation, at: Date.now() }), 'EX', RESERVATION_TTL_S, 'NX')) !== 'OK') {
    throw new OpsError(`run ${run} of batch ${batch} was reserved just now by another replay`);
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** The newest BatchJob of `batch` on the batches topic, preferring `sourceRun`'s. */
export async function findBatchJob(ctx: OpsContext, batch: number, sourceRun: number): Promise<BatchJob | null> {
  const topic = batchesTopic(ctx.version);
  const admin = ctx.kafka.admin();
  await admin.connect();
  const found: BatchJob[] = [];
  try {
    if (!(await admin.listTopics()).includes(topic)) return null;
    await readWholeTopic(admin, ctx.kafka, topic, (m) => {
      try {
        const job = decode('BatchJob', m.value);
        if (job.batch_number === batch && sameVersion(job.protocol_version, ctx.version)) found.push(job);
      } catch {
        // a malformed record: it went to the dead letter topic
      }
    });
  } finally {
    await admin.disconnect();
  }
  return found.filter((j) => j.run_id === sourceRun).pop() ?? found.pop() ?? null;
}

async function replayWhole(ctx: OpsContext, o: Required<Pick<ReplayOptions, 'batch' | 'sourceRun'>>, newRun: BatchRun, result: ReplayResult): Promise<void> {
  let job = await findBatchJob(ctx, o.batch, o.sourceRun);
  let inputKey: string;
  let commitment: string;
  if (job) {
    inputKey = job.input_key;
    commitment = job.batch_commitment;
    result.batchJobSource = 'batches-topic';
  } else {
    // Gone from the topic (retention): the input in the store, the commitment from the core.
    if (!ctx.core) throw new OpsError(`no BatchJob of batch ${o.batch} on ${batchesTopic(ctx.version)} (retention?); give --core-url so the commitment can be taken from the core`);
    const record = (await ctx.core.batchStatus(o.batch)) as { state: string; commitment?: string };
    if (typeof record.commitment !== 'string') throw new OpsError(`the core's record of batch ${o.batch} has no commitment`);
    inputKey = objectKeys.input({ protocolVersion: ctx.version, batchNumber: o.batch, runId: o.sourceRun });
    commitment = record.commitment;
    result.batchJobSource = 'store-and-core';
  }
  let input: Buffer;
  try {
    input = await ctx.store.get(inputKey);
  } catch (e) {
    if (e instanceof ObjectNotFoundError) throw new OpsError(`the input of batch ${o.batch} is not in the store at ${inputKey}`);
    throw e;
  }
  const newInput = objectKeys.input(newRun);
  result.written = true;
  await ctx.store.put(newInput, input);
  result.copied = 1;
  job = {
    protocol_version: ctx.version,
    batch_number: o.batch,
    job_id: batchJobId(newRun),
    run_id: newRun.runId,
    input_key: newInput,
    batch_commitment: commitment,
    created_at_ms: Date.now(),
  };
  const topic = batchesTopic(ctx.version);
  await produceRecords(ctx.kafka, [{ topic, key: job.job_id, value: encode('BatchJob', job) }]);
  result.produced.push({ jobId: job.job_id, topic });
}

async function replayFromRound(ctx: OpsContext, o: Required<Pick<ReplayOptions, 'batch' | 'sourceRun' | 'fromRound'>>, newRun: BatchRun, result: ReplayResult): Promise<void> {
  const source: BatchRun = { protocolVersion: ctx.version, batchNumber: o.batch, runId: o.sourceRun };
  let stored: { basicCounts: Record<string, number>; geometry: Geometry };
  try {
    stored = JSON.parse((await ctx.store.get(objectKeys.plan(source))).toString());
  } catch (e) {
    if (e instanceof ObjectNotFoundError) throw new OpsError(`run ${o.sourceRun} of batch ${o.batch} has no plan in the store (${objectKeys.plan(source)}); replay the whole batch instead`);
    throw e;
  }
  const counts = new Map(Object.entries(stored.basicCounts).map(([k, v]) => [Number(k), v]));
  const plan: AggregationPlan = planAggregation(counts, stored.geometry);

  // Every proof below the round must be there before anything is written for the new run.
  const below = [...jobsOfPlan(plan)].filter((c) => c.round < o.fromRound);
  const missing: string[] = [];
  await forEachLimited(below, 16, async (c) => {
    if (!(await ctx.store.exists(objectKeys.proof(source, c)))) missing.push(objectKeys.proof(source, c));
  });
  if (missing.length > 0) {
    throw new OpsError(`run ${o.sourceRun} of batch ${o.batch} lacks ${missing.length} proof(s) below round ${o.fromRound}, e.g. ${missing.slice(0, 3).join(', ')}; replay from an earlier round`);
  }

  // The plan, and the proofs below the round copied key for key.
  await savePlan(ctx.store, newRun, counts, stored.geometry);
  result.written = true;
  await forEachLimited(below, 16, async (c) => {
    await ctx.store.put(objectKeys.proof(newRun, c), await ctx.store.get(objectKeys.proof(source, c)));
  });
  result.copied = below.length;

  const key = batchRunKey(ctx.version, o.batch, newRun.runId);
  await ctx.counters.registerPlan(key, counterGroups(plan));
  const landings: Array<{ parent: string; member: number }> = [];
  for (const g of counterGroups(plan)) {
    const parent = parseCoordId(g.parent)!;
    if (childRoundOf(parent) < o.fromRound) for (let m = 0; m < g.expected; m++) landings.push({ parent: g.parent, member: m });
  }
  const outcomes = await ctx.counters.landMany(key, landings);
  const triggered: string[] = [];
  outcomes.forEach((r, i) => {
    if (r.status === 'ERROR') throw new OpsError(`landing ${landings[i].parent}/${landings[i].member} in ${key} failed: ${r.message}`);
    if (r.status === 'TRIGGER') triggered.push(landings[i].parent);
  });
  result.landed = landings.length;

  // The jobs of the round whose inputs are all copied now.
  const records: OpsRecord[] = [];
  for (const parent of triggered) {
    const coord: JobCoord = parseCoordId(parent)!;
    if (coord.round < o.fromRound) continue; // its proof was copied
    const job = proverJobFor(newRun, plan, coord, childrenOf(plan, coord).map((c) => objectKeys.proof(newRun, c)), null);
    const record = jobRecord(ctx.version, job);
    records.push(record);
    result.produced.push({ jobId: job.job_id, topic: record.topic });
  }
  await produceRecords(ctx.kafka, records);
  await ctx.counters.markEmitted(key, triggered);
}

export async function replayBatch(ctx: OpsContext, options: ReplayOptions): Promise<ReplayResult> {
  const fromRound = options.fromRound ?? 0;
  const sourceRun = options.sourceRun ?? 0;
  if (!Number.isInteger(fromRound) || fromRound < AggregationRound.BasicCircuits || fromRound > AggregationRound.Compression) throw new OpsError(`--from-round must be 0..5, got ${fromRound}`);
  const reservation = { fromRound, sourceRun };
  let runId: number;
  if (options.targetRun !== undefined) {
    await claimRun(ctx, options.batch, options.targetRun, reservation);
    runId = options.targetRun;
  } else {
    runId = await reserveNextRun(ctx, options.batch, reservation);
  }
  const newRun: BatchRun = { protocolVersion: ctx.version, batchNumber: options.batch, runId };
  const result: ReplayResult = {
    version: formatVersion(ctx.version),
    batch: options.batch,
    fromRound,
    sourceRun,
    newRun: runId,
    batchRunKey: batchRunKey(ctx.version, options.batch, runId),
    copied: 0,
    landed: 0,
    produced: [],
    written: false,
  };
  try {
    if (fromRound === 0) await replayWhole(ctx, { batch: options.batch, sourceRun }, newRun, result);
    else await replayFromRound(ctx, { batch: options.batch, sourceRun, fromRound }, newRun, result);
  } catch (e) {
    // Failed before writing anything (no BatchJob, no plan, missing proofs): give the run back.
    if (!result.written && options.targetRun === undefined) await ctx.redis.del(reservationKey(result.batchRunKey)).catch(() => undefined);
    else if (result.written && e instanceof Error) e.message += ` (finish it with --to-run ${runId} once the cause is fixed)`;
    throw e;
  }
  return result;
}

export interface ReplayOutcome {
  newRun: number;
  finalProofKey: string;
  /** The new run's compression proof is in the store. */
  finalProofExists: boolean;
  /** It has the same bytes as the source run's (null when either is missing). */
  sameAsSource: boolean | null;
}

/** Waits up to `timeoutMs` for the new run's compression proof and compares it with the source run's. */
export async function awaitReplay(ctx: OpsContext, r: Pick<ReplayResult, 'batch' | 'newRun' | 'sourceRun'>, timeoutMs: number): Promise<ReplayOutcome> {
  const coord: JobCoord = { round: AggregationRound.Compression, circuitId: 1, depth: 0, seq: 0 };
  const key = objectKeys.proof({ protocolVersion: ctx.version, batchNumber: r.batch, runId: r.newRun }, coord);
  const sourceKey = objectKeys.proof({ protocolVersion: ctx.version, batchNumber: r.batch, runId: r.sourceRun }, coord);
  const deadline = Date.now() + timeoutMs;
  while (!(await ctx.store.exists(key)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
  const exists = await ctx.store.exists(key);
  let same: boolean | null = null;
  if (exists && (await ctx.store.exists(sourceKey))) same = (await ctx.store.get(key)).equals(await ctx.store.get(sourceKey));
  return { newRun: r.newRun, finalProofKey: key, finalProofExists: exists, sameAsSource: same };
}
