// Producing records from an operator command: an idempotent producer, every record acknowledged
// by all in-sync replicas before the command reports it.
import { Kafka } from 'kafkajs';

export interface OpsRecord {
  topic: string;
  key: string;
  value: Buffer;
}

export async function produceRecords(kafka: Kafka, records: readonly OpsRecord[]): Promise<void> {
  if (records.length === 0) return;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (!list) byTopic.set(r.topic, (list = []));
      list.push({ key: r.key, value: r.value });
    }
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
  } finally {
    await producer.disconnect();
  }
}
