// Prover groups: which pairs the workers of a group consume. Machines are split into groups by
// load; a worker started with group id G consumes the pair topics of G's pairs only. An
// unknown group id means every pair.
//
// File format (topics/prover-groups.json):
//   { "batchWitnessGenerationGroup": 0,
//     "groups": [ { "id": 0, "pairs": ["(1,4)", "(2,2)", "(255,3)", "(1,5)"] }, ... ] }
// Pairs are written "(circuit_id,round)". "(2,2)" stands for every node pair (round 2, one per
// leaf circuit id); node pairs may also be listed one by one. Every pair of the catalog must
// appear in exactly one group. batchWitnessGenerationGroup names the group whose workers also
// consume the per-version batches topic (basic witness generation).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AggregationRound, Pair, allPairs, isKnownPair, pairKey, parsePairKey } from './catalog';

/** Stands for every node pair in a group's list. */
export const ALL_NODE_PAIRS_KEY = '(2,2)';

export const DEFAULT_PROVER_GROUPS_FILE = join(__dirname, 'prover-groups.json');
export const PROVER_GROUPS_FILE_ENV = 'ZKP_PROVER_GROUPS_FILE';

export interface ProverGroup {
  readonly id: number;
  /** Expanded: "(2,2)" is replaced by the node pairs, in catalog order. */
  readonly pairs: readonly Pair[];
}

export interface ProverGroupConfig {
  /** Ordered by id. */
  readonly groups: readonly ProverGroup[];
  /** The group whose workers also run basic witness generation from the batches topic. */
  readonly batchWitnessGenerationGroup: number;
}

export class ProverGroupsError extends Error {
  override readonly name = 'ProverGroupsError';
}

function isGroupId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/**
 * Checks a parsed prover-group file. All problems are collected and reported in one error:
 * malformed or unknown pairs, pairs in more than one group (or twice in one), catalog pairs in
 * no group, bad or repeated group ids, and a batch group that is not a listed group.
 */
export function validateProverGroups(raw: unknown, catalog: readonly Pair[] = allPairs()): ProverGroupConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProverGroupsError('prover groups: expected an object with "groups" and "batchWitnessGenerationGroup"');
  }
  const record = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(record)) {
    if (key !== 'groups' && key !== 'batchWitnessGenerationGroup') problems.push(`unknown key "${key}"`);
  }
  if (!Array.isArray(record.groups)) {
    throw new ProverGroupsError('prover groups: "groups" must be an array of {id, pairs}');
  }
  const nodePairs = catalog.filter((p) => p.round === AggregationRound.NodeAggregation);
  const catalogKeys = new Set(catalog.map(pairKey));
  const owner = new Map<string, number[]>(); // pair key -> group ids (with repeats)
  const groups: ProverGroup[] = [];
  const ids = new Set<number>();

  record.groups.forEach((g: unknown, index: number) => {
    if (typeof g !== 'object' || g === null || Array.isArray(g)) {
      problems.push(`groups[${index}] must be an object {id, pairs}`);
      return;
    }
    const { id, pairs, ...extra } = g as Record<string, unknown>;
    for (const key of Object.keys(extra)) problems.push(`groups[${index}]: unknown key "${key}"`);
    if (!isGroupId(id)) {
      problems.push(`groups[${index}]: id must be a non-negative integer, got ${JSON.stringify(id)}`);
      return;
    }
    if (ids.has(id)) problems.push(`group ${id} is defined more than once`);
    ids.add(id);
    if (!Array.isArray(pairs)) {
      problems.push(`group ${id}: pairs must be an array of "(circuit_id,round)" strings`);
      return;
    }
    const expanded: Pair[] = [];
    for (const entry of pairs) {
      if (typeof entry !== 'string') {
        problems.push(`group ${id}: pair ${JSON.stringify(entry)} is not a string`);
        continue;
      }
      let members: Pair[];
      if (entry === ALL_NODE_PAIRS_KEY) {
        members = nodePairs;
      } else {
        let pair: Pair;
        try {
          pair = parsePairKey(entry);
        } catch (e) {
          problems.push(`group ${id}: ${(e as Error).message}`);
          continue;
        }
        if (!isKnownPair(pair) || !catalogKeys.has(pairKey(pair))) {
          problems.push(`group ${id}: unknown pair ${entry}`);
          continue;
        }
        members = [pair];
      }
      for (const pair of members) {
        const key = pairKey(pair);
        owner.set(key, [...(owner.get(key) ?? []), id]);
        expanded.push(pair);
      }
    }
    groups.push({ id, pairs: expanded });
  });

  for (const [key, owners] of owner) {
    if (owners.length > 1) {
      const where = [...new Set(owners)];
      problems.push(
        where.length > 1
          ? `pair ${key} is in more than one group: ${where.join(', ')}`
          : `pair ${key} is listed more than once in group ${where[0]}`,
      );
    }
  }
  const missing = catalog.map(pairKey).filter((k) => !owner.has(k));
  if (missing.length > 0) problems.push(`pairs in no group: ${missing.join(' ')}`);

  const batchGroup = record.batchWitnessGenerationGroup;
  if (!isGroupId(batchGroup)) {
    problems.push(`batchWitnessGenerationGroup must be a non-negative integer, got ${JSON.stringify(batchGroup)}`);
  } else if (!ids.has(batchGroup)) {
    problems.push(`batchWitnessGenerationGroup ${batchGroup} is not a defined group`);
  }

  if (problems.length > 0) throw new ProverGroupsError(`invalid prover groups:\n  ${problems.join('\n  ')}`);
  groups.sort((a, b) => a.id - b.id);
  return Object.freeze({
    groups: Object.freeze(groups.map((g) => Object.freeze({ id: g.id, pairs: Object.freeze(g.pairs) }))),
    batchWitnessGenerationGroup: batchGroup as number,
  });
}

export interface LoadProverGroupsOptions {
  /** Default: $ZKP_PROVER_GROUPS_FILE, else topics/prover-groups.json. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadProverGroups(options: LoadProverGroupsOptions = {}): ProverGroupConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env[PROVER_GROUPS_FILE_ENV] || DEFAULT_PROVER_GROUPS_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ProverGroupsError(`cannot read prover groups file ${file}: ${(e as Error).message}`);
  }
  try {
    return validateProverGroups(parsed);
  } catch (e) {
    throw new ProverGroupsError(`${file}: ${(e as Error).message}`);
  }
}

let defaultConfig: ProverGroupConfig | undefined;

/** The groups in force: $ZKP_PROVER_GROUPS_FILE, else topics/prover-groups.json; loaded and validated once. */
export function defaultProverGroups(): ProverGroupConfig {
  defaultConfig ??= loadProverGroups();
  return defaultConfig;
}

export function isKnownGroup(groupId: number, config: ProverGroupConfig = defaultProverGroups()): boolean {
  return config.groups.some((g) => g.id === groupId);
}

/** The pairs group `groupId` works on; an unknown group id means all pairs. */
export function pairsForGroup(groupId: number, config: ProverGroupConfig = defaultProverGroups()): Pair[] {
  const group = config.groups.find((g) => g.id === groupId);
  return group === undefined ? allPairs() : group.pairs.map((p) => ({ ...p }));
}

/** The group a pair belongs to. */
export function groupOfPair(pair: Pair, config: ProverGroupConfig = defaultProverGroups()): number {
  const group = config.groups.find((g) => g.pairs.some((p) => p.round === pair.round && p.circuitId === pair.circuitId));
  if (group === undefined) throw new ProverGroupsError(`pair ${pairKey(pair)} is in no prover group`);
  return group.id;
}

/** Whether workers of `groupId` also run basic witness generation; true for an unknown group id. */
export function runsBatchWitnessGeneration(groupId: number, config: ProverGroupConfig = defaultProverGroups()): boolean {
  return groupId === config.batchWitnessGenerationGroup || !isKnownGroup(groupId, config);
}
