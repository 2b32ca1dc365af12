// A batch-run's progress through the rounds: from the Redis counters (what landed, what was
// triggered, what is waiting and for how long), the plan in the object store (how many jobs each
// round has), the compression proof in the store, and — when the operator names the core's API —
// whether the core accepted a final proof for the batch.
import { BatchProgress, batchRunKey } from '../aggregation';
import { formatVersion } from '../lib/protocol-version';
import { AggregationRound, COMPRESSION_CIRCUIT_ID, RECURSION_TIP_CIRCUIT_ID, SCHEDULER_CIRCUIT_ID, roundName } from '../topics/catalog';
import { AggregationPlan, childrenOf } from '../topics/geometry';
import { BatchRun, batchRunPrefix, jobId, objectKeys } from '../consumers/job-identity';
import { childRoundOf, parseCoordId, scanBatchRuns } from './batch-runs';
import { OpsContext, storedPlan } from './context';

export interface RoundStatus {
  round: number;
  name: string;
  /** Jobs of the round in the plan. */
  total: number;
  /** Jobs produced so far (round 0: all, once the plan is registered; later rounds: groups triggered). */
  ready: number;
  /** Proofs landed in their parent's group (compression: its proof is in the store). */
  done: number;
  /** The same per circuit id of the round (basic ids in round 0, leaf ids in rounds 1 and 2), ordered by id; empty without a plan. */
  circuits: CircuitStatus[];
}

export interface CircuitStatus {
  circuitId: number;
  total: number;
  ready: number;
  done: number;
}

export interface WaitingGroup {
  /** The parent job, e.g. `r1:c3:d0:s5`. */
  parent: string;
  jobId: string;
  landed: number;
  expected: number;
  idleMs: number;
  /** Members not landed, and the ids of those child jobs (when the plan is in the store). */
  missing: number[];
  missingJobs: string[];
}

export interface BatchStatusReport {
  version: string;
  batch: number;
  run: number;
  batchRunKey: string;
  /** Runs of this batch with a plan in Redis. */
  runs: number[];
  /** Whether the counters of this run are registered in Redis. */
  registered: boolean;
  /** Where `done` comes from: the counters, or (when they expired or were never registered) the proofs in the store. */
  source: 'redis' | 'store' | 'none';
  plan: { circuits: number; jobsPerRound: number[]; totalJobs: number; geometry: AggregationPlan['geometry'] } | null;
  rounds: RoundStatus[];
  groups: { total: number; triggered: number } | null;
  waiting: WaitingGroup[];
  finalProof: { key: string; exists: boolean };
  /** Every round done and the compression proof stored. */
  complete: boolean;
  /** The core's record of the batch (`GET /batches/N`), when a core URL was given. */
  core: { state: string; accepted: boolean; provenAt: unknown; proofDigest: unknown } | { error: string } | null;
}

type CircuitCounts = Array<Map<number, CircuitStatus>>;

/** Jobs per (round, circuit id) in the plan, with ready and done at 0. */
function plannedCircuits(plan: AggregationPlan): CircuitCounts {
  const rounds: CircuitCounts = [0, 1, 2, 3, 4, 5].map(() => new Map());
  const add = (round: number, circuitId: number, total: number) => rounds[round].set(circuitId, { circuitId, total, ready: 0, done: 0 });
  for (const c of plan.circuits) {
    add(AggregationRound.BasicCircuits, c.basicCircuitId, c.basicJobs);
    add(AggregationRound.LeafAggregation, c.leafCircuitId, c.leafJobs);
    add(AggregationRound.NodeAggregation, c.leafCircuitId, c.nodeJobs);
  }
  add(AggregationRound.RecursionTip, RECURSION_TIP_CIRCUIT_ID, 1);
  add(AggregationRound.Scheduler, SCHEDULER_CIRCUIT_ID, 1);
  add(AggregationRound.Compression, COMPRESSION_CIRCUIT_ID, 1);
  return rounds;
}

/**
 * Per (round, circuit id): a group's landed members are its children not listed as missing
 * (the progress must be read with `missing: true`); a triggered group made its parent job ready.
 */
export function circuitProgress(plan: AggregationPlan, progress: BatchProgress, finalExists: boolean): CircuitStatus[][] {
  const rounds = plannedCircuits(plan);
  for (const s of rounds[AggregationRound.BasicCircuits].values()) s.ready = s.total;
  for (const g of progress.groups) {
    const parent = parseCoordId(g.parent);
    if (!parent) continue;
    let children;
    try {
      children = childrenOf(plan, parent);
    } catch {
      continue; // a group the plan does not know
    }
    const missing = new Set(g.triggered ? [] : (g.missing ?? []));
    children.forEach((child, member) => {
      const s = rounds[child.round].get(child.circuitId);
      if (s && !missing.has(member)) s.done++;
    });
    const p = rounds[parent.round].get(parent.circuitId);
    if (p && g.triggered) p.ready++;
  }
  const compression = rounds[AggregationRound.Compression].get(COMPRESSION_CIRCUIT_ID)!;
  compression.done = compression.ready = finalExists ? 1 : 0;
  return rounds.map((m) => [...m.values()].sort((a, b) => a.circuitId - b.circuitId));
}

const PROOF_CIRCUIT_RE = /\/proof\/r\d+\/c(\d+)\//;

export async function batchStatus(ctx: OpsContext, batch: number, run = 0): Promise<BatchStatusReport> {
  const br: BatchRun = { protocolVersion: ctx.version, batchNumber: batch, runId: run };
  const key = batchRunKey(ctx.version, batch, run);
  const [plan, progress, runs] = await Promise.all([storedPlan(ctx, br), ctx.counters.progress(key, { missing: true }), scanBatchRuns(ctx.redis, { version: ctx.version, batch })]);
  const finalKey = objectKeys.proof(br, { round: AggregationRound.Compression, circuitId: 1, depth: 0, seq: 0 });
  const finalExists = await ctx.store.exists(finalKey);

  const total = plan ? [...plan.jobsPerRound] : [0, 0, 0, 0, 0, 0];
  const ready = [0, 0, 0, 0, 0, 0];
  const done = [0, 0, 0, 0, 0, 0];
  let source: BatchStatusReport['source'] = 'none';
  let circuits: CircuitStatus[][] = [[], [], [], [], [], []];
  if (progress) {
    source = 'redis';
    ready[0] = total[0];
    for (const g of progress.groups) {
      const parent = parseCoordId(g.parent);
      if (!parent) continue;
      done[childRoundOf(parent)] += g.landed;
      if (g.triggered) ready[parent.round]++;
    }
  } else if (plan) {
    // No counters (expired, cleared, or never registered): count the proofs in the store.
    source = 'store';
    const perCircuit = plannedCircuits(plan);
    for (let r = 0; r < 5; r++) {
      const keys = await ctx.store.list(`${batchRunPrefix(br)}/proof/r${r}/`);
      done[r] = keys.length;
      for (const k of keys) {
        const s = perCircuit[r].get(Number(PROOF_CIRCUIT_RE.exec(k)?.[1]));
        if (s) s.done++;
      }
    }
    // Without the counters, what was produced is not known; count a round as produced as far as it is proven.
    for (let r = 0; r < 5; r++) ready[r] = r === 0 ? total[0] : done[r];
    for (let r = 0; r < 5; r++) for (const s of perCircuit[r].values()) s.ready = r === 0 ? s.total : s.done;
    const compression = perCircuit[AggregationRound.Compression].get(COMPRESSION_CIRCUIT_ID)!;
    compression.done = compression.ready = finalExists ? 1 : 0;
    circuits = perCircuit.map((m) => [...m.values()].sort((a, b) => a.circuitId - b.circuitId));
  }
  done[AggregationRound.Compression] = finalExists ? 1 : 0;
  if (finalExists) ready[AggregationRound.Compression] = 1;
  if (progress && plan) circuits = circuitProgress(plan, progress, finalExists);

  const waiting: WaitingGroup[] = (progress?.waiting ?? []).map((g) => {
    const parent = parseCoordId(g.parent);
    const missing = g.missing ?? [];
    let missingJobs: string[] = [];
    if (plan && parent) {
      try {
        const children = childrenOf(plan, parent);
        missingJobs = missing.map((m) => (children[m] ? jobId(br, children[m]) : `member ${m}`));
      } catch {
        // a group the plan does not know (counters registered by hand)
      }
    }
    return { parent: g.parent, jobId: parent ? jobId(br, parent) : g.parent, landed: g.landed, expected: g.expected, idleMs: g.idleMs, missing, missingJobs };
  });

  let core: BatchStatusReport['core'] = null;
  if (ctx.core) {
    try {
      const record = await ctx.core.batchStatus(batch);
      core = { state: record.state, accepted: record.state === 'proven', provenAt: record.proven_at ?? null, proofDigest: record.proof_digest ?? null };
    } catch (e) {
      core = { error: (e as Error).message };
    }
  }

  const rounds: RoundStatus[] = total.map((t, r) => ({ round: r, name: roundName(r as AggregationRound), total: t, ready: ready[r], done: done[r], circuits: circuits[r] }));
  return {
    version: formatVersion(ctx.version),
    batch,
    run,
    batchRunKey: key,
    runs: runs.map((r) => r.run),
    registered: progress !== null,
    source,
    plan: plan ? { circuits: plan.circuits.length, jobsPerRound: [...plan.jobsPerRound], totalJobs: plan.totalJobs, geometry: plan.geometry } : null,
    rounds,
    groups: progress ? { total: progress.total, triggered: progress.triggered } : null,
    waiting,
    finalProof: { key: finalKey, exists: finalExists },
    complete: plan !== null && finalExists && rounds.every((r) => r.done >= r.total),
    core,
  };
}
