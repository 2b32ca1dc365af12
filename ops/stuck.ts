// Stuck-work detection: work that should be moving and is not.
//
// Batch-runs are found by SCAN over the registered plans (`agg:{<batch-run>}:plan`); a plan
// expires with its counters, so a finished batch-run drops out on its own after the TTL, and no
// second index has to be kept in step. For each batch-run:
//
// - an incomplete group idle (no new landing) for longer than the threshold, waiting on at least
//   one child job that was produced (a basic job, or a job whose own group triggered). Groups
//   whose missing children were never produced are blocked upstream, and the upstream group is
//   the one reported. Without the plan in the store, every idle incomplete group is reported;
// - a complete group whose parent job is not marked emitted for longer than the threshold, and
//   whose parent proof is not in the store either: the owner's message is stuck between landing
//   and commit (or was dead-lettered);
// - a batch-run whose scheduler proof landed long ago but has no compression proof.
//
// Plus consumer groups of the version's topics with records waiting and no member to read them.
//
// `findStuckWork` is the reusable entry point (the `stuck` command, a dashboard, a cron alert).
import { batchRunKey, aggregationKeys, BatchProgress } from '../aggregation';
import { ProtocolVersion, formatVersion } from '../lib/protocol-version';
import { AggregationRound } from '../topics/catalog';
import { JobCoord, childrenOf } from '../topics/geometry';
import { BatchRun, coordId, jobId, objectKeys } from '../consumers/job-identity';
import { BatchRunRef, parseCoordId, scanBatchRuns } from './batch-runs';
import { OpsContext, storedPlan } from './context';
import { topicLags } from './lag';

export interface StuckGroup {
  batchRunKey: string;
  version: string;
  batch: number;
  run: number;
  /** `incomplete`: children missing; `not-emitted`: complete, but its job was never marked produced. */
  state: 'incomplete' | 'not-emitted';
  parent: string;
  jobId: string;
  landed: number;
  expected: number;
  idleMs: number;
  /** Members not landed. */
  missing: number[];
  /** Ids of the missing child jobs that were produced, i.e. the jobs to look for. */
  waitingOn: string[];
}

export interface MissingFinalProof {
  batchRunKey: string;
  version: string;
  batch: number;
  run: number;
  /** Since the scheduler proof landed (the compression job was triggered then). */
  idleMs: number;
  key: string;
}

export interface StalledConsumerGroup {
  group: string;
  topics: string[];
  /** Records waiting (see ops/lag.ts). */
  lag: number;
  exact: boolean;
}

export interface StuckReport {
  olderThanMs: number;
  /** Batch-runs with a registered plan that were checked. */
  batchRuns: number;
  stuckGroups: StuckGroup[];
  missingFinalProofs: MissingFinalProof[];
  stalledConsumerGroups: StalledConsumerGroup[];
  /** Nothing found. */
  ok: boolean;
}

export interface FindStuckOptions {
  /** Idle time after which waiting work counts as stuck. Default 10 minutes. */
  olderThanMs?: number;
  /** Every version's batch-runs, not only the context's. Default false. */
  allVersions?: boolean;
  /** Check the consumer groups of the version's topics. Default true. */
  consumerGroups?: boolean;
}

const COMPRESSION: JobCoord = { round: AggregationRound.Compression, circuitId: 1, depth: 0, seq: 0 };
const COMPRESSION_GROUP = coordId(COMPRESSION);

/** Whether a batch-run is finished as far as the counters go: every group triggered and marked emitted. Cheap (no group scan). */
async function countersFinished(ctx: OpsContext, key: string): Promise<{ finished: boolean; now: number; compressionTriggeredAt: number | null }> {
  const k = aggregationKeys(key);
  const [meta, emitted, last, time] = await Promise.all([ctx.redis.hmget(k.meta, 'groups', 'triggered'), ctx.redis.hlen(k.emitted), ctx.redis.hget(k.last, COMPRESSION_GROUP), ctx.redis.time()]);
  const groups = Number(meta[0]);
  const triggered = Number(meta[1]);
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  return { finished: groups > 0 && triggered === groups && emitted === groups, now, compressionTriggeredAt: last === null ? null : Number(last) };
}

async function checkBatchRun(ctx: OpsContext, ref: BatchRunRef, olderThanMs: number, report: StuckReport): Promise<void> {
  const run: BatchRun = { protocolVersion: ref.version, batchNumber: ref.batch, runId: ref.run };
  const key = batchRunKey(ref.version, ref.batch, ref.run);
  const where = { batchRunKey: key, version: formatVersion(ref.version), batch: ref.batch, run: ref.run };
  const finalKey = objectKeys.proof(run, COMPRESSION);
  const checkFinal = async (now: number, compressionTriggeredAt: number | null) => {
    if (compressionTriggeredAt === null || now - compressionTriggeredAt < olderThanMs) return;
    if (!(await ctx.store.exists(finalKey))) report.missingFinalProofs.push({ ...where, idleMs: now - compressionTriggeredAt, key: finalKey });
  };

  const quick = await countersFinished(ctx, key);
  if (quick.finished) {
    await checkFinal(quick.now, quick.compressionTriggeredAt);
    return;
  }
  const progress: BatchProgress | null = await ctx.counters.progress(key, { missing: true });
  if (!progress) return; // expired between the scan and now
  // An unreadable plan is reported like a missing one here: one bad object must not hide the rest.
  const plan = await storedPlan(ctx, run).catch((e: unknown) => (e instanceof SyntaxError ? null : Promise.reject(e)));
  const triggered = new Set(progress.groups.filter((g) => g.triggered).map((g) => g.parent));
  for (const g of progress.groups) {
    if (g.idleMs < olderThanMs) continue;
    const parent = parseCoordId(g.parent);
    const id = parent ? jobId(run, parent) : g.parent;
    if (!g.triggered) {
      const missing = g.missing ?? [];
      let waitingOn: string[] = [];
      if (plan && parent) {
        let children: JobCoord[] | null = null;
        try {
          children = childrenOf(plan, parent);
        } catch {
          children = null; // a group the plan does not know
        }
        if (children) {
          const produced = missing.map((m) => children![m]).filter((c) => c !== undefined && (c.round === AggregationRound.BasicCircuits || triggered.has(coordId(c))));
          if (produced.length === 0) continue; // blocked upstream; the upstream group is reported
          waitingOn = produced.map((c) => jobId(run, c));
        }
      }
      report.stuckGroups.push({ ...where, state: 'incomplete', parent: g.parent, jobId: id, landed: g.landed, expected: g.expected, idleMs: g.idleMs, missing, waitingOn });
    } else if (!g.emitted) {
      // markEmitted is best effort after the commit: a parent whose proof exists was produced.
      const parentProof = parent ? objectKeys.proof(run, parent) : null;
      if (parentProof && (await ctx.store.exists(parentProof))) continue;
      report.stuckGroups.push({ ...where, state: 'not-emitted', parent: g.parent, jobId: id, landed: g.landed, expected: g.expected, idleMs: g.idleMs, missing: [], waitingOn: [id] });
    }
  }
  const compression = progress.groups.find((g) => g.parent === COMPRESSION_GROUP);
  if (compression?.triggered && compression.emitted) await checkFinal(progress.now, compression.lastLandingAt);
}

export async function findStuckWork(ctx: OpsContext, options: FindStuckOptions = {}): Promise<StuckReport> {
  const olderThanMs = options.olderThanMs ?? 600_000;
  const report: StuckReport = { olderThanMs, batchRuns: 0, stuckGroups: [], missingFinalProofs: [], stalledConsumerGroups: [], ok: true };
  const runs = await scanBatchRuns(ctx.redis, options.allVersions ? {} : { version: ctx.version });
  report.batchRuns = runs.length;
  for (const ref of runs) await checkBatchRun(ctx, ref, olderThanMs, report);

  if (options.consumerGroups ?? true) {
    const versions = new Map<string, ProtocolVersion>([[formatVersion(ctx.version), ctx.version]]);
    if (options.allVersions) for (const r of runs) versions.set(formatVersion(r.version), r.version);
    for (const version of versions.values()) {
      const byGroup = new Map<string, StalledConsumerGroup>();
      for (const row of await topicLags(ctx.kafka, version)) {
        if (!row.group || row.lag === 0 || (row.members ?? 0) > 0) continue;
        const g = byGroup.get(row.group) ?? { group: row.group, topics: [], lag: 0, exact: true };
        g.topics.push(row.topic);
        g.lag += row.lag;
        g.exact &&= row.exact;
        byGroup.set(row.group, g);
      }
      report.stalledConsumerGroups.push(...byGroup.values());
    }
  }
  report.ok = report.stuckGroups.length === 0 && report.missingFinalProofs.length === 0 && report.stalledConsumerGroups.length === 0;
  return report;
}
