// Finding batch-runs: the plans registered in Redis (SCAN over `agg:{<batch-run>}:plan`), the
// objects of a run in the store, and the parent ids of counter groups parsed back into job
// coordinates.
import type { Redis } from 'ioredis';
import { ProtocolVersion } from '../lib/protocol-version';
import { AggregationRound } from '../topics/catalog';
import { JobCoord } from '../topics/geometry';

export interface BatchRunRef {
  version: ProtocolVersion;
  batch: number;
  run: number;
  /** `v{minor}.{patch}:b{batch}:run{run}` */
  key: string;
}

const BATCH_RUN_RE = /^v(\d+)\.(\d+):b(\d+):run(\d+)$/;
const PLAN_KEY_RE = /^agg:\{([^{}]+)\}:plan$/;

export function parseBatchRunKey(key: string): BatchRunRef | null {
  const m = BATCH_RUN_RE.exec(key);
  if (!m) return null;
  return { version: { minor: Number(m[1]), patch: Number(m[2]) }, batch: Number(m[3]), run: Number(m[4]), key };
}

/** Glob-escapes a literal for SCAN MATCH. */
function globLiteral(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Every batch-run with a registered plan, found by SCAN (non-blocking; a plan that expired is
 * gone from the scan as well). Narrow it to one version, and to one batch of that version.
 * Sorted by version, batch, run.
 */
export async function scanBatchRuns(redis: Redis, filter: { version?: ProtocolVersion; batch?: number } = {}): Promise<BatchRunRef[]> {
  let pattern = 'agg:{*}:plan';
  if (filter.version) {
    const v = `v${filter.version.minor}.${filter.version.patch}`;
    pattern = filter.batch === undefined ? `agg:{${globLiteral(v)}:b*}:plan` : `agg:{${globLiteral(`${v}:b${filter.batch}`)}:run*}:plan`;
  }
  const found = new Map<string, BatchRunRef>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const m = PLAN_KEY_RE.exec(k);
      const ref = m ? parseBatchRunKey(m[1]) : null;
      if (ref && (filter.batch === undefined || ref.batch === filter.batch)) found.set(ref.key, ref);
    }
  } while (cursor !== '0');
  return [...found.values()].sort((a, b) => a.version.minor - b.version.minor || a.version.patch - b.version.patch || a.batch - b.batch || a.run - b.run);
}

const COORD_RE = /^r(\d+):c(\d+):d(\d+):s(\d+)$/;

/** `r1:c3:d0:s5` back to its coordinates; null for anything else. */
export function parseCoordId(id: string): JobCoord | null {
  const m = COORD_RE.exec(id);
  if (!m || Number(m[1]) > 5) return null;
  return { round: Number(m[1]) as AggregationRound, circuitId: Number(m[2]), depth: Number(m[3]), seq: Number(m[4]) };
}

/** The round of a parent's children: node jobs above depth 0 aggregate node proofs, every other job the round below. */
export function childRoundOf(parent: JobCoord): AggregationRound {
  if (parent.round === AggregationRound.NodeAggregation && parent.depth > 0) return AggregationRound.NodeAggregation;
  return (parent.round - 1) as AggregationRound;
}
