// Smoke test of the local Kafka broker (infra/bin/services up kafka) through kafkajs 2.2.4, the
// client the pipeline uses: topic admin, produce/consume, manual offset commits, transactions
// with sendOffsets and read_committed, and admin offset management. Fails, not skips, when the
// broker is down. Every run uses its own topic and group names and deletes its topics.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type EachMessagePayload,
  type Producer,
} from 'kafkajs';
import { endpoints } from '../../lib/endpoints';

const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const name = (what: string): string => `infra-smoke.${runId}.${what}`;

interface Seen {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
}

describe('infra: Kafka smoke (kafkajs against the local broker)', function () {
  this.timeout(60_000);

  const kafka = new Kafka({
    clientId: `infra-smoke-${runId}`,
    brokers: endpoints.kafkaBrokers,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logLevel.NOTHING,
  });
  let admin: Admin;
  const topics: string[] = [];
  const groups: string[] = [];
  const clients: Array<Producer | Consumer> = [];

  async function createTopic(what: string, numPartitions = 1): Promise<string> {
    const topic = name(what);
    // waitForLeaders is off on purpose: kafkajs only retries LEADER_NOT_AVAILABLE while waiting,
    // but a KRaft broker can answer UNKNOWN_TOPIC_OR_PARTITION for a moment after CreateTopics
    // returns (its metadata image trails the controller). Wait for the leaders ourselves.
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions, replicationFactor: 1 }],
      waitForLeaders: false,
    });
    expect(created, `topic ${topic} created`).to.equal(true);
    topics.push(topic);
    await waitForLeaders(topic, numPartitions);
    return topic;
  }

  async function waitForLeaders(topic: string, numPartitions: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = meta.topics[0]?.partitions ?? [];
        if (partitions.length === numPartitions && partitions.every((p) => p.leader >= 0)) return;
        last = `partitions ${JSON.stringify(partitions.map((p) => [p.partitionId, p.leader]))}`;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after ${timeoutMs}ms: ${String(last)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function groupId(what: string): string {
    const g = name(`group.${what}`);
    groups.push(g);
    return g;
  }

  async function producer(config: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
    const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
    clients.push(p);
    await p.connect();
    return p;
  }

  const groupOfConsumer = new Map<Consumer, string>();
  const groupOf = (c: Consumer): string => groupOfConsumer.get(c) ?? '?';

  function consumer(config: ConsumerConfig): Consumer {
    const c = kafka.consumer({
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 10_000,
      maxWaitTimeInMs: 100,
      retry: { retries: 3 },
      ...config,
    });
    clients.push(c);
    groupOfConsumer.set(c, config.groupId);
    return c;
  }

  /**
   * Runs a consumer on one topic until `done(seen)` holds, then disconnects it.
   * `onMessage` runs for each message before it is recorded (e.g. to commit offsets).
   */
  async function consumeUntil(
    c: Consumer,
    topic: string,
    done: (seen: Seen[]) => boolean,
    opts: { fromBeginning?: boolean; autoCommit?: boolean; timeoutMs?: number; onMessage?: (p: EachMessagePayload) => Promise<void> } = {},
  ): Promise<Seen[]> {
    const seen: Seen[] = [];
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: opts.fromBeginning ?? true });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await c.run({
      autoCommit: opts.autoCommit ?? true,
      eachMessage: async (payload) => {
        if (opts.onMessage) await opts.onMessage(payload);
        seen.push({
          partition: payload.partition,
          offset: payload.message.offset,
          key: payload.message.key?.toString() ?? null,
          value: payload.message.value?.toString() ?? null,
        });
        if (done(seen)) finish();
      },
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs}ms on ${topic} (group ${groupOf(c)}); saw ${JSON.stringify(seen.map((s) => s.value))}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
      await c.disconnect();
    }
    return seen;
  }

  async function committed(group: string, topic: string): Promise<Record<number, string>> {
    const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const out: Record<number, string> = {};
    for (const p of entry.partitions) out[p.partition] = p.offset;
    return out;
  }

  /** Polls fetchOffsets until it equals `want` (or the time is up), and returns the last answer. */
  async function committedEventually(group: string, topic: string, want: Record<number, string>, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await committed(group, topic);
      if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) return got;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    admin = kafka.admin();
    try {
      await admin.connect();
    } catch (err) {
      throw new Error(
        `Kafka at ${endpoints.kafkaBrokers.join(',')} is not reachable (${String(err)}); start it with: bash infra/bin/services up kafka`,
      );
    }
  });

  after(async () => {
    for (const c of clients) await c.disconnect().catch(() => undefined);
    if (!admin) return;
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  });

  it('describes the cluster and creates, lists and describes topics', async () => {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.length).to.be.at.least(1);
    expect(cluster.controller).to.not.equal(null);

    const topic = await createTopic('admin', 6);
    expect(await admin.listTopics()).to.include(topic);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0].partitions).to.have.length(6);

    // auto topic creation is off: a producer to an unknown topic does not create it
    const p = await producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    let error: unknown;
    try {
      await p.send({ topic: name('never-created'), messages: [{ value: 'x' }], timeout: 2000 });
    } catch (err) {
      error = err;
    }
    expect(error, 'producing to a missing topic fails').to.be.instanceOf(Error);
    expect(await admin.listTopics()).to.not.include(name('never-created'));
  });

  it('produces and consumes keyed messages across partitions, in order per key', async () => {
    const topic = await createTopic('produce-consume', 3);
    // Idempotent: a send retried right after the topic was created (its partitions still
    // settling) must not write a partition's records twice.
    const p = await producer({ idempotent: true, maxInFlightRequests: 1 });
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `m${i}` }));
    await p.send({ topic, messages, acks: -1 });

    // At least once: a rebalance right after joining can deliver a partition's start again, so
    // count and check each (partition, offset) once.
    const distinct = <T extends { partition: number; offset: string }>(s: T[]): T[] => [...new Map(s.map((m): [string, T] => [`${m.partition}:${m.offset}`, m])).values()];
    const seen = distinct(await consumeUntil(consumer({ groupId: groupId('produce-consume') }), topic, (s) => distinct(s).length >= 30));
    expect(seen.map((s) => s.value).sort()).to.deep.equal(messages.map((m) => m.value).sort());
    // one key, one partition, in produce order
    for (let k = 0; k < 5; k++) {
      const ofKey = seen.filter((s) => s.key === `k${k}`);
      expect(new Set(ofKey.map((s) => s.partition)).size).to.equal(1);
      expect(ofKey.map((s) => Number(s.value!.slice(1)))).to.deep.equal(
        messages.map((m, i) => (m.key === `k${k}` ? i : -1)).filter((i) => i >= 0),
      );
    }
  });

  it('a consumer with manual commits resumes, after a restart, from the committed offset', async () => {
    const topic = await createTopic('manual-commit', 1);
    const group = groupId('manual-commit');
    const p = await producer();
    await p.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` })), acks: -1 });

    // First life: processes messages, commits only through offset 4 (next offset to read: 5).
    const firstLife = consumer({ groupId: group });
    const first = await consumeUntil(firstLife, topic, (s) => s.some((m) => m.offset === '4'), {
      autoCommit: false,
      onMessage: async ({ topic: t, partition, message }) => {
        if (Number(message.offset) <= 4) {
          await firstLife.commitOffsets([{ topic: t, partition, offset: String(Number(message.offset) + 1) }]);
        }
      },
    });
    expect(first[0]).to.include({ offset: '0', value: 'v0' });
    expect(await committed(group, topic)).to.deep.equal({ 0: '5' });

    // Second life, same group: starts at the committed offset even though fromBeginning is set.
    const second = await consumeUntil(consumer({ groupId: group }), topic, (s) => s.some((m) => m.offset === '9'), {
      autoCommit: false,
    });
    expect(second[0]).to.include({ offset: '5', value: 'v5' });
    expect(second.map((s) => s.value)).to.deep.equal(['v5', 'v6', 'v7', 'v8', 'v9']);
    // nothing was committed by the second life
    expect(await committed(group, topic)).to.deep.equal({ 0: '5' });
  });

  it('transactions: read_committed sees committed records only, and sendOffsets moves the group offset', async () => {
    const input = await createTopic('tx-in', 1);
    const output = await createTopic('tx-out', 1);
    const group = groupId('tx');
    const tp = await producer({
      transactionalId: name('txid'),
      idempotent: true,
      maxInFlightRequests: 1,
    });

    // An aborted transaction: its records and its offset commit must not take effect.
    const aborted = await tp.transaction();
    await aborted.send({ topic: output, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
    await aborted.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions: [{ partition: 0, offset: '1' }] }] });
    await aborted.abort();
    expect(await committed(group, input)).to.deep.equal({ 0: '-1' });

    // A committed one.
    const ok = await tp.transaction();
    await ok.send({ topic: output, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
    await ok.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions: [{ partition: 0, offset: '2' }] }] });
    await ok.commit();
    // EndTxn returns once the commit is decided; the markers that make the transactional offset
    // commit visible are written right after, so OffsetFetch may lag behind by a moment.
    expect(await committedEventually(group, input, { 0: '2' })).to.deep.equal({ 0: '2' });

    // read_committed (kafkajs default): the aborted records, which come first in the log, are never delivered.
    const readCommitted = await consumeUntil(
      consumer({ groupId: groupId('tx-read-committed'), readUncommitted: false }),
      output,
      (s) => s.some((m) => m.value === 'committed-2'),
    );
    expect(readCommitted.map((s) => s.value)).to.deep.equal(['committed-1', 'committed-2']);

    // read_uncommitted shows that the aborted records were really written.
    const readUncommitted = await consumeUntil(
      consumer({ groupId: groupId('tx-read-uncommitted'), readUncommitted: true }),
      output,
      (s) => s.some((m) => m.value === 'committed-2'),
    );
    expect(readUncommitted.map((s) => s.value)).to.deep.equal(['aborted-1', 'aborted-2', 'committed-1', 'committed-2']);
  });

  it('admin fetchOffsets, setOffsets and resetOffsets move a stopped group', async () => {
    const topic = await createTopic('admin-offsets', 2);
    const group = groupId('admin-offsets');
    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `p${i % 2}-${Math.floor(i / 2)}` })),
      acks: -1,
    });

    // consume everything with auto-commit, so the group sits at the end of both partitions
    await consumeUntil(consumer({ groupId: group }), topic, (s) => s.length >= 10);
    const atEnd = await committed(group, topic);
    expect(atEnd).to.deep.equal({ 0: '5', 1: '5' });

    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '4' }] });
    expect(await committed(group, topic)).to.deep.equal({ 0: '3', 1: '4' });

    // a restarted member resumes where the admin put the group
    // (Checked by where each partition's first fetch starts: a rebalance while joining may make
    // kafkajs fetch a partition again, and the test must not depend on that not happening.)
    const expected = ['p0-3', 'p0-4', 'p1-4'];
    const resumed = await consumeUntil(consumer({ groupId: group }), topic, (s) => expected.every((v) => s.some((m) => m.value === v)), { autoCommit: false });
    const firstOffset = (partition: number) => resumed.find((m) => m.partition === partition)?.offset;
    expect([firstOffset(0), firstOffset(1)], JSON.stringify(resumed)).to.deep.equal(['3', '4']);

    // resetOffsets({ earliest: true }) commits the sentinel -2, not a position. kafkajs treats any
    // negative committed offset as "none" and falls back to the subscriber's fromBeginning, so the
    // replay happens only for consumers that subscribe with fromBeginning: true.
    await admin.resetOffsets({ groupId: group, topic, earliest: true });
    expect(await committed(group, topic)).to.deep.equal({ 0: '-2', 1: '-2' });
    const replay = await consumeUntil(consumer({ groupId: group }), topic, (s) => s.length >= 10, {
      fromBeginning: true,
      autoCommit: false,
    });
    expect(replay.filter((s) => s.partition === 0).map((s) => s.offset)).to.deep.equal(['0', '1', '2', '3', '4']);
    expect(replay.filter((s) => s.partition === 1).map((s) => s.offset)).to.deep.equal(['0', '1', '2', '3', '4']);

    // A real "rewind to the start" for any consumer: setOffsets to each partition's low watermark.
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId: group, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.low })) });
    expect(await committed(group, topic)).to.deep.equal({ 0: '0', 1: '0' });
    const rewound = await consumeUntil(consumer({ groupId: group }), topic, (s) => s.length >= 10, {
      fromBeginning: false, // the committed position decides, not the subscription
      autoCommit: false,
    });
    expect(rewound.map((s) => s.value).sort()).to.deep.equal(replay.map((s) => s.value).sort());

    expect(offsets.map((o) => [o.partition, o.high]).sort()).to.deep.equal([
      [0, '5'],
      [1, '5'],
    ]);
  });
});
