// Aggregation geometry: how many proofs one aggregation job takes, and the plan of jobs a batch
// needs from its per-circuit-type basic instance counts. Everything here except loadGeometry is
// pure.
//
// Job coordinates: (round, circuitId, depth, seq).
//   round 0: circuitId = basic id, depth 0, seq = instance index
//   round 1: circuitId = leaf id,  depth 0, seq = leaf job index within the type
//   round 2: circuitId = leaf id,  depth d (0 aggregates leaf proofs, d+1 aggregates depth d)
//   round 3, 4, 5: the single tip / scheduler / compression job, depth 0, seq 0
// A child with sequence number s goes to parent seq floor(s / arity), at input position
// s mod arity; a parent waits for min(arity, children - parentSeq * arity) children.

import { readFileSync } from 'node:fs';
import {
  AggregationRound,
  COMPRESSION_CIRCUIT_ID,
  RECURSION_TIP_CIRCUIT_ID,
  SCHEDULER_CIRCUIT_ID,
  basicIdForLeaf,
  isBasicCircuitId,
  leafIdForBasic,
} from './catalog';

export interface Geometry {
  /** Basic proofs aggregated by one leaf job. */
  readonly leafArity: number;
  /** Leaf or node proofs aggregated by one node job. */
  readonly nodeArity: number;
  /** Most circuit types one recursion tip job can take (one final node proof each). */
  readonly tipCapacity: number;
}

export const DEFAULT_GEOMETRY: Geometry = Object.freeze({ leafArity: 32, nodeArity: 32, tipCapacity: 20 });

export class GeometryError extends Error {
  override readonly name = 'GeometryError';
}

const GEOMETRY_KEYS = ['leafArity', 'nodeArity', 'tipCapacity'] as const;
type GeometryKey = (typeof GEOMETRY_KEYS)[number];
const MINIMUM: Record<GeometryKey, number> = { leafArity: 2, nodeArity: 2, tipCapacity: 1 };
/** A sanity ceiling: a typo such as 3200 instead of 32 is an error, not a slow batch. */
const MAXIMUM = 1 << 16;

/**
 * Checks a (partial) geometry and fills the rest from `base`. Values must be integers:
 * arities >= 2, tip capacity >= 1, all <= 65536. Unknown keys are errors (they are typos).
 */
export function validateGeometry(input: unknown, base: Geometry = DEFAULT_GEOMETRY): Geometry {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new GeometryError(`geometry must be an object, got ${JSON.stringify(input)}`);
  }
  const record = input as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !(GEOMETRY_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new GeometryError(`unknown geometry key(s) ${unknown.join(', ')}; known: ${GEOMETRY_KEYS.join(', ')}`);
  }
  const out: Record<GeometryKey, number> = { ...base };
  for (const key of GEOMETRY_KEYS) {
    const value = record[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new GeometryError(`geometry ${key} must be an integer, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  for (const key of GEOMETRY_KEYS) {
    if (out[key] < MINIMUM[key] || out[key] > MAXIMUM) {
      throw new GeometryError(`geometry ${key} must be between ${MINIMUM[key]} and ${MAXIMUM}, got ${out[key]}`);
    }
  }
  return Object.freeze(out);
}

export const GEOMETRY_ENV = {
  file: 'ZKP_GEOMETRY_FILE',
  leafArity: 'ZKP_LEAF_ARITY',
  nodeArity: 'ZKP_NODE_ARITY',
  tipCapacity: 'ZKP_TIP_CAPACITY',
} as const;

export interface LoadGeometryOptions {
  /** JSON file with any of leafArity, nodeArity, tipCapacity. Default: $ZKP_GEOMETRY_FILE if set. */
  file?: string;
  /** Environment to read overrides from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The geometry in force: defaults, then the JSON file (options.file or $ZKP_GEOMETRY_FILE),
 * then single values from $ZKP_LEAF_ARITY, $ZKP_NODE_ARITY, $ZKP_TIP_CAPACITY. Validated.
 */
export function loadGeometry(options: LoadGeometryOptions = {}): Geometry {
  const env = options.env ?? process.env;
  let geometry = DEFAULT_GEOMETRY;
  const file = options.file ?? (env[GEOMETRY_ENV.file] || undefined);
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new GeometryError(`cannot read geometry file ${file}: ${(e as Error).message}`);
    }
    try {
      geometry = validateGeometry(parsed, geometry);
    } catch (e) {
      throw new GeometryError(`geometry file ${file}: ${(e as Error).message}`);
    }
  }
  const fromEnv: Partial<Record<GeometryKey, number>> = {};
  for (const key of GEOMETRY_KEYS) {
    const raw = env[GEOMETRY_ENV[key]];
    if (raw === undefined || raw === '') continue;
    if (!/^[0-9]+$/.test(raw.trim())) {
      throw new GeometryError(`${GEOMETRY_ENV[key]} must be a positive integer, got "${raw}"`);
    }
    fromEnv[key] = Number(raw.trim());
  }
  return validateGeometry(fromEnv, geometry);
}

// ---------------------------------------------------------------------------------------------
// Aggregation plan

export interface CircuitTypePlan {
  readonly basicCircuitId: number;
  readonly leafCircuitId: number;
  /** Round 0 jobs (basic circuit instances). */
  readonly basicJobs: number;
  /** Round 1 jobs: ceil(basicJobs / leafArity). */
  readonly leafJobs: number;
  /** Round 2 jobs per depth: nodeLevels[0] aggregates the leaf proofs; the last entry is 1. */
  readonly nodeLevels: readonly number[];
  /** Sum of nodeLevels. */
  readonly nodeJobs: number;
}

export interface AggregationPlan {
  readonly geometry: Geometry;
  /** The circuit types present (basic count > 0), ordered by leaf circuit id: the tip's input order. */
  readonly circuits: readonly CircuitTypePlan[];
  /** Job counts per round (index = AggregationRound), compression included. */
  readonly jobsPerRound: readonly [number, number, number, number, number, number];
  readonly totalJobs: number;
}

/** Per-basic-circuit-type instance counts. Zero counts are allowed and mean "absent". */
export type BasicCounts = ReadonlyMap<number, number> | Readonly<Record<number, number>>;

function countEntries(counts: BasicCounts): Array<[number, number]> {
  if (counts instanceof Map) return [...(counts as ReadonlyMap<number, number>).entries()];
  return Object.entries(counts).map(([k, v]): [number, number] => {
    if (!/^(0|[1-9][0-9]*)$/.test(k)) throw new GeometryError(`basic circuit id "${k}" is not an integer`);
    return [Number(k), v as number];
  });
}

/** ceil(n / arity), repeated until one remains; at least one level, even for n = 1. */
export function nodeLevelsFor(leafJobs: number, nodeArity: number): number[] {
  if (!Number.isInteger(leafJobs) || leafJobs < 1) throw new GeometryError(`leaf job count must be >= 1, got ${leafJobs}`);
  const levels: number[] = [];
  let prev = leafJobs;
  do {
    prev = Math.ceil(prev / nodeArity);
    levels.push(prev);
  } while (prev > 1);
  return levels;
}

/**
 * The jobs a batch needs. Errors: unknown basic circuit id, count not a non-negative integer,
 * no circuit type present, more types present than geometry.tipCapacity.
 */
export function planAggregation(counts: BasicCounts, geometry: Geometry = DEFAULT_GEOMETRY): AggregationPlan {
  const g = validateGeometry(geometry);
  const circuits: CircuitTypePlan[] = [];
  const seen = new Set<number>();
  for (const [basicId, n] of countEntries(counts)) {
    if (!isBasicCircuitId(basicId)) throw new GeometryError(`unknown basic circuit id ${basicId}`);
    if (seen.has(basicId)) throw new GeometryError(`basic circuit id ${basicId} counted twice`);
    seen.add(basicId);
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new GeometryError(`count for basic circuit ${basicId} must be a non-negative integer, got ${String(n)}`);
    }
    if (n === 0) continue;
    const leafJobs = Math.ceil(n / g.leafArity);
    const nodeLevels = Object.freeze(nodeLevelsFor(leafJobs, g.nodeArity));
    circuits.push(
      Object.freeze({
        basicCircuitId: basicId,
        leafCircuitId: leafIdForBasic(basicId),
        basicJobs: n,
        leafJobs,
        nodeLevels,
        nodeJobs: nodeLevels.reduce((a, b) => a + b, 0),
      }),
    );
  }
  if (circuits.length === 0) throw new GeometryError('no circuit type present: a batch needs at least one basic job');
  if (circuits.length > g.tipCapacity) {
    throw new GeometryError(
      `${circuits.length} circuit types present but the recursion tip takes at most ${g.tipCapacity} ` +
        `(types: ${circuits.map((c) => c.basicCircuitId).join(', ')})`,
    );
  }
  circuits.sort((a, b) => a.leafCircuitId - b.leafCircuitId);
  const sum = (f: (c: CircuitTypePlan) => number) => circuits.reduce((a, c) => a + f(c), 0);
  const jobsPerRound = Object.freeze([
    sum((c) => c.basicJobs),
    sum((c) => c.leafJobs),
    sum((c) => c.nodeJobs),
    1,
    1,
    1,
  ]) as AggregationPlan['jobsPerRound'];
  return Object.freeze({
    geometry: g,
    circuits: Object.freeze(circuits),
    jobsPerRound,
    totalJobs: jobsPerRound.reduce((a, b) => a + b, 0),
  });
}

// ---------------------------------------------------------------------------------------------
// Parent / child mapping

export interface JobCoord {
  readonly round: AggregationRound;
  /** Basic id in round 0, leaf id in rounds 1 and 2, the fixed id in rounds 3..5. */
  readonly circuitId: number;
  readonly depth: number;
  readonly seq: number;
}

export interface ParentLink {
  readonly parent: JobCoord;
  /** Position of the child among the parent's inputs, 0-based. */
  readonly childIndex: number;
  /** How many children the parent waits for. */
  readonly expectedChildren: number;
}

function circuitOfBasic(plan: AggregationPlan, basicId: number): CircuitTypePlan {
  const c = plan.circuits.find((x) => x.basicCircuitId === basicId);
  if (c === undefined) throw new GeometryError(`basic circuit ${basicId} is not present in this plan`);
  return c;
}

function circuitOfLeaf(plan: AggregationPlan, leafId: number): CircuitTypePlan {
  const c = plan.circuits.find((x) => x.leafCircuitId === leafId);
  if (c === undefined) throw new GeometryError(`leaf circuit ${leafId} is not present in this plan`);
  return c;
}

function fmt(job: JobCoord): string {
  return `(round ${job.round}, circuit ${job.circuitId}, depth ${job.depth}, seq ${job.seq})`;
}

/** Number of jobs at (round, circuitId, depth) in this plan; 0 where there are none. */
export function levelSize(plan: AggregationPlan, round: AggregationRound, circuitId: number, depth: number): number {
  switch (round) {
    case AggregationRound.BasicCircuits:
      return depth === 0 ? (plan.circuits.find((c) => c.basicCircuitId === circuitId)?.basicJobs ?? 0) : 0;
    case AggregationRound.LeafAggregation:
      return depth === 0 ? (plan.circuits.find((c) => c.leafCircuitId === circuitId)?.leafJobs ?? 0) : 0;
    case AggregationRound.NodeAggregation:
      return plan.circuits.find((c) => c.leafCircuitId === circuitId)?.nodeLevels[depth] ?? 0;
    case AggregationRound.RecursionTip:
      return circuitId === RECURSION_TIP_CIRCUIT_ID && depth === 0 ? 1 : 0;
    case AggregationRound.Scheduler:
      return circuitId === SCHEDULER_CIRCUIT_ID && depth === 0 ? 1 : 0;
    case AggregationRound.Compression:
      return circuitId === COMPRESSION_CIRCUIT_ID && depth === 0 ? 1 : 0;
    default:
      return 0;
  }
}

/** Throws unless the job exists in the plan. */
export function assertJobInPlan(plan: AggregationPlan, job: JobCoord): void {
  if (!Number.isInteger(job.seq) || job.seq < 0 || job.seq >= levelSize(plan, job.round, job.circuitId, job.depth)) {
    throw new GeometryError(`job ${fmt(job)} is not part of this plan`);
  }
}

function groupLink(parent: JobCoord, childSeq: number, arity: number, childLevelSize: number): ParentLink {
  return Object.freeze({
    parent: Object.freeze(parent),
    childIndex: childSeq % arity,
    expectedChildren: Math.min(arity, childLevelSize - parent.seq * arity),
  });
}

/** The job a child's proof feeds, or null for compression (its output is the final proof). */
export function parentOf(plan: AggregationPlan, child: JobCoord): ParentLink | null {
  assertJobInPlan(plan, child);
  const { leafArity, nodeArity } = plan.geometry;
  switch (child.round) {
    case AggregationRound.BasicCircuits: {
      const c = circuitOfBasic(plan, child.circuitId);
      const parent = { round: AggregationRound.LeafAggregation, circuitId: c.leafCircuitId, depth: 0, seq: Math.floor(child.seq / leafArity) };
      return groupLink(parent, child.seq, leafArity, c.basicJobs);
    }
    case AggregationRound.LeafAggregation: {
      const c = circuitOfLeaf(plan, child.circuitId);
      const parent = { round: AggregationRound.NodeAggregation, circuitId: c.leafCircuitId, depth: 0, seq: Math.floor(child.seq / nodeArity) };
      return groupLink(parent, child.seq, nodeArity, c.leafJobs);
    }
    case AggregationRound.NodeAggregation: {
      const c = circuitOfLeaf(plan, child.circuitId);
      if (child.depth === c.nodeLevels.length - 1) {
        return Object.freeze({
          parent: Object.freeze({ round: AggregationRound.RecursionTip, circuitId: RECURSION_TIP_CIRCUIT_ID, depth: 0, seq: 0 }),
          childIndex: plan.circuits.indexOf(c),
          expectedChildren: plan.circuits.length,
        });
      }
      const parent = { round: AggregationRound.NodeAggregation, circuitId: c.leafCircuitId, depth: child.depth + 1, seq: Math.floor(child.seq / nodeArity) };
      return groupLink(parent, child.seq, nodeArity, c.nodeLevels[child.depth]!);
    }
    case AggregationRound.RecursionTip:
      return Object.freeze({
        parent: Object.freeze({ round: AggregationRound.Scheduler, circuitId: SCHEDULER_CIRCUIT_ID, depth: 0, seq: 0 }),
        childIndex: 0,
        expectedChildren: 1,
      });
    case AggregationRound.Scheduler:
      return Object.freeze({
        parent: Object.freeze({ round: AggregationRound.Compression, circuitId: COMPRESSION_CIRCUIT_ID, depth: 0, seq: 0 }),
        childIndex: 0,
        expectedChildren: 1,
      });
    case AggregationRound.Compression:
      return null;
    default:
      throw new GeometryError(`job ${fmt(child)}: unknown round`);
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** The jobs whose proofs `parent` aggregates, in input order (childIndex order). Basic jobs have none. */
export function childrenOf(plan: AggregationPlan, parent: JobCoord): JobCoord[] {
  assertJobInPlan(plan, parent);
  const { leafArity, nodeArity } = plan.geometry;
  const slice = (round: AggregationRound, circuitId: number, depth: number, arity: number, size: number) =>
    range(parent.seq * arity, Math.min(size, (parent.seq + 1) * arity)).map((seq) => ({ round, circuitId, depth, seq }));
  switch (parent.round) {
    case AggregationRound.BasicCircuits:
      return [];
    case AggregationRound.LeafAggregation: {
      const c = circuitOfLeaf(plan, parent.circuitId);
      return slice(AggregationRound.BasicCircuits, basicIdForLeaf(c.leafCircuitId), 0, leafArity, c.basicJobs);
    }
    case AggregationRound.NodeAggregation: {
      const c = circuitOfLeaf(plan, parent.circuitId);
      if (parent.depth === 0) return slice(AggregationRound.LeafAggregation, c.leafCircuitId, 0, nodeArity, c.leafJobs);
      return slice(AggregationRound.NodeAggregation, c.leafCircuitId, parent.depth - 1, nodeArity, c.nodeLevels[parent.depth - 1]!);
    }
    case AggregationRound.RecursionTip:
      return plan.circuits.map((c) => ({
        round: AggregationRound.NodeAggregation,
        circuitId: c.leafCircuitId,
        depth: c.nodeLevels.length - 1,
        seq: 0,
      }));
    case AggregationRound.Scheduler:
      return [{ round: AggregationRound.RecursionTip, circuitId: RECURSION_TIP_CIRCUIT_ID, depth: 0, seq: 0 }];
    case AggregationRound.Compression:
      return [{ round: AggregationRound.Scheduler, circuitId: SCHEDULER_CIRCUIT_ID, depth: 0, seq: 0 }];
    default:
      throw new GeometryError(`job ${fmt(parent)}: unknown round`);
  }
}

/** How many children `job` waits for before it can run (0 for basic jobs). */
export function expectedChildren(plan: AggregationPlan, job: JobCoord): number {
  return childrenOf(plan, job).length;
}
