// Reading ranges of a topic without touching any consumer group of the pipeline: a throwaway
// consumer group (never one named "<topic>.workers") seeks to the requested offsets, reads
// read_committed up to the end offsets taken before it started, and is deleted afterwards.
//
// The end of a partition is known even when its last offsets are transaction markers (which a
// consumer never sees as messages): kafkajs reports the last offset of every fetched batch,
// markers included, so a partition counts as read once that reaches `to - 1`.
import { Admin, Kafka, KafkaMessage } from 'kafkajs';

export interface PartitionRange {
  partition: number;
  /** First offset to read. */
  from: number;
  /** Offset after the last one to read (an end offset). */
  to: number;
}

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer;
  timestamp: number;
}

export interface ReadResult {
  /** True when every range was read to its end before the timeout. */
  complete: boolean;
  /** Ranges (topic, partition) not read to the end, e.g. behind an open transaction. */
  unfinished: Array<{ topic: string; partition: number; reached: number; to: number }>;
}

export interface PartitionOffsets {
  partition: number;
  /** First offset still in the log. */
  low: number;
  /** End offset (the next offset to be written). */
  high: number;
}

/** Low and end offsets per partition, sorted by partition. */
export async function topicOffsets(admin: Admin, topic: string): Promise<PartitionOffsets[]> {
  const rows = await admin.fetchTopicOffsets(topic);
  return rows.map((r) => ({ partition: r.partition, low: Number(r.low), high: Number(r.high) })).sort((a, b) => a.partition - b.partition);
}

let readers = 0;

/**
 * Reads the given ranges (per topic) and hands every committed message inside them to
 * `onMessage`, in offset order per partition. Resolves when all ranges are read or after
 * `timeoutMs` (then `complete` is false and `unfinished` says where it stopped).
 */
export async function readRanges(
  kafka: Kafka,
  ranges: ReadonlyMap<string, readonly PartitionRange[]>,
  onMessage: (m: ReadMessage) => void,
  options: { timeoutMs?: number } = {},
): Promise<ReadResult> {
  const wanted = new Map<string, Map<number, PartitionRange>>();
  for (const [topic, list] of ranges) {
    const live = list.filter((r) => r.to > r.from);
    if (live.length > 0) wanted.set(topic, new Map(live.map((r) => [r.partition, r])));
  }
  if (wanted.size === 0) return { complete: true, unfinished: [] };

  const groupId = `zkp-ops-reader-${process.pid}-${Date.now().toString(36)}-${readers++}`;
  const admin = kafka.admin();
  await admin.connect();
  const reached = new Map<string, number>(); // "topic/partition" -> highest offset seen (markers included)
  const key = (topic: string, partition: number) => `${topic}/${partition}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  try {
    const isDone = (): boolean => {
      for (const [topic, parts] of wanted) for (const r of parts.values()) if ((reached.get(key(topic, r.partition)) ?? r.from - 1) < r.to - 1) return false;
      return true;
    };
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const note = (topic: string, partition: number, offset: number) => {
      const k = key(topic, partition);
      if (offset > (reached.get(k) ?? -1)) reached.set(k, offset);
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload as { topic: string; partition: number; lastOffset: string };
      note(p.topic, p.partition, Number(p.lastOffset));
      if (isDone()) finish();
    });
    await consumer.connect();
    // A new group starts at the end of every partition (nothing is read there); the ranges are
    // sought to below, once the consumer runs.
    for (const topic of wanted.keys()) await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const parts = wanted.get(batch.topic);
        const range = parts?.get(batch.partition);
        for (const m of batch.messages as KafkaMessage[]) {
          const offset = Number(m.offset);
          if (range && offset >= range.from && offset < range.to) {
            onMessage({ topic: batch.topic, partition: batch.partition, offset, key: m.key ?? null, value: m.value ?? Buffer.alloc(0), timestamp: Number(m.timestamp) });
          }
          note(batch.topic, batch.partition, offset);
        }
        if (isDone()) finish();
      },
    });
    for (const [topic, parts] of wanted) for (const r of parts.values()) consumer.seek({ topic, partition: r.partition, offset: String(r.from) });
    const timer = setTimeout(finish, options.timeoutMs ?? 30_000);
    if (isDone()) finish();
    await finished;
    clearTimeout(timer);
    const unfinished: ReadResult['unfinished'] = [];
    for (const [topic, parts] of wanted)
      for (const r of parts.values()) {
        const got = reached.get(key(topic, r.partition)) ?? r.from - 1;
        if (got < r.to - 1) unfinished.push({ topic, partition: r.partition, reached: got + 1, to: r.to });
      }
    return { complete: unfinished.length === 0, unfinished };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/** Reads a whole topic, from its low offsets to the end offsets it has now. */
export async function readWholeTopic(admin: Admin, kafka: Kafka, topic: string, onMessage: (m: ReadMessage) => void, options: { timeoutMs?: number } = {}): Promise<ReadResult> {
  const offsets = await topicOffsets(admin, topic);
  return readRanges(kafka, new Map([[topic, offsets.map((o) => ({ partition: o.partition, from: o.low, to: o.high }))]]), onMessage, options);
}
