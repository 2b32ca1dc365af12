// What the operator functions work with: the services, the prover's object store and the
// protocol version. The CLI opens one from flags; tests and a dashboard pass their own.
import { Kafka } from 'kafkajs';
import Redis from 'ioredis';
import { AggregationCounters } from '../aggregation';
import { ProtocolVersion } from '../lib/protocol-version';
import { ObjectNotFoundError, ObjectStore } from '../storage';
import { PlanCache } from '../consumers/batch-plan';
import { BatchRun } from '../consumers/job-identity';
import { AggregationPlan } from '../topics/geometry';
import { CoreClient } from '../producers/core-client';

export interface OpsContext {
  kafka: Kafka;
  redis: Redis;
  store: ObjectStore;
  version: ProtocolVersion;
  counters: AggregationCounters;
  plans: PlanCache;
  /** The core's API, when the operator named one (`--core-url`). */
  core?: CoreClient;
}

export function opsContext(o: { kafka: Kafka; redis: Redis; store: ObjectStore; version: ProtocolVersion; core?: CoreClient }): OpsContext {
  return { ...o, counters: new AggregationCounters(o.redis), plans: new PlanCache(o.store) };
}

/** The batch-run's plan from the store, or null when none was stored. */
export async function storedPlan(ctx: OpsContext, run: BatchRun): Promise<AggregationPlan | null> {
  try {
    return await ctx.plans.get(run);
  } catch (e) {
    if (e instanceof ObjectNotFoundError) return null;
    throw e;
  }
}

/** An error the operator caused (bad flags, unknown batch): printed without a stack trace. */
export class OpsError extends Error {
  override name = 'OpsError';
}
