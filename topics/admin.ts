// Topic administration through the kafkajs admin API: create every topic of a protocol version
// (each pair topic, its retry topic, the per-version topics), idempotently.

import { Admin, ITopicConfig, Kafka, KafkaJSError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { Logger, loggerFor } from '../lib/logger';
import { Pair, allPairs } from './catalog';
import { ProtocolVersion, parseTopic, topicsForVersion, versionPrefix } from './naming';
import { PartitionConfig, defaultPartitionConfig, partitionsForTopic } from './partitions';

export interface EnsureTopicsOptions {
  /** Replication factor of created topics. Default 1 (a single local broker). */
  replicationFactor?: number;
  /** Default: topics/partitions.json. */
  partitions?: PartitionConfig;
  /** Pairs to create topics for. Default: allPairs(). The per-version topics are always created. */
  pairs?: readonly Pair[];
  /** Topic-level configs applied to topics this call creates (e.g. {"retention.ms": "604800000"}). */
  topicConfig?: Readonly<Record<string, string>>;
  /** Attempts per admin operation on transient errors. Default 5. */
  attempts?: number;
  /** First back-off between attempts; doubles up to 5 s. Default 250 ms. */
  retryDelayMs?: number;
  /** Broker-side timeout of one admin request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Topics created at the same time. Default 8. */
  concurrency?: number;
  logger?: Logger;
}

export interface PlannedTopic {
  readonly topic: string;
  readonly partitions: number;
}

export interface EnsureTopicsResult {
  /** Topics this call created. */
  readonly created: string[];
  /** Existing topics that had fewer partitions than configured and were extended. */
  readonly partitionsIncreased: Array<{ topic: string; from: number; to: number }>;
  /** Existing topics left as they were. */
  readonly unchanged: string[];
  /** Existing topics with MORE partitions than configured: Kafka cannot shrink them; left as they are. */
  readonly morePartitionsThanConfigured: Array<{ topic: string; actual: number; configured: number }>;
}

/** The topics ensureTopics manages for a version, with their configured partition counts. */
export function plannedTopics(
  version: ProtocolVersion,
  options: Pick<EnsureTopicsOptions, 'pairs' | 'partitions'> = {},
): PlannedTopic[] {
  const config = options.partitions ?? defaultPartitionConfig();
  return topicsForVersion(version, options.pairs ?? allPairs()).map((topic) => ({
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

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

async function partitionCounts(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (topics.length === 0) return out;
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  for (const t of metadata) out.set(t.name, t.partitions.length);
  return out;
}

/**
 * Creates every topic of `version`: for each pair its topic and retry topic, plus batches,
 * proofs-landed, aggregation-ready, final-proofs and dlt. Existing topics are fine; one with
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
  const admin = kafka.admin();
  await withRetry('connect', retry, () => admin.connect());
  try {
    const existing = new Set(await withRetry('listTopics', retry, () => admin.listTopics()));
    const missing = planned.filter((p) => !existing.has(p.topic));

    const createdByOthers: string[] = [];
    await mapLimit(missing, options.concurrency ?? 8, async ({ topic, partitions }) => {
      const config: ITopicConfig = { topic, numPartitions: partitions, replicationFactor };
      if (configEntries.length > 0) config.configEntries = configEntries;
      const created = await withRetry(`createTopics ${topic}`, retry, () =>
        admin.createTopics({ topics: [config], waitForLeaders: true, timeout }),
      );
      // false: it appeared since listTopics (another process ensuring the same version).
      (created ? result.created : createdByOthers).push(topic);
    });

    const toCheck = planned.map((p) => p.topic).filter((t) => !result.created.includes(t));
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
 * and carry that version). Returns the deleted names. For tests and retiring an old version.
 */
export async function deleteVersionTopics(
  kafka: Kafka,
  version: ProtocolVersion,
  options: Pick<EnsureTopicsOptions, 'attempts' | 'retryDelayMs' | 'requestTimeoutMs' | 'logger'> = {},
): Promise<string[]> {
  const logger = options.logger ?? loggerFor('topics.admin', { version: `v${version.minor}.${version.patch}` });
  const retry = { attempts: options.attempts ?? 5, retryDelayMs: options.retryDelayMs ?? 250, logger };
  const prefix = versionPrefix(version);
  const admin = kafka.admin();
  await withRetry('connect', retry, () => admin.connect());
  try {
    const topics = (await withRetry('listTopics', retry, () => admin.listTopics())).filter((t) => {
      if (!t.startsWith(prefix)) return false;
      try {
        parseTopic(t);
        return true;
      } catch {
        return false;
      }
    });
    if (topics.length > 0) {
      await withRetry('deleteTopics', retry, () => admin.deleteTopics({ topics, timeout: options.requestTimeoutMs ?? 30_000 }));
    }
    return topics.sort();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
