// Failover check for the local 3-node KRaft cluster (infra/bin/services up kafka-cluster).
// Not part of `npm test` (the file name does not end in .test.ts); run it with
//   bash infra/bin/test-kafka-cluster
// It stops node 2 while producing with acks=all (replication 3, min.insync.replicas 2), checks that
// producing, transactions and consuming go on, restarts node 2 and waits for it to rejoin the ISR.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';

const base = Number(process.env.KAFKA_CLUSTER_BASE_PORT ?? 19092);
const brokers = [1, 2, 3].map((n) => `127.0.0.1:${base + 100 * n}`);
const services = path.join(__dirname, '../../infra/bin/services');
const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

function sh(...args: string[]): void {
  execFileSync('bash', [services, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs}ms (${String(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('infra: 3-node Kafka cluster failover', function () {
  this.timeout(180_000);
  const kafka = new Kafka({
    clientId: `failover-${runId}`,
    brokers,
    connectionTimeout: 3000,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 3000 },
    logLevel: logLevel.NOTHING,
  });
  const topic = `infra-failover.${runId}`;
  let admin: Admin;

  async function isr(): Promise<number[][]> {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId).map((p) => p.isr.slice().sort());
  }

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => b.nodeId).sort()).to.deep.equal([1, 2, 3]);
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: false });
    await until('all replicas in sync', 30_000, async () =>
      (await isr()).every((r) => r.length === 3) ? true : undefined,
    );
  });

  after(async () => {
    sh('start-node', 'kafka-cluster', '2');
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('keeps producing (acks=all), committing transactions and consuming with one node down', async () => {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `before-${i}` })) });

    sh('stop-node', 'kafka-cluster', '2');
    await until('node 2 out of every ISR', 60_000, async () =>
      (await isr()).every((r) => !r.includes(2)) ? true : undefined,
    );
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `during-${i}` })) });

    const tx = kafka.producer({ transactionalId: `failover-${runId}`, idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    const t = await tx.transaction();
    await t.send({ topic, messages: [{ key: 'tx', value: 'during-tx' }] });
    await t.commit();
    await tx.disconnect();
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `failover-${runId}`, maxWaitTimeInMs: 100 });
    const seen = new Set<string>();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.add(String(message.value)) });
    await until('all 61 records consumed', 60_000, async () => (seen.size >= 61 ? true : undefined));
    await consumer.disconnect();
    expect(seen.has('before-0') && seen.has('during-29') && seen.has('during-tx')).to.equal(true);
  });

  it('a restarted node catches up and rejoins every ISR', async () => {
    sh('start-node', 'kafka-cluster', '2');
    await until('node 2 back in every ISR', 120_000, async () =>
      (await isr()).every((r) => r.length === 3) ? true : undefined,
    );
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.reduce((n, o) => n + Number(o.high), 0)).to.be.at.least(61);
  });
});
