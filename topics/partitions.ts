// Partition counts per topic (topics/partitions.json):
//   byRound        pair topics, by aggregation round ("0".."5"; every round required)
//   pairOverrides  pair topics, per pair "(circuit_id,round)"; wins over byRound
//   dlt            the dead-letter topic
//   batches        the batches topic
//   events         proofs-landed, aggregation-ready, final-proofs
// A retry topic has as many partitions as its pair topic.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_ROUNDS, AggregationRound, Pair, isKnownPair, pairKey, parsePairKey } from './catalog';
import { ParsedTopic, parseTopic } from './naming';

export interface PartitionConfig {
  /** Index = AggregationRound. */
  readonly byRound: readonly number[];
  /** Key: pairKey(pair). */
  readonly pairOverrides: ReadonlyMap<string, number>;
  readonly dlt: number;
  readonly batches: number;
  readonly events: number;
}

export const DEFAULT_PARTITIONS_FILE = join(__dirname, 'partitions.json');
export const PARTITIONS_FILE_ENV = 'ZKP_PARTITIONS_FILE';
export const MAX_PARTITIONS = 10_000;

export class PartitionConfigError extends Error {
  override readonly name = 'PartitionConfigError';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkCount(what: string, v: unknown, problems: string[]): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_PARTITIONS) {
    problems.push(`${what} must be an integer between 1 and ${MAX_PARTITIONS}, got ${JSON.stringify(v)}`);
    return 1;
  }
  return v;
}

/** Checks a parsed partitions file; every problem is reported in one error. */
export function validatePartitionConfig(raw: unknown): PartitionConfig {
  if (!isObject(raw)) throw new PartitionConfigError('partitions: expected an object');
  const problems: string[] = [];
  const known = ['byRound', 'pairOverrides', 'dlt', 'batches', 'events'];
  for (const key of Object.keys(raw)) if (!known.includes(key)) problems.push(`unknown key "${key}"`);

  const byRound: number[] = [];
  if (!isObject(raw.byRound)) {
    problems.push('byRound must be an object {"0": n, ..., "5": n}');
  } else {
    for (const key of Object.keys(raw.byRound)) {
      if (!ALL_ROUNDS.map(String).includes(key)) problems.push(`byRound: unknown round "${key}"`);
    }
    for (const round of ALL_ROUNDS) {
      if (raw.byRound[String(round)] === undefined) problems.push(`byRound: round ${round} missing`);
      else byRound[round] = checkCount(`byRound["${round}"]`, raw.byRound[String(round)], problems);
    }
  }

  const pairOverrides = new Map<string, number>();
  if (raw.pairOverrides !== undefined) {
    if (!isObject(raw.pairOverrides)) {
      problems.push('pairOverrides must be an object {"(circuit_id,round)": n}');
    } else {
      for (const [key, value] of Object.entries(raw.pairOverrides)) {
        let pair: Pair;
        try {
          pair = parsePairKey(key);
        } catch (e) {
          problems.push(`pairOverrides: ${(e as Error).message}`);
          continue;
        }
        if (!isKnownPair(pair)) {
          problems.push(`pairOverrides: unknown pair ${key}`);
          continue;
        }
        pairOverrides.set(pairKey(pair), checkCount(`pairOverrides["${key}"]`, value, problems));
      }
    }
  }

  const dlt = checkCount('dlt', raw.dlt, problems);
  const batches = checkCount('batches', raw.batches, problems);
  const events = checkCount('events', raw.events, problems);
  if (problems.length > 0) throw new PartitionConfigError(`invalid partitions config:\n  ${problems.join('\n  ')}`);
  return Object.freeze({ byRound: Object.freeze(byRound), pairOverrides, dlt, batches, events });
}

export interface LoadPartitionConfigOptions {
  /** Default: $ZKP_PARTITIONS_FILE, else topics/partitions.json. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadPartitionConfig(options: LoadPartitionConfigOptions = {}): PartitionConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env[PARTITIONS_FILE_ENV] || DEFAULT_PARTITIONS_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PartitionConfigError(`cannot read partitions file ${file}: ${(e as Error).message}`);
  }
  try {
    return validatePartitionConfig(parsed);
  } catch (e) {
    throw new PartitionConfigError(`${file}: ${(e as Error).message}`);
  }
}

let defaultConfig: PartitionConfig | undefined;

/** The partitions in force: $ZKP_PARTITIONS_FILE, else topics/partitions.json; loaded and validated once. */
export function defaultPartitionConfig(): PartitionConfig {
  defaultConfig ??= loadPartitionConfig();
  return defaultConfig;
}

/** A copy of `config` with some values replaced (pair overrides are merged). */
export function withPartitionOverrides(
  config: PartitionConfig,
  changes: { byRound?: Partial<Record<AggregationRound, number>>; pairs?: ReadonlyArray<readonly [Pair, number]>; dlt?: number; batches?: number; events?: number },
): PartitionConfig {
  const byRound: Record<string, number> = {};
  for (const round of ALL_ROUNDS) byRound[String(round)] = changes.byRound?.[round] ?? config.byRound[round]!;
  const pairOverrides: Record<string, number> = Object.fromEntries(config.pairOverrides);
  for (const [pair, n] of changes.pairs ?? []) pairOverrides[pairKey(pair)] = n;
  return validatePartitionConfig({
    byRound,
    pairOverrides,
    dlt: changes.dlt ?? config.dlt,
    batches: changes.batches ?? config.batches,
    events: changes.events ?? config.events,
  });
}

export function partitionsForPair(config: PartitionConfig, pair: Pair): number {
  return config.pairOverrides.get(pairKey(pair)) ?? config.byRound[pair.round]!;
}

/** Partitions for a topic of the naming scheme (a name or its parsed form). */
export function partitionsForTopic(config: PartitionConfig, topic: string | ParsedTopic): number {
  const parsed = typeof topic === 'string' ? parseTopic(topic) : topic;
  switch (parsed.kind) {
    case 'pair':
    case 'retry':
    case 'handoff':
    case 'handoff-retry':
      return partitionsForPair(config, parsed.pair);
    case 'dlt':
      return config.dlt;
    case 'batches':
      return config.batches;
    case 'proofs-landed':
    case 'aggregation-ready':
    case 'final-proofs':
      return config.events;
  }
}
