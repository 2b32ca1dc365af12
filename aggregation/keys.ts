// Key layout of the aggregation counters. Every key of one batch-run carries the
// batch-run in a hash tag ({...}), so all of a batch-run's keys hash to one Redis Cluster
// slot and every script touches a single slot.
//
//   agg:{v0.27:b1042:run0}:plan         hash  parent -> expected child count
//   agg:{v0.27:b1042:run0}:meta         hash  groups, registeredAt (ms), ttlMs, triggered
//   agg:{v0.27:b1042:run0}:owner        hash  parent -> member that completed the group
//   agg:{v0.27:b1042:run0}:emitted      hash  parent -> 1 once its job is durably produced
//   agg:{v0.27:b1042:run0}:first        hash  parent -> first landing time (ms, Redis clock)
//   agg:{v0.27:b1042:run0}:last         hash  parent -> last new landing time (ms)
//   agg:{v0.27:b1042:run0}:g:<parent>   set   members landed in the group

export interface ProtocolVersionRef {
  minor: number;
  patch: number;
}

/** Canonical batch-run key: `v{minor}.{patch}:b{batch}:run{run}`. */
export function batchRunKey(version: ProtocolVersionRef, batch: number, run: number): string {
  for (const [name, value] of [
    ['minor', version.minor],
    ['patch', version.patch],
    ['batch', batch],
    ['run', run],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`batchRunKey: ${name} must be a non-negative integer, got ${value}`);
    }
  }
  return `v${version.minor}.${version.patch}:b${batch}:run${run}`;
}

/**
 * Checks a batch-run key can sit inside a hash tag: not empty, no braces (they would end
 * the tag early and split the batch-run over slots), no whitespace or control characters.
 */
export function assertBatchRunKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || /[{}\s\x00-\x1f]/.test(key)) {
    throw new RangeError(`invalid batch-run key ${JSON.stringify(key)}`);
  }
}

export interface AggregationKeys {
  /** `agg:{<batch-run>}:` — every key of the batch-run starts with it. */
  base: string;
  plan: string;
  meta: string;
  owner: string;
  /** Parents whose job is durably emitted (see mark_emitted.lua). */
  emitted: string;
  first: string;
  last: string;
  /** The member set of one group. */
  group(parent: string): string;
}

export function aggregationKeys(batchRun: string): AggregationKeys {
  assertBatchRunKey(batchRun);
  const base = `agg:{${batchRun}}:`;
  return {
    base,
    plan: `${base}plan`,
    meta: `${base}meta`,
    owner: `${base}owner`,
    emitted: `${base}emitted`,
    first: `${base}first`,
    last: `${base}last`,
    group: (parent: string) => `${base}g:${parent}`,
  };
}
