import { Kafka } from 'kafkajs';
import { ProtocolVersion } from '../../lib/protocol-version';
import { deleteVersionTopics } from '../../topics/admin';

/** A protocol version no other test run uses, so its topics and counters are its own. */
export function uniqueVersion(): ProtocolVersion {
  return { minor: 1000 + Math.floor(Math.random() * 60000), patch: Math.floor(Math.random() * 100) };
}

/** Reads every committed message of `topic` from the beginning until `until` holds or the timeout ends. */
export async function readTopic(kafka: Kafka, topic: string, until: (values: Buffer[]) => boolean, timeoutMs = 30_000): Promise<Buffer[]> {
  const consumer = kafka.consumer({ groupId: `test-reader-${Date.now()}-${Math.random()}`, readUncommitted: false });
  const values: Buffer[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(message.value ?? Buffer.alloc(0));
      if (until(values)) resolveDone();
    },
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  if (until(values)) resolveDone();
  await done;
  clearTimeout(timer);
  await consumer.disconnect();
  return values;
}

export async function dropVersion(kafka: Kafka, version: ProtocolVersion): Promise<void> {
  await deleteVersionTopics(kafka, version).catch(() => undefined);
}
