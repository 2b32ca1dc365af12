// Consumer lag per consumer group, measured through the kafkajs admin API the way KEDA's Kafka
// scaler measures it: per partition, high watermark - committed offset, summed over the
// partitions of every topic the group reads. A partition without a committed offset counts
// everything still in the log (high - low), as our consumers start from the beginning.
//
// Transaction markers: a topic written only inside Kafka transactions (pair, retry and
// final-proofs topics) gets a commit marker after each transaction's records in a partition.
// The marker takes an offset but is never delivered, so a consumer that has handled everything
// commits the offset of the marker and high watermark - committed stays 1 on every partition
// that ever received a record (KEDA's scaler sees that too: kedacore/keda#5675). `offsetLag`
// is the raw figure; `lag` discounts that one trailing marker per partition, which makes a
// drained partition 0 and a partition holding one committed transaction's records exact (with
// several transactions pending it still counts their earlier markers, an overcount).
import { Admin, Kafka } from 'kafkajs';
import { ProtocolVersion } from '../lib/protocol-version';
import { Pair } from '../topics/catalog';
import { batchesTopic, consumerGroup, finalProofsTopic, handOffRetryTopic, handOffTopic, pairTopic, retryTopic } from '../topics/naming';
import { LagSnapshot, ReplicaRecommendation, ScalerSettings, combineRecommendations, recommendedReplicas } from './autoscaling';

/** A consumer group and the topics it reads; `topic` (the first) names it in metrics. */
export interface WatchedGroup {
  groupId: string;
  topics: string[];
  /** Its topics are written only inside transactions (one trailing commit marker per partition). */
  transactional: boolean;
}

export interface TopicLag extends LagSnapshot {
  topic: string;
  /** Records waiting: `offsetLag` less one trailing commit marker per partition on a transactional topic. */
  totalLag: number;
  /** High watermark - committed offset, summed over the partitions (what KEDA's scaler sees). */
  offsetLag: number;
  partitions: number;
  /** Partitions whose `totalLag` part is > 0. */
  partitionsWithLag: number;
}

export interface GroupLag extends LagSnapshot {
  groupId: string;
  /** The group's main topic (its first). */
  topic: string;
  offsetLag: number;
  partitionsWithLag: number;
  topics: TopicLag[];
}

/** The consumer group of a pair topic: it reads the pair topic and its retry topic. */
export function pairGroup(version: ProtocolVersion, pair: Pair): WatchedGroup {
  const topic = pairTopic(version, pair);
  return { groupId: consumerGroup(topic), topics: [topic, retryTopic(version, pair)], transactional: true };
}

/** The consumer group of a pair's hand-off topic in one zone: it reads that topic and its retry topic. */
export function handOffGroup(version: ProtocolVersion, pair: Pair, zone: string): WatchedGroup {
  const topic = handOffTopic(version, pair, zone);
  return { groupId: consumerGroup(topic), topics: [topic, handOffRetryTopic(version, pair, zone)], transactional: true };
}

export function batchesGroup(version: ProtocolVersion): WatchedGroup {
  // The gateway produces batch jobs with a plain idempotent producer: no markers.
  const topic = batchesTopic(version);
  return { groupId: consumerGroup(topic), topics: [topic], transactional: false };
}

export function finalProofsGroup(version: ProtocolVersion): WatchedGroup {
  const topic = finalProofsTopic(version);
  return { groupId: consumerGroup(topic), topics: [topic], transactional: true };
}

interface PartitionEnds {
  high: bigint;
  low: bigint;
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The lag of each group, with an admin client that is already connected. A topic that does not
 * exist (yet) counts as no partitions.
 */
export async function fetchConsumerLag(admin: Admin, groups: WatchedGroup[], concurrency = 8): Promise<GroupLag[]> {
  const topics = [...new Set(groups.flatMap((g) => g.topics))];
  const ends = new Map<string, Map<number, PartitionEnds>>();
  await mapLimited(topics, concurrency, async (topic) => {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends.set(topic, new Map(offsets.map((o) => [o.partition, { high: BigInt(o.high), low: BigInt(o.low) }])));
    } catch (e) {
      // kafkajs retries the request first and then throws its last error wrapped (as `cause`).
      const err = e as { type?: string; cause?: { type?: string } };
      if ((err.type ?? err.cause?.type) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw e;
      ends.set(topic, new Map());
    }
  });
  return mapLimited(groups, concurrency, async (g) => {
    const present = g.topics.filter((t) => (ends.get(t)?.size ?? 0) > 0);
    const committed = present.length > 0 ? await admin.fetchOffsets({ groupId: g.groupId, topics: present }) : [];
    const byTopic = new Map(committed.map((c) => [c.topic, new Map(c.partitions.map((p) => [p.partition, BigInt(p.offset)]))]));
    const perTopic: TopicLag[] = g.topics.map((topic) => {
      let offsetLag = 0n;
      let records = 0n;
      let withLag = 0;
      const partitions = ends.get(topic) ?? new Map<number, PartitionEnds>();
      for (const [partition, { high, low }] of partitions) {
        const c = byTopic.get(topic)?.get(partition) ?? -1n;
        const from = c < 0n || c < low ? low : c;
        const raw = high > from ? high - from : 0n;
        const waiting = g.transactional && raw > 0n ? raw - 1n : raw;
        offsetLag += raw;
        records += waiting;
        if (waiting > 0n) withLag++;
      }
      return { topic, totalLag: Number(records), offsetLag: Number(offsetLag), partitions: partitions.size, partitionsWithLag: withLag };
    });
    return {
      groupId: g.groupId,
      topic: g.topics[0],
      totalLag: perTopic.reduce((a, t) => a + t.totalLag, 0),
      offsetLag: perTopic.reduce((a, t) => a + t.offsetLag, 0),
      partitions: perTopic.reduce((a, t) => a + t.partitions, 0),
      partitionsWithLag: perTopic.reduce((a, t) => a + t.partitionsWithLag, 0),
      topics: perTopic,
    };
  });
}

export interface GroupRecommendation extends GroupLag {
  /** One per topic of the group, as one KEDA trigger per (consumer group, topic). */
  perTopic: Array<{ topic: string; recommendation: ReplicaRecommendation }>;
  /** The group's replica count: the largest of its triggers' (what the HPA runs). */
  replicas: number;
}

/** The KEDA rule per topic of a measured group, and their combination. */
export function recommendationFor(lag: GroupLag, settings: Partial<ScalerSettings> = {}): GroupRecommendation {
  const perTopic = lag.topics.map((t) => ({ topic: t.topic, recommendation: recommendedReplicas(t, settings) }));
  return { ...lag, perTopic, replicas: combineRecommendations(perTopic.map((p) => p.recommendation), settings) };
}

/**
 * Measures the groups and applies the KEDA rule to each: what a dashboard or the CLI calls to
 * ask "how many replicas does this consumer group need now". Connects and disconnects its own
 * admin client unless given one.
 */
export async function recommendReplicas(
  kafkaOrAdmin: Kafka | Admin,
  groups: WatchedGroup[],
  settings: Partial<ScalerSettings> | ((group: WatchedGroup) => Partial<ScalerSettings>) = {},
): Promise<GroupRecommendation[]> {
  const own = 'admin' in kafkaOrAdmin;
  const admin = own ? (kafkaOrAdmin as Kafka).admin() : (kafkaOrAdmin as Admin);
  if (own) await admin.connect();
  try {
    const lags = await fetchConsumerLag(admin, groups);
    return lags.map((l, i) => recommendationFor(l, typeof settings === 'function' ? settings(groups[i]) : settings));
  } finally {
    if (own) await admin.disconnect();
  }
}
