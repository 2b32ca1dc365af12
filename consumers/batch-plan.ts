// A batch-run's aggregation plan: decided once by basic witness generation (from how many
// instances of each circuit type the batch has), stored next to the batch's objects, and read
// by every consumer that needs to know a job's parent or a parent's children.
import { ObjectStore } from '../storage';
import { AggregationPlan, Geometry, JobCoord, childrenOf, expectedChildren, planAggregation } from '../topics/geometry';
import { AggregationRound } from '../topics/catalog';
import { BatchRun, coordId, objectKeys } from './job-identity';
import type { GroupSpec } from '../aggregation';

interface StoredPlan {
  basicCounts: Record<string, number>;
  geometry: Geometry;
}

export async function savePlan(store: ObjectStore, run: BatchRun, basicCounts: Map<number, number>, geometry: Geometry): Promise<AggregationPlan> {
  const plan = planAggregation(basicCounts, geometry);
  const stored: StoredPlan = { basicCounts: Object.fromEntries(basicCounts), geometry };
  await store.put(objectKeys.plan(run), Buffer.from(JSON.stringify(stored)));
  return plan;
}

/** Every job of the plan, round by round. */
export function* jobsOfPlan(plan: AggregationPlan): Generator<JobCoord> {
  for (const c of plan.circuits) for (let seq = 0; seq < c.basicJobs; seq++) yield { round: AggregationRound.BasicCircuits, circuitId: c.basicCircuitId, depth: 0, seq };
  for (const c of plan.circuits) for (let seq = 0; seq < c.leafJobs; seq++) yield { round: AggregationRound.LeafAggregation, circuitId: c.leafCircuitId, depth: 0, seq };
  for (const c of plan.circuits)
    for (let depth = 0; depth < c.nodeLevels.length; depth++)
      for (let seq = 0; seq < c.nodeLevels[depth]; seq++) yield { round: AggregationRound.NodeAggregation, circuitId: c.leafCircuitId, depth, seq };
  yield { round: AggregationRound.RecursionTip, circuitId: 255, depth: 0, seq: 0 };
  yield { round: AggregationRound.Scheduler, circuitId: 1, depth: 0, seq: 0 };
  yield { round: AggregationRound.Compression, circuitId: 1, depth: 0, seq: 0 };
}

/** The counter groups to register: one per job that waits for children. */
export function counterGroups(plan: AggregationPlan): GroupSpec[] {
  const groups: GroupSpec[] = [];
  for (const job of jobsOfPlan(plan)) {
    if (job.round === AggregationRound.BasicCircuits) continue;
    groups.push({ parent: coordId(job), expected: expectedChildren(plan, job) });
  }
  return groups;
}

export { childrenOf };

/** Plans read from the store, kept per batch-run (a consumer sees the same few batches over and over). */
export class PlanCache {
  private readonly plans = new Map<string, Promise<AggregationPlan>>();
  constructor(
    private readonly store: ObjectStore,
    private readonly capacity = 64,
  ) {}

  get(run: BatchRun): Promise<AggregationPlan> {
    const key = objectKeys.plan(run);
    const cached = this.plans.get(key);
    if (cached) return cached;
    {
      const p: Promise<AggregationPlan> = this.store.get(key).then((buf: Buffer) => {
        const stored = JSON.parse(buf.toString()) as StoredPlan;
        return planAggregation(new Map(Object.entries(stored.basicCounts).map(([k, v]) => [Number(k), v])), stored.geometry);
      });
      p.catch(() => this.plans.delete(key));
      this.plans.set(key, p);
      if (this.plans.size > this.capacity) this.plans.delete(this.plans.keys().next().value!);
      return p;
    }
  }
}
