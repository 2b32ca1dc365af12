// The (aggregation_round, circuit_id) catalog: every kind of job the pipeline runs.
//
// A pair names one kind of job. Round 0 jobs prove one basic circuit instance; round 1 (leaf)
// jobs aggregate basic proofs of one circuit type; round 2 (node) jobs aggregate leaf or node
// proofs of one circuit type until one proof per type remains; round 3 (recursion tip)
// aggregates the final node proof of every type present; round 4 (scheduler) verifies the tip;
// round 5 (compression) turns the scheduler proof into the final proof the core accepts.
//
// Node jobs: the prover runs one universal node circuit (id 2, NODE_CIRCUIT_ID) for all node
// jobs, but each node job carries the LEAF circuit id of the subtree it aggregates. The catalog
// therefore has one node pair per leaf circuit id: (round 2, circuit_id = leaf id). This keeps
// the subtrees of different circuit types on different topics and counters, while the
// verification key used is always the node circuit's.

export enum AggregationRound {
  BasicCircuits = 0,
  LeafAggregation = 1,
  NodeAggregation = 2,
  RecursionTip = 3,
  Scheduler = 4,
  Compression = 5,
}

export const ALL_ROUNDS: readonly AggregationRound[] = [
  AggregationRound.BasicCircuits,
  AggregationRound.LeafAggregation,
  AggregationRound.NodeAggregation,
  AggregationRound.RecursionTip,
  AggregationRound.Scheduler,
  AggregationRound.Compression,
];

export function roundName(round: AggregationRound): string {
  const name = AggregationRound[round];
  if (name === undefined) throw new Error(`unknown aggregation round ${String(round)}`);
  return name;
}

export function isAggregationRound(value: unknown): value is AggregationRound {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 5;
}

/** One kind of job: an aggregation round and a circuit id within it. */
export interface Pair {
  readonly round: AggregationRound;
  readonly circuitId: number;
}

export interface BasicCircuit {
  readonly id: number;
  readonly name: string;
  /** Needs more memory and time than the others; schedule on bigger machines. */
  readonly heavy: boolean;
}

const HEAVY_BASIC_IDS: ReadonlySet<number> = new Set([2, 4, 8, 9, 10, 11, 12]);

const BASIC_NAMES: ReadonlyArray<readonly [number, string]> = [
  [1, 'MainVM'],
  [2, 'CodeDecommittmentsSorter'],
  [3, 'CodeDecommitter'],
  [4, 'LogDemuxer'],
  [5, 'KeccakRoundFunction'],
  [6, 'Sha256RoundFunction'],
  [7, 'ECRecover'],
  [8, 'RAMPermutation'],
  [9, 'StorageSorter'],
  [10, 'StorageApplication'],
  [11, 'EventsSorter'],
  [12, 'L1MessagesSorter'],
  [13, 'L1MessagesHasher'],
  [14, 'TransientStorageSorter'],
  [15, 'Secp256r1Verify'],
  [16, 'Modexp'],
  [17, 'ECAdd'],
  [18, 'ECMul'],
  [19, 'ECPairing'],
  [255, 'EIP4844Repack'],
];

/** Basic circuits (round 0), ordered by id. */
export const BASIC_CIRCUITS: readonly BasicCircuit[] = Object.freeze(
  BASIC_NAMES.map(([id, name]) => Object.freeze({ id, name, heavy: HEAVY_BASIC_IDS.has(id) })),
);

const BASIC_BY_ID: ReadonlyMap<number, BasicCircuit> = new Map(BASIC_CIRCUITS.map((c) => [c.id, c]));

/** The universal node circuit; node jobs carry their leaf id instead (see the header). */
export const NODE_CIRCUIT_ID = 2;
export const RECURSION_TIP_CIRCUIT_ID = 255;
export const SCHEDULER_CIRCUIT_ID = 1;
export const COMPRESSION_CIRCUIT_ID = 1;

export const RECURSION_TIP_PAIR: Pair = Object.freeze({
  round: AggregationRound.RecursionTip,
  circuitId: RECURSION_TIP_CIRCUIT_ID,
});
export const SCHEDULER_PAIR: Pair = Object.freeze({
  round: AggregationRound.Scheduler,
  circuitId: SCHEDULER_CIRCUIT_ID,
});
export const COMPRESSION_PAIR: Pair = Object.freeze({
  round: AggregationRound.Compression,
  circuitId: COMPRESSION_CIRCUIT_ID,
});

export function basicCircuitIds(): number[] {
  return BASIC_CIRCUITS.map((c) => c.id);
}

export function isBasicCircuitId(id: number): boolean {
  return BASIC_BY_ID.has(id);
}

export function basicCircuit(id: number): BasicCircuit {
  const c = BASIC_BY_ID.get(id);
  if (c === undefined) throw new Error(`unknown basic circuit id ${id}`);
  return c;
}

export function basicCircuitName(id: number): string {
  return basicCircuit(id).name;
}

export function isHeavy(basicId: number): boolean {
  return basicCircuit(basicId).heavy;
}

// Leaf ids: basic 1..15 -> leaf basic+2 (3..17); basic 255 -> leaf 18; basic 16..19 -> leaf 19..22.
const LEAF_BY_BASIC: ReadonlyMap<number, number> = new Map(
  BASIC_CIRCUITS.map((c): [number, number] => {
    if (c.id >= 1 && c.id <= 15) return [c.id, c.id + 2];
    if (c.id === 255) return [c.id, 18];
    if (c.id >= 16 && c.id <= 19) return [c.id, c.id + 3];
    throw new Error(`basic circuit ${c.id} has no leaf id rule`);
  }),
);
const BASIC_BY_LEAF: ReadonlyMap<number, number> = new Map(
  [...LEAF_BY_BASIC].map(([basic, leaf]): [number, number] => [leaf, basic]),
);
if (BASIC_BY_LEAF.size !== LEAF_BY_BASIC.size) throw new Error('leaf id mapping is not one-to-one');

/** The leaf (round 1) circuit id aggregating basic circuit `basicId`. */
export function leafIdForBasic(basicId: number): number {
  const leaf = LEAF_BY_BASIC.get(basicId);
  if (leaf === undefined) throw new Error(`unknown basic circuit id ${basicId}: no leaf circuit`);
  return leaf;
}

/** The basic circuit id whose proofs leaf circuit `leafId` aggregates. */
export function basicIdForLeaf(leafId: number): number {
  const basic = BASIC_BY_LEAF.get(leafId);
  if (basic === undefined) throw new Error(`unknown leaf circuit id ${leafId}`);
  return basic;
}

export function isLeafCircuitId(id: number): boolean {
  return BASIC_BY_LEAF.has(id);
}

/** Leaf circuit ids, ascending. */
export function leafCircuitIds(): number[] {
  return [...BASIC_BY_LEAF.keys()].sort((a, b) => a - b);
}

/**
 * Every pair, in a stable order: round 0 by basic id, round 1 and round 2 by leaf id, then
 * tip, scheduler, compression.
 */
export function allPairs(): Pair[] {
  const pairs: Pair[] = [];
  for (const id of basicCircuitIds()) pairs.push({ round: AggregationRound.BasicCircuits, circuitId: id });
  for (const id of leafCircuitIds()) pairs.push({ round: AggregationRound.LeafAggregation, circuitId: id });
  for (const id of leafCircuitIds()) pairs.push({ round: AggregationRound.NodeAggregation, circuitId: id });
  pairs.push({ ...RECURSION_TIP_PAIR }, { ...SCHEDULER_PAIR }, { ...COMPRESSION_PAIR });
  return pairs;
}

export function pairsOfRound(round: AggregationRound): Pair[] {
  return allPairs().filter((p) => p.round === round);
}

export function isKnownPair(pair: Pair): boolean {
  switch (pair.round) {
    case AggregationRound.BasicCircuits:
      return isBasicCircuitId(pair.circuitId);
    case AggregationRound.LeafAggregation:
    case AggregationRound.NodeAggregation:
      return isLeafCircuitId(pair.circuitId);
    case AggregationRound.RecursionTip:
      return pair.circuitId === RECURSION_TIP_CIRCUIT_ID;
    case AggregationRound.Scheduler:
      return pair.circuitId === SCHEDULER_CIRCUIT_ID;
    case AggregationRound.Compression:
      return pair.circuitId === COMPRESSION_CIRCUIT_ID;
    default:
      return false;
  }
}

export function assertKnownPair(pair: Pair): void {
  if (!isKnownPair(pair)) throw new Error(`unknown pair ${pairKey(pair)}`);
}

export function pairEquals(a: Pair, b: Pair): boolean {
  return a.round === b.round && a.circuitId === b.circuitId;
}

/** Stable string form, "(circuit_id,round)", as in the prover-group table. */
export function pairKey(pair: Pair): string {
  return `(${pair.circuitId},${pair.round})`;
}

const PAIR_KEY_RE = /^\((0|[1-9][0-9]*),(0|[1-9][0-9]*)\)$/;

/**
 * Parses "(circuit_id,round)" (no spaces). Only the syntax is checked; use isKnownPair for
 * membership in the catalog.
 */
export function parsePairKey(key: string): Pair {
  const m = PAIR_KEY_RE.exec(key);
  if (m === null) throw new Error(`malformed pair "${key}": expected "(circuit_id,round)"`);
  const circuitId = Number(m[1]);
  const round = Number(m[2]);
  if (!isAggregationRound(round)) throw new Error(`pair "${key}": unknown aggregation round ${round}`);
  return { round, circuitId };
}

/** A human-readable label, e.g. "NodeAggregation/leaf 3 (MainVM)". */
export function describePair(pair: Pair): string {
  switch (pair.round) {
    case AggregationRound.BasicCircuits:
      return `BasicCircuits/${basicCircuitName(pair.circuitId)}`;
    case AggregationRound.LeafAggregation:
    case AggregationRound.NodeAggregation:
      return `${roundName(pair.round)}/leaf ${pair.circuitId} (${basicCircuitName(basicIdForLeaf(pair.circuitId))})`;
    default:
      return roundName(pair.round);
  }
}
