// Against the local Kafka broker (endpoints.kafkaBrokers). Fails, does not skip, when it is down.
import { expect } from 'chai';
import { Admin, Kafka, KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError, logLevel } from 'kafkajs';
import pino from 'pino';
import { endpoints } from '../../lib/endpoints';
import { AggregationRound, allPairs } from '../../topics/catalog';
import { deleteVersionTopics, ensureTopics, isTransientKafkaError, plannedTopics } from '../../topics/admin';
import { batchesTopic, pairTopic, retryTopic, versionPrefix } from '../../topics/naming';
import { defaultPartitionConfig, withPartitionOverrides } from '../../topics/partitions';

describe('topics/admin: isTransientKafkaError', () => {
  it('retries connection problems and retriable protocol errors only', () => {
    expect(isTransientKafkaError(new KafkaJSConnectionError('refused'))).to.equal(true);
    expect(isTransientKafkaError(new KafkaJSNonRetriableError('bad'))).to.equal(false);
    const protocol = (type: string, retriable: boolean) =>
      new KafkaJSProtocolError({ name: 'KafkaJSProtocolError', message: type, type, code: 0, retriable } as unknown as Error);
    expect(isTransientKafkaError(protocol('LEADER_NOT_AVAILABLE', true))).to.equal(true);
    expect(isTransientKafkaError(protocol('INVALID_REPLICATION_FACTOR', false))).to.equal(false);
    expect(isTransientKafkaError(new Error('x'))).to.equal(false);
    expect(isTransientKafkaError(undefined)).to.equal(false);
  });
});

describe('topics/admin: ensureTopics against Kafka', function () {
  this.timeout(180_000);
  // A version no one else uses, so parallel runs and other tests do not collide.
  const version = { minor: 900 + Math.floor(Math.random() * 1_000_000), patch: Math.floor(Math.random() * 1000) };
  const otherVersion = { minor: version.minor, patch: version.patch + 1 };
  const kafka = new Kafka({
    clientId: 'topics-admin-test',
    brokers: endpoints.kafkaBrokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
  const fast = { attempts: 2, retryDelayMs: 100, logger: pino({ level: 'silent' }) };
  let admin: Admin;
  let connected = false;

  const partitionCounts = async (topics: string[]): Promise<Map<string, number>> => {
    const { topics: md } = await admin.fetchTopicMetadata({ topics });
    return new Map(md.map((t) => [t.name, t.partitions.length]));
  };
  const leafPair = { round: AggregationRound.LeafAggregation, circuitId: 3 };
  const leafTopic = pairTopic(version, leafPair);
  const mainVm = { round: AggregationRound.BasicCircuits, circuitId: 1 };

  before(async () => {
    admin = kafka.admin();
    await admin.connect(); // throws when the broker is down: the suite fails
    connected = true;
    // Existing topics with fewer partitions than configured (round 1 is configured with 2): a
    // leaf pair topic and its retry topic with 1 partition, plus the version topics.
    const onePartition = withPartitionOverrides(defaultPartitionConfig(), { pairs: [[leafPair, 1]] });
    const pre = await ensureTopics(kafka, version, { pairs: [leafPair], partitions: onePartition, ...fast });
    expect(pre.created).to.have.length(2 + 5);
  });

  after(async () => {
    if (!connected) return;
    try {
      await deleteVersionTopics(kafka, version, fast);
      await deleteVersionTopics(kafka, otherVersion, fast);
    } finally {
      await admin.disconnect();
    }
  });

  it('creates every pair topic, its retry topic and the version topics with their partitions', async () => {
    const planned = plannedTopics(version);
    expect(planned).to.have.length(allPairs().length * 2 + 5);
    const result = await ensureTopics(kafka, version, { replicationFactor: 1, ...fast });
    expect(result.created).to.have.length(planned.length - 7);
    expect(result.created).to.not.include(leafTopic);
    expect(result.partitionsIncreased).to.have.deep.members([
      { topic: leafTopic, from: 1, to: 2 },
      { topic: retryTopic(version, leafPair), from: 1, to: 2 },
    ]);
    expect(result.unchanged).to.have.length(5);

    const existing = new Set(await admin.listTopics());
    for (const p of planned) expect(existing.has(p.topic), p.topic).to.equal(true);
    const counts = await partitionCounts(planned.map((p) => p.topic));
    for (const p of planned) expect(counts.get(p.topic), p.topic).to.equal(p.partitions);
    expect(counts.get(pairTopic(version, mainVm))).to.equal(4);
    expect(counts.get(retryTopic(version, mainVm))).to.equal(4);
    expect(counts.get(leafTopic)).to.equal(2);
    expect(counts.get(`${versionPrefix(version)}dlt`)).to.equal(1);
    expect(counts.get(batchesTopic(version))).to.equal(2);
    expect(counts.get(`${versionPrefix(version)}proofs-landed`)).to.equal(4);
  });

  it('is idempotent: a second call creates and changes nothing', async () => {
    const result = await ensureTopics(kafka, version, fast);
    expect(result.created).to.deep.equal([]);
    expect(result.partitionsIncreased).to.deep.equal([]);
    expect(result.morePartitionsThanConfigured).to.deep.equal([]);
    expect(result.unchanged).to.have.length(plannedTopics(version).length);
  });

  it('adds partitions when the configuration asks for more', async () => {
    const partitions = withPartitionOverrides(defaultPartitionConfig(), { pairs: [[mainVm, 6]], batches: 3 });
    const result = await ensureTopics(kafka, version, { partitions, ...fast });
    expect(result.created).to.deep.equal([]);
    expect(result.partitionsIncreased).to.have.deep.members([
      { topic: pairTopic(version, mainVm), from: 4, to: 6 },
      { topic: retryTopic(version, mainVm), from: 4, to: 6 },
      { topic: batchesTopic(version), from: 2, to: 3 },
    ]);
    const counts = await partitionCounts([pairTopic(version, mainVm), retryTopic(version, mainVm), batchesTopic(version)]);
    expect([...counts.values()].sort()).to.deep.equal([3, 6, 6]);

    // Going back to the smaller configuration cannot shrink them: reported, left alone.
    const back = await ensureTopics(kafka, version, fast);
    expect(back.partitionsIncreased).to.deep.equal([]);
    expect(back.morePartitionsThanConfigured).to.have.deep.members([
      { topic: pairTopic(version, mainVm), actual: 6, configured: 4 },
      { topic: retryTopic(version, mainVm), actual: 6, configured: 4 },
      { topic: batchesTopic(version), actual: 3, configured: 2 },
    ]);
  });

  it('creates only the pairs asked for, plus the version topics', async () => {
    const pairs = [mainVm];
    const result = await ensureTopics(kafka, otherVersion, { pairs, ...fast });
    expect(result.created).to.deep.equal(plannedTopics(otherVersion, { pairs }).map((p) => p.topic).sort());
    expect(result.created).to.have.length(2 + 5);
  });

  it('fails without retrying on a non-transient error (replication factor above the broker count)', async () => {
    const started = Date.now();
    let error: unknown;
    try {
      await ensureTopics(kafka, { minor: version.minor, patch: version.patch + 2 }, { pairs: [], replicationFactor: 50, attempts: 5, retryDelayMs: 2000, logger: fast.logger });
    } catch (e) {
      error = e;
    }
    expect(error, 'ensureTopics should reject').to.not.equal(undefined);
    expect(isTransientKafkaError(error)).to.equal(false);
    expect(Date.now() - started).to.be.lessThan(2000);
    const left = (await admin.listTopics()).filter((t) => t.startsWith(versionPrefix({ minor: version.minor, patch: version.patch + 2 })));
    expect(left).to.deep.equal([]);
  });

  it('rejects a bad replication factor before touching Kafka', async () => {
    let error: unknown;
    try {
      await ensureTopics(kafka, version, { replicationFactor: 0, logger: fast.logger });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.match(/replicationFactor must be a positive integer/);
  });

  it('deleteVersionTopics removes the version\'s topics only', async () => {
    const deleted = await deleteVersionTopics(kafka, otherVersion, fast);
    expect(deleted).to.deep.equal(plannedTopics(otherVersion, { pairs: [mainVm] }).map((p) => p.topic).sort());
    const remaining = await admin.listTopics();
    expect(remaining.filter((t) => t.startsWith(versionPrefix(otherVersion)))).to.deep.equal([]);
    expect(remaining).to.include(batchesTopic(version));
  });
});
