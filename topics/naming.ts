// Topic and consumer-group names. Every name carries the protocol version, so provers of two
// versions run side by side during an upgrade without seeing each other's jobs.
//
//   zkp.v{minor}.{patch}.r{round}.c{circuit_id}          pair topic (one per catalog pair)
//   zkp.v{minor}.{patch}.r{round}.c{circuit_id}.retry    its retry topic
//   zkp.v{minor}.{patch}.batches                         batch jobs from the gateway
//   zkp.v{minor}.{patch}.proofs-landed                   events: a proof was stored
//   zkp.v{minor}.{patch}.aggregation-ready               events: a parent job's inputs are complete
//   zkp.v{minor}.{patch}.final-proofs                    compressed proofs for the gateway
//   zkp.v{minor}.{patch}.dlt                             dead letters
//   zkp.v{minor}.{patch}.r{round}.c{circuit_id}.zone-{zone}         hand-off topic: witness vectors of one zone
//   zkp.v{minor}.{patch}.r{round}.c{circuit_id}.zone-{zone}.retry   its retry topic
//   <topic>.workers                                      the consumer group of a topic
//
// Only '.', '-' and [a-z0-9] are used: Kafka maps '.' and '_' to the same metric name, so a
// scheme mixing them could produce two topics with colliding metrics (see docs/topics.md).

import { Pair, assertKnownPair, isKnownPair, pairKey, isAggregationRound } from './catalog';

export interface ProtocolVersion {
  readonly minor: number;
  readonly patch: number;
}

export const TOPIC_PREFIX = 'zkp';
export const CONSUMER_GROUP_SUFFIX = '.workers';

/** Per-version topics that are not tied to a pair. */
export const VERSION_TOPIC_KINDS = ['batches', 'proofs-landed', 'aggregation-ready', 'final-proofs', 'dlt'] as const;
export type VersionTopicKind = (typeof VERSION_TOPIC_KINDS)[number];
export type HandOffTopicKind = 'handoff' | 'handoff-retry';
export type TopicKind = 'pair' | 'retry' | HandOffTopicKind | VersionTopicKind;

export type ParsedTopic =
  | { readonly version: ProtocolVersion; readonly kind: 'pair' | 'retry'; readonly pair: Pair }
  | { readonly version: ProtocolVersion; readonly kind: HandOffTopicKind; readonly pair: Pair; readonly zone: string }
  | { readonly version: ProtocolVersion; readonly kind: VersionTopicKind };

export class TopicNameError extends Error {
  override readonly name = 'TopicNameError';
}

const MAX_VERSION_PART = 2 ** 31 - 1;

export function assertProtocolVersion(version: ProtocolVersion): void {
  for (const part of ['minor', 'patch'] as const) {
    const v = version[part];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_VERSION_PART) {
      throw new TopicNameError(`protocol version ${part} must be a non-negative integer, got ${String(v)}`);
    }
  }
}

/** "v{minor}.{patch}" */
export function versionString(version: ProtocolVersion): string {
  assertProtocolVersion(version);
  return `v${version.minor}.${version.patch}`;
}

/** Every topic of a version starts with this, e.g. "zkp.v24.0.". */
export function versionPrefix(version: ProtocolVersion): string {
  return `${TOPIC_PREFIX}.${versionString(version)}.`;
}

/** zkp.v{minor}.{patch}.r{round}.c{circuit_id}; the pair must be in the catalog. */
export function pairTopic(version: ProtocolVersion, pair: Pair): string {
  assertKnownPair(pair);
  return `${versionPrefix(version)}r${pair.round}.c${pair.circuitId}`;
}

export function retryTopic(version: ProtocolVersion, pair: Pair): string {
  return `${pairTopic(version, pair)}.retry`;
}

/**
 * A zone name: lowercase letters, digits and '-', starting and ending with a letter or digit, at
 * most 32 characters (e.g. "a", "eu-west1-b"). No '.', so it cannot be mistaken for a separator
 * of the topic name, and no '_' (see the note on metric names above).
 */
const ZONE_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export function isValidZone(zone: string): boolean {
  return typeof zone === 'string' && ZONE_RE.test(zone);
}

export function assertZone(zone: string): void {
  if (!isValidZone(zone)) {
    throw new TopicNameError(`invalid zone "${String(zone)}": use 1-32 of [a-z0-9-], starting and ending with a letter or digit`);
  }
}

/** The hand-off topic of a pair in one zone: "<pair topic>.zone-{zone}"; witness vectors made in the zone for its provers. */
export function handOffTopic(version: ProtocolVersion, pair: Pair, zone: string): string {
  assertZone(zone);
  return `${pairTopic(version, pair)}.zone-${zone}`;
}

export function handOffRetryTopic(version: ProtocolVersion, pair: Pair, zone: string): string {
  return `${handOffTopic(version, pair, zone)}.retry`;
}

export function versionTopic(version: ProtocolVersion, kind: VersionTopicKind): string {
  if (!(VERSION_TOPIC_KINDS as readonly string[]).includes(kind)) throw new TopicNameError(`unknown topic kind "${kind}"`);
  return `${versionPrefix(version)}${kind}`;
}

export const batchesTopic = (v: ProtocolVersion): string => versionTopic(v, 'batches');
export const proofsLandedTopic = (v: ProtocolVersion): string => versionTopic(v, 'proofs-landed');
export const aggregationReadyTopic = (v: ProtocolVersion): string => versionTopic(v, 'aggregation-ready');
export const finalProofsTopic = (v: ProtocolVersion): string => versionTopic(v, 'final-proofs');
export const dltTopic = (v: ProtocolVersion): string => versionTopic(v, 'dlt');

/** The consumer group that consumes `topic`: "<topic>.workers". */
export function consumerGroup(topic: string): string {
  parseTopic(topic);
  return `${topic}${CONSUMER_GROUP_SUFFIX}`;
}

const NUM = '(0|[1-9][0-9]*)';
const VERSIONED_RE = new RegExp(`^${TOPIC_PREFIX}\\.v${NUM}\\.${NUM}\\.(.+)$`);
const PAIR_RE = new RegExp(`^r${NUM}\\.c${NUM}(?:\\.zone-([a-z0-9-]+))?(\\.retry)?$`);

/**
 * Parses a topic name back into its version, kind and (for pair and retry topics) pair.
 * Throws TopicNameError naming the topic when it is not one this scheme produces (including a
 * well-formed pair topic whose pair is not in the catalog).
 */
export function parseTopic(name: string): ParsedTopic {
  const m = VERSIONED_RE.exec(name);
  if (m === null) {
    throw new TopicNameError(`unknown topic "${name}": expected "${TOPIC_PREFIX}.v{minor}.{patch}.<kind>"`);
  }
  const version: ProtocolVersion = { minor: Number(m[1]), patch: Number(m[2]) };
  if (version.minor > MAX_VERSION_PART || version.patch > MAX_VERSION_PART) {
    throw new TopicNameError(`unknown topic "${name}": version out of range`);
  }
  const rest = m[3]!;
  if ((VERSION_TOPIC_KINDS as readonly string[]).includes(rest)) {
    return { version, kind: rest as VersionTopicKind };
  }
  const p = PAIR_RE.exec(rest);
  if (p === null) {
    throw new TopicNameError(
      `unknown topic "${name}": "${rest}" is neither a pair (r{round}.c{circuit_id}[.zone-{zone}][.retry]) nor one of ${VERSION_TOPIC_KINDS.join(', ')}`,
    );
  }
  const round = Number(p[1]);
  const circuitId = Number(p[2]);
  if (!isAggregationRound(round) || !isKnownPair({ round, circuitId })) {
    throw new TopicNameError(`unknown topic "${name}": pair ${pairKey({ round: round as Pair['round'], circuitId })} is not in the catalog`);
  }
  const zone = p[3];
  const retry = p[4] !== undefined;
  if (zone === undefined) return { version, kind: retry ? 'retry' : 'pair', pair: { round, circuitId } };
  if (!isValidZone(zone)) throw new TopicNameError(`unknown topic "${name}": invalid zone "${zone}"`);
  return { version, kind: retry ? 'handoff-retry' : 'handoff', pair: { round, circuitId }, zone };
}

/** Parses a consumer group name "<topic>.workers" back into its topic. */
export function parseConsumerGroup(group: string): ParsedTopic & { readonly topic: string } {
  if (!group.endsWith(CONSUMER_GROUP_SUFFIX)) {
    throw new TopicNameError(`unknown consumer group "${group}": expected "<topic>${CONSUMER_GROUP_SUFFIX}"`);
  }
  const topic = group.slice(0, -CONSUMER_GROUP_SUFFIX.length);
  return { ...parseTopic(topic), topic };
}

/** All topic names of a version: for each pair its topic and retry topic, then the version topics. */
export function topicsForVersion(version: ProtocolVersion, pairs: readonly Pair[]): string[] {
  const out: string[] = [];
  for (const pair of pairs) out.push(pairTopic(version, pair), retryTopic(version, pair));
  for (const kind of VERSION_TOPIC_KINDS) out.push(versionTopic(version, kind));
  return out;
}

/** The hand-off topics of one zone: for each pair its hand-off topic and that topic's retry topic. */
export function topicsForZone(version: ProtocolVersion, pairs: readonly Pair[], zone: string): string[] {
  assertZone(zone);
  return pairs.flatMap((pair) => [handOffTopic(version, pair, zone), handOffRetryTopic(version, pair, zone)]);
}
