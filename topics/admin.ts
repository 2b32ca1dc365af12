// Topic administration through the kafkajs admin API: create every topic of a protocol version
// (each pair topic, its retry topic, the per-version topics, and the hand-off topics of the zones
// asked for), idempotently.

import { Admin, ITopicConfig, Kafka, KafkaJSError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { Logger, loggerFor } from '../lib/logger';
import { Pair, allPairs } from './catalog';
import { ProtocolVersion, parseTopic, topicsForVersion, topicsForZone, versionPrefix } from './naming';
import { PartitionConfig, defaultPartitionConfig, partitionsForTopic } from './partitions';

export interface EnsureTopicsOptions {
  /** Replication factor of created topics. Default 1 (a single local broker). */
  replicationFactor?: number;
  /** Default: topics/partitions.json. */
  partitions?: PartitionConfig;
  /** Pairs to create topics for. Default: allPairs(). The per-version topics are always created. */
  pairs?: readonly Pair[];
  /** Zones whose hand-off topics (and their retry topics) to create for those pairs. Default none. */
  zones?: readonly string[];
  /** Topic-level configs applied to topics this call creates (e.g. {"retention.ms": "604800000"}). */
  topicConfig?: Readonly<Record<string, string>>;
  /** Attempts per admin operation on transient errors. Default 5. */
  attempts?: number;
  /** First back-off between attempts; doubles up to 5 s. Default 250 ms. */
  retryDelayMs?: number;
  /** Broker-side timeout of one admin request. Default 30 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export interface PlannedTopic {
  readonly topic: string;
  readonly partitions: number;
}

export interface EnsureTopicsResult {
  /**
   * Topics that did not exist when the call started and exist now: created by this call (or,
   * when two callers ensure the same version at once, by the other one).
   */
  readonly created: string[];
  /** Existing topics that had fewer partitions than configured and now have the configured count. */
  readonly partitionsIncreased: Array<{ topic: string; from: number; to: number }>;
  /** Existing topics left as they were. */
  readonly unchanged: string[];
  /** Existing topics with MORE partitions than configured: Kafka cannot shrink them; left as they are. */
  readonly morePartitionsThanConfigured: Array<{ topic: string; actual: number; configured: number }>;
}

/** The topics ensureTopics manages for a version, with their configured partition counts. */
export function plannedTopics(
  version: ProtocolVersion,
  options: Pick<EnsureTopicsOptions, 'pairs' | 'partitions' | 'zones'> = {},
): PlannedTopic[] {
  const config = options.partitions ?? defaultPartitionConfig();
  const pairs = options.pairs ?? allPairs();
  const topics = [...topicsForVersion(version, pairs), ...(options.zones ?? []).flatMap((zone) => topicsForZone(version, pairs, zone))];
  return topics.map((topic) => ({
    topic,
    partitions: partitionsForTopic(config, topic),
  }));
}

/** Errors worth another attempt: broker unreachable, timeouts, leadership moves. */
export function isTransientKafkaError(e: unknown): boolean {
  if (e instanceof KafkaJSNumberOfRetriesExceeded) return true; // kafkajs gave up on a retriable error
  if (e instanceof KafkaJSError) {
    if (e.retriable) return true;
    return ['KafkaJSConnectionError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSTimeout'].includes(e.name);
  }
  const errors = (e as { errors?: unknown })?.errors;
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isTransientKafkaError);
  return false;
}

/**
 * Topics per CreateTopics request. One version's topics fit in one request; that matters: on a
 * local KRaft broker, topics of a second request sent right after the first one showed up in
 * the metadata only seconds later.
 */
const CREATE_BATCH = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function withRetry<T>(what: string, options: Required<Pick<EnsureTopicsOptions, 'attempts' | 'retryDelayMs'>> & { logger: Logger }, fn: () => Promise<T>): Promise<T> {
  let delay = options.retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= options.attempts || !isTransientKafkaError(e)) throw e;
      options.logger.warn({ err: e, attempt, what }, 'transient Kafka error, retrying');
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

async function partitionCounts(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (topics.length === 0) return out;
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  for (const t of metadata) out.set(t.name, t.partitions.length);
  return out;
}

function isUnknownTopicError(e: unknown): boolean {
  const type = (e as { type?: unknown })?.type;
  return type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
}

/**
 * Waits until every topic in `expected` is in the metadata with at least the given number of
 * partitions, each with a leader. Throws after `timeoutMs`.
 */
async function waitForTopics(admin: Admin, expected: ReadonlyMap<string, number>, timeoutMs: number): Promise<void> {
  if (expected.size === 0) return;
  const deadline = Date.now() + timeoutMs;
  let pending = [...expected.keys()];
  let lastError: unknown;
  while (pending.length > 0) {
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for topics ${pending.join(', ')}${why}`);
    }
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: pending });
      const ready = new Set(
        topics
          .filter((t) => t.partitions.length >= expected.get(t.name)! && t.partitions.every((p) => p.leader >= 0))
          .map((t) => t.name),
      );
      pending = pending.filter((t) => !ready.has(t));
    } catch (e) {
      if (!isUnknownTopicError(e) && !isTransientKafkaError(e)) throw e;
      lastError = e;
    }
    if (pending.length > 0) await sleep(100);
  }
}

/**
 * Creates every topic of `version`: for each pair its topic and retry topic, plus batches,
 * proofs-landed, aggregation-ready, final-proofs and dlt; with `zones`, also each zone's hand-off
 * topic and hand-off retry topic of every pair. Existing topics are fine; one with
 * fewer partitions than configured is extended with createPartitions. Transient errors are
 * retried. Returns what was created or changed.
 */
export async function ensureTopics(
  kafka: Kafka,
  version: ProtocolVersion,
  options: EnsureTopicsOptions = {},
): Promise<EnsureTopicsResult> {
  const replicationFactor = options.replicationFactor ?? 1;
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    throw new Error(`replicationFactor must be a positive integer, got ${replicationFactor}`);
  }
  const logger = options.logger ?? loggerFor('topics.admin', { version: `v${version.minor}.${version.patch}` });
  const retry = { attempts: options.attempts ?? 5, retryDelayMs: options.retryDelayMs ?? 250, logger };
  const timeout = options.requestTimeoutMs ?? 30_000;
  const configEntries = Object.entries(options.topicConfig ?? {}).map(([name, value]) => ({ name, value }));
  const planned = plannedTopics(version, options);
  const wanted = new Map(planned.map((p) => [p.topic, p.partitions]));

  const result: EnsureTopicsResult = { created: [], partitionsIncreased: [], unchanged: [], morePartitionsThanConfigured: [] };
  const started = Date.now();
  // kafkajs retries off: withRetry is the one retry policy, and metadata polls must not back off for seconds.
  const admin = kafka.admin({ retry: { retries: 0 } });
  await withRetry('connect', retry, () => admin.connect());
  try {
    const existing = new Set(await withRetry('listTopics', retry, () => admin.listTopics()));
    const missing = planned.filter((p) => !existing.has(p.topic));

    // Created in batches; leaders are awaited below for all of them at once (kafkajs's own
    // wait fails when a new topic is not yet in the broker's metadata, which is normal right
    // after creation under KRaft). createTopics answers false when some topic of the batch
    // already exists: a concurrent caller created it since listTopics; that is fine.
    const batches: PlannedTopic[][] = [];
    for (let i = 0; i < missing.length; i += CREATE_BATCH) batches.push(missing.slice(i, i + CREATE_BATCH));
    for (const batch of batches) {
      const topics = batch.map(({ topic, partitions }): ITopicConfig => {
        const config: ITopicConfig = { topic, numPartitions: partitions, replicationFactor };
        if (configEntries.length > 0) config.configEntries = configEntries;
        return config;
      });
      await withRetry('createTopics', retry, () => admin.createTopics({ topics, waitForLeaders: false, timeout }));
      result.created.push(...batch.map((p) => p.topic));
    }
    logger.debug({ created: result.created.length, ms: Date.now() - started }, 'topics created');
    await waitForTopics(admin, new Map(missing.map((p) => [p.topic, p.partitions])), timeout);
    logger.debug({ ms: Date.now() - started }, 'leaders ready');

    const createdNow = new Set(result.created);
    const toCheck = planned.map((p) => p.topic).filter((t) => !createdNow.has(t));
    const counts = await withRetry('fetchTopicMetadata', retry, () => partitionCounts(admin, toCheck));
    const grow: Array<{ topic: string; from: number; to: number }> = [];
    for (const topic of toCheck) {
      const actual = counts.get(topic);
      const configured = wanted.get(topic)!;
      if (actual === undefined) throw new Error(`topic ${topic} exists but has no metadata`);
      if (actual < configured) grow.push({ topic, from: actual, to: configured });
      else if (actual > configured) result.morePartitionsThanConfigured.push({ topic, actual, configured });
      else result.unchanged.push(topic);
    }

    if (grow.length > 0) {
      await withRetry('createPartitions', retry, async () => {
        // Re-read: an earlier attempt, or another process, may already have added them.
        const now = await partitionCounts(admin, grow.map((g) => g.topic));
        const pending = grow.filter((g) => (now.get(g.topic) ?? 0) < g.to);
        if (pending.length === 0) return;
        await admin.createPartitions({ topicPartitions: pending.map((g) => ({ topic: g.topic, count: g.to })), timeout });
      });
      logger.debug({ topics: grow.length, ms: Date.now() - started }, 'partitions added');
      await waitForTopics(admin, new Map(grow.map((g) => [g.topic, g.to])), timeout);
      logger.debug({ ms: Date.now() - started }, 'new partitions ready');
      result.partitionsIncreased.push(...grow);
    }

    result.created.sort();
    result.unchanged.sort();
    logger.info(
      {
        created: result.created.length,
        partitionsIncreased: result.partitionsIncreased.length,
        unchanged: result.unchanged.length,
        morePartitionsThanConfigured: result.morePartitionsThanConfigured.length,
      },
      'topics ensured',
    );
    return result;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Deletes every existing topic of `version` that the naming scheme produces (names that parse
 * and carry that version), and waits until the metadata no longer lists them. Returns the
 * deleted names, sorted. For tests and retiring an old version.
 */
export async function deleteVersionTopics(
  kafka: Kafka,
  version: ProtocolVersion,
  options: Pick<EnsureTopicsOptions, 'attempts' | 'retryDelayMs' | 'requestTimeoutMs' | 'logger'> = {},
): Promise<string[]> {
  const logger = options.logger ?? loggerFor('topics.admin', { version: `v${version.minor}.${version.patch}` });
  const retry = { attempts: options.attempts ?? 5, retryDelayMs: options.retryDelayMs ?? 250, logger };
  const timeout = options.requestTimeoutMs ?? 30_000;
  const prefix = versionPrefix(version);
  const ours = (t: string): boolean => {
    if (!t.startsWith(prefix)) return false;
    try {
      parseTopic(t);
      return true;
    } catch {
      return false;
    }
  };
  // kafkajs retries off: withRetry is the one retry policy.
  const admin = kafka.admin({ retry: { retries: 0 } });
  await withRetry('connect', retry, () => admin.connect());
  try {
    const topics = (await withRetry('listTopics', retry, () => admin.listTopics())).filter(ours);
    if (topics.length === 0) return [];
    await withRetry('deleteTopics', retry, async () => {
      // Re-read: an earlier attempt may have deleted some of them already.
      const left = new Set(await admin.listTopics());
      const pending = topics.filter((t) => left.has(t));
      if (pending.length > 0) await admin.deleteTopics({ topics: pending, timeout });
    });
    const deadline = Date.now() + timeout;
    for (;;) {
      const listed = new Set(await withRetry('listTopics', retry, () => admin.listTopics()));
      const still = topics.filter((t) => listed.has(t));
      if (still.length === 0) break;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for the deletion of ${still.join(', ')}`);
      await sleep(100);
    }
    return topics.sort();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
