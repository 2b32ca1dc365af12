// Lag per topic: partitions, end offsets, the committed offsets of the topic's consumer group,
// and how many records are still waiting.
//
// Offset lag (end offset - committed offset, what kafka-consumer-groups.sh prints) is not the
// number of waiting jobs here: every topic is written in Kafka transactions, and each
// transaction ends with a commit marker that takes an offset but is never delivered to a
// consumer. A fully consumed partition therefore often shows an offset lag of 1 (or more, after
// aborted transactions). `lag` counts the committed records actually waiting: partitions with a
// small offset lag are read (read_committed, with a throwaway consumer group) from the committed
// offset to the end; larger ones are reported as their offset lag, marked not exact.
import { Admin, AssignerProtocol, Kafka } from 'kafkajs';
import { Pair, pairKey } from '../topics/catalog';
import { ParsedTopic, consumerGroup, handOffTopic, pairTopic, parseTopic, versionPrefix, versionTopic } from '../topics/naming';
import { ProtocolVersion } from '../lib/protocol-version';
import { PartitionRange, readRanges, topicOffsets } from './kafka-read';

export interface PartitionLag {
  partition: number;
  /** First offset still in the log. */
  low: number;
  /** End offset. */
  end: number;
  /** The consumer group's committed offset; null when it never committed one. */
  committed: number | null;
  /** end - max(committed, low): offsets not consumed, transaction markers included. */
  offsetLag: number;
  /** Committed records waiting (exact when `exact`, else an upper bound). */
  lag: number;
  exact: boolean;
}

export interface TopicLag {
  topic: string;
  kind: ParsedTopic['kind'];
  /** "(circuit_id,round)" for pair and retry topics. */
  pair: string | null;
  /** The consumer group reading the topic; null for topics nobody consumes (events, dead letters). */
  group: string | null;
  groupState: string | null;
  /** Members of the consumer group now. */
  members: number | null;
  partitions: number;
  /** Records in the log (sum of end - low). */
  records: number;
  end: number;
  /** Sum of committed offsets; null when the group committed none. */
  committed: number | null;
  offsetLag: number;
  lag: number;
  exact: boolean;
  byPartition: PartitionLag[];
}

export interface LagOptions {
  /** Only these pairs' topics (and the version topics). */
  pairs?: readonly Pair[];
  /** Also list topics nobody consumes (proofs-landed, aggregation-ready); the dlt is always listed. */
  includeEvents?: boolean;
  /** Read partitions whose offset lag is at most this to count the waiting records exactly. Default 1000; 0 = never. */
  probeLimit?: number;
  probeTimeoutMs?: number;
}

/** The consumer group that reads `topic` in this pipeline, or null. */
export function groupOfTopic(parsed: ParsedTopic): string | null {
  switch (parsed.kind) {
    case 'pair':
    case 'retry':
      return consumerGroup(pairTopic(parsed.version, parsed.pair));
    case 'handoff':
    case 'handoff-retry':
      return consumerGroup(handOffTopic(parsed.version, parsed.pair, parsed.zone));
    case 'batches':
    case 'final-proofs':
      return consumerGroup(versionTopic(parsed.version, parsed.kind));
    default:
      return null;
  }
}

const KIND_ORDER: Record<ParsedTopic['kind'], number> = { batches: 0, pair: 1, retry: 1, handoff: 1, 'handoff-retry': 1, 'final-proofs': 2, dlt: 3, 'proofs-landed': 4, 'aggregation-ready': 5 };

/** Within a pair: its topic, its retry topic, then the zones' hand-off topics. */
const PLACE_IN_PAIR: Partial<Record<ParsedTopic['kind'], number>> = { pair: 0, retry: 1, handoff: 2, 'handoff-retry': 3 };

/** The version's topics that exist now, in pipeline order (batches, pairs by round with their retry topics, final proofs, dlt, events). */
export async function versionTopics(admin: Admin, version: ProtocolVersion): Promise<Array<{ topic: string; parsed: ParsedTopic }>> {
  const prefix = versionPrefix(version);
  const out: Array<{ topic: string; parsed: ParsedTopic }> = [];
  for (const topic of await admin.listTopics()) {
    if (!topic.startsWith(prefix)) continue;
    try {
      out.push({ topic, parsed: parseTopic(topic) });
    } catch {
      // not one of ours
    }
  }
  const rank = (p: ParsedTopic) => {
    const pair = 'pair' in p ? p.pair : null;
    const place = PLACE_IN_PAIR[p.kind] ?? 0;
    return [KIND_ORDER[p.kind], pair ? pair.round : 0, pair ? pair.circuitId : 0, place];
  };
  return out.sort((a, b) => {
    const x = rank(a.parsed);
    const y = rank(b.parsed);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  });
}

export interface GroupMembers {
  group: string;
  state: string;
  members: Array<{ memberId: string; clientId: string; host: string; assignment: Record<string, number[]> }>;
}

/** describeGroups for many groups, with each member's assignment decoded. */
export async function describeGroups(admin: Admin, groups: readonly string[]): Promise<Map<string, GroupMembers>> {
  const out = new Map<string, GroupMembers>();
  if (groups.length === 0) return out;
  const { groups: described } = await admin.describeGroups([...groups]);
  for (const g of described) {
    out.set(g.groupId, {
      group: g.groupId,
      state: g.state,
      members: g.members.map((m) => {
        let assignment: Record<string, number[]> = {};
        try {
          const decoded = m.memberAssignment?.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
          assignment = decoded ? { ...decoded.assignment } : {};
        } catch {
          // an assignment from another client library; leave it out
        }
        return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost, assignment };
      }),
    });
  }
  return out;
}

/** Lag of every topic of `version` that exists. */
export async function topicLags(kafka: Kafka, version: ProtocolVersion, options: LagOptions = {}): Promise<TopicLag[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const keep = options.pairs ? new Set(options.pairs.map(pairKey)) : null;
    const topics = (await versionTopics(admin, version)).filter(({ parsed }) => {
      if ((parsed.kind === 'proofs-landed' || parsed.kind === 'aggregation-ready') && !options.includeEvents) return false;
      if ('pair' in parsed && keep && !keep.has(pairKey(parsed.pair))) return false;
      return true;
    });
    const groupTopics = new Map<string, string[]>();
    for (const { topic, parsed } of topics) {
      const g = groupOfTopic(parsed);
      if (g) groupTopics.set(g, [...(groupTopics.get(g) ?? []), topic]);
    }
    const committed = new Map<string, number>(); // "topic/partition" -> committed offset
    await Promise.all(
      [...groupTopics].map(async ([groupId, list]) => {
        for (const t of await admin.fetchOffsets({ groupId, topics: list })) {
          for (const p of t.partitions) if (Number(p.offset) >= 0) committed.set(`${t.topic}/${p.partition}`, Number(p.offset));
        }
      }),
    );
    const members = await describeGroups(admin, [...groupTopics.keys()]);
    const ends = await Promise.all(topics.map(({ topic }) => topicOffsets(admin, topic)));

    const rows: TopicLag[] = [];
    for (const [i, { topic, parsed }] of topics.entries()) {
      const group = groupOfTopic(parsed);
      const byPartition: PartitionLag[] = ends[i].map((o) => {
        const c = group ? (committed.get(`${topic}/${o.partition}`) ?? null) : null;
        const offsetLag = group ? Math.max(0, o.high - Math.max(c ?? o.low, o.low)) : 0;
        return { partition: o.partition, low: o.low, end: o.high, committed: c, offsetLag, lag: offsetLag, exact: offsetLag === 0 };
      });
      const g = group ? members.get(group) : undefined;
      rows.push({
        topic,
        kind: parsed.kind,
        pair: 'pair' in parsed ? pairKey(parsed.pair) : null,
        group,
        groupState: g ? g.state : null,
        members: g ? g.members.length : null,
        partitions: byPartition.length,
        records: byPartition.reduce((a, p) => a + p.end - p.low, 0),
        end: byPartition.reduce((a, p) => a + p.end, 0),
        committed: byPartition.some((p) => p.committed !== null) ? byPartition.reduce((a, p) => a + (p.committed ?? 0), 0) : null,
        offsetLag: 0,
        lag: 0,
        exact: true,
        byPartition,
      });
    }

    // Count the records behind small offset lags.
    const limit = options.probeLimit ?? 1000;
    const ranges = new Map<string, PartitionRange[]>();
    for (const row of rows)
      for (const p of row.byPartition)
        if (p.offsetLag > 0 && p.offsetLag <= limit) ranges.set(row.topic, [...(ranges.get(row.topic) ?? []), { partition: p.partition, from: p.end - p.offsetLag, to: p.end }]);
    if (ranges.size > 0) {
      const counts = new Map<string, number>();
      const read = await readRanges(kafka, ranges, (m) => counts.set(`${m.topic}/${m.partition}`, (counts.get(`${m.topic}/${m.partition}`) ?? 0) + 1), { timeoutMs: options.probeTimeoutMs ?? 15_000 });
      const unfinished = new Set(read.unfinished.map((u) => `${u.topic}/${u.partition}`));
      for (const row of rows)
        for (const p of row.byPartition) {
          const k = `${row.topic}/${p.partition}`;
          if (!ranges.get(row.topic)?.some((r) => r.partition === p.partition)) continue;
          if (unfinished.has(k)) continue; // behind an open transaction, or the read timed out: keep the upper bound
          p.lag = counts.get(k) ?? 0;
          p.exact = true;
        }
    }
    for (const row of rows) {
      row.offsetLag = row.byPartition.reduce((a, p) => a + p.offsetLag, 0);
      row.lag = row.byPartition.reduce((a, p) => a + p.lag, 0);
      row.exact = row.byPartition.every((p) => p.exact);
    }
    return rows;
  } finally {
    await admin.disconnect();
  }
}
