// Wires a prover process: for every pair topic of its prover group, a consumer group of its
// own (so each pair scales on its own) feeding a JobRunner; optionally the basic witness
// generator on the batches topic. One transactional committer serves them all.
//
// Roles: `combined` (default) runs the whole stage on the pair topics; in the split deployment
// a `witness-vector-generator` of zone Z runs witness and vector generation on the pair topics
// and hands vectors to zone Z's hand-off topics, and a `prover` of zone Z proves only what those
// topics carry (consumers/witness-vector-stage.ts).
import { setMaxListeners } from 'node:events';
import { Kafka } from 'kafkajs';
import Redis from 'ioredis';
import { AggregationCounters } from '../aggregation';
import { Logger, loggerFor } from '../lib/logger';
import { ProtocolVersion, formatVersion } from '../lib/protocol-version';
import { JobRunner, JobRunReport } from '../processor';
import { ProofPayload } from '../payload/payload';
import { BatchJob, ProverJob, WitnessVectorJob, decode } from '../schemas';
import { ObjectStore } from '../storage';
import { Pair } from '../topics/catalog';
import { Geometry } from '../topics/geometry';
import { assertZone, batchesTopic, consumerGroup, handOffRetryTopic, handOffTopic, pairTopic, retryTopic } from '../topics/naming';
import { ensureTopics } from '../topics/admin';
import { PlanCache } from './batch-plan';
import { BasicWitnessExecutor, BasicWitnessSaver } from './basic-witness-generation';
import { deadLetterRecord } from './dead-letters';
import { KafkaJobPicker } from './kafka/kafka-job-picker';
import { TransactionalCommitter } from './kafka/transactional-committer';
import { ProverJobExecutor, ProverJobSaver, StageContext, StageObserver } from './prover-stage';
import { HandOffProverExecutor, WitnessVectorExecutor, WitnessVectorSaver, handOffJobs } from './witness-vector-stage';
import type { ProverProcessMetrics } from '../metrics/prover-metrics';
import { batchesGroup, handOffGroup, pairGroup } from '../metrics/consumer-lag';

/** What the process runs on its pairs; the split roles need a zone. */
export type ProverRole = 'combined' | 'witness-vector-generator' | 'prover';

export interface ProverProcessOptions {
  kafka: Kafka;
  redis: Redis;
  store: ObjectStore;
  payload: ProofPayload;
  version: ProtocolVersion;
  pairs: Pair[];
  /** Also run basic witness generation on the batches topic. */
  basicWitnessGeneration: boolean;
  geometry: Geometry;
  /** Stable across restarts of this process (it names the transactional id). */
  instanceId: string;
  /** Default `combined`. */
  role?: ProverRole;
  /** The process's zone: its consumers' rack id (fetch from a replica in the zone); required by the split roles. */
  zone?: string | null;
  /** Jobs executing at once per pair. */
  concurrency?: number;
  /**
   * Most proof outcomes saved together (one Redis round trip, one transaction) when they wait
   * for a busy saver. Default 4: larger batches raise throughput a little more but hold
   * triggered parent jobs longer in bigger transactions (docs/benchmarks.md).
   */
  saveBatchSize?: number;
  maxAttempts?: number;
  retryBackoffMs?: number;
  /** Consumer session timeout: how soon a dead process's partitions move to the others. */
  sessionTimeoutMs?: number;
  observer?: StageObserver;
  /** Prometheus metrics (metrics/): fed by the observer, runner listeners, saver and committer. */
  metrics?: ProverProcessMetrics;
  /** Called when the process can no longer guarantee its commits; default: exit(1) so jobs are redelivered. */
  onFatal?: (e: Error) => void;
  logger?: Logger;
}

export interface RunningProverProcess {
  committer: TransactionalCommitter;
  /** Stops picking, finishes and commits in-flight jobs, disconnects. */
  stop(): Promise<Array<JobRunReport<unknown>>>;
}

export async function startProverProcess(o: ProverProcessOptions): Promise<RunningProverProcess> {
  const role = o.role ?? 'combined';
  const log = o.logger ?? loggerFor('prover', { version: formatVersion(o.version), instance: o.instanceId, ...(role === 'combined' ? {} : { role }), ...(o.zone ? { zone: o.zone } : {}) });
  if (o.zone) assertZone(o.zone);
  if (role !== 'combined') {
    if (!o.zone) throw new Error(`a ${role} needs a zone`);
    if (role === 'prover' && o.basicWitnessGeneration) throw new Error('a split prover does not run basic witness generation (its zone\'s witness vector generators may)');
    // The zone's hand-off topics, on demand (idempotent; the pair topics come from `topics`).
    await ensureTopics(o.kafka, o.version, { pairs: o.pairs, zones: [o.zone], logger: log });
  }
  // Circuits first: a consumer joins its groups only when it can prove.
  await o.payload.prepare(o.version);
  const committer = new TransactionalCommitter(o.kafka, {
    transactionalId: `zkp.${formatVersion(o.version)}.${o.instanceId}`,
    logger: log,
    onFatal:
      o.onFatal ??
      ((e) => {
        log.fatal({ err: e.message }, 'cannot commit; exiting so the jobs are redelivered');
        process.exit(1);
      }),
  });
  await committer.start();
  o.metrics?.watchCommitter(committer);
  o.metrics?.watchGroups([
    ...(o.basicWitnessGeneration ? [batchesGroup(o.version)] : []),
    ...o.pairs.map((p) => (role === 'prover' ? handOffGroup(o.version, p, o.zone!) : pairGroup(o.version, p))),
  ]);
  const ctx: StageContext = {
    version: o.version,
    store: o.store,
    counters: new AggregationCounters(o.redis),
    payload: o.payload,
    plans: new PlanCache(o.store),
    committer,
    worker: o.instanceId,
    maxAttempts: o.maxAttempts ?? 5,
    retryBackoffMs: o.retryBackoffMs ?? 1000,
    zone: o.zone ?? null,
    observer: o.metrics ? o.metrics.stageObserver(o.observer) : o.observer,
    logger: log,
  };
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every runner of the process listens to it
  const pickers: Array<KafkaJobPicker<unknown>> = [];
  const runs: Array<Promise<JobRunReport<unknown>>> = [];
  const PROOF_SAVE_BATCH = o.saveBatchSize ?? 4;
  const runnerOptions = {
    concurrency: o.concurrency ?? 8,
    pickedQueueSize: 32,
    outcomeQueueSize: 32,
    // The picker long-polls; an idle runner asks again at once.
    idleBackoff: { initialMs: 0, factor: 1, maxMs: 0 },
    saveRetry: { maxAttempts: 5 },
    gracePeriodMs: 30_000,
    logger: log,
  };

  if (o.basicWitnessGeneration) {
    const topic = batchesTopic(o.version);
    const picker = new KafkaJobPicker<BatchJob>({
      kafka: o.kafka,
      groupId: consumerGroup(topic),
      topics: [topic],
      committer,
      decode: (v) => decode('BatchJob', v),
      onUndecodable: (m, e) => [deadLetterRecord(o.version, m, e, 'basic-witness-generation', 1)],
      queueSize: 4,
      sessionTimeoutMs: o.sessionTimeoutMs,
      logger: log,
    });
    const runner = new JobRunner(picker, new BasicWitnessExecutor(ctx, o.geometry), new BasicWitnessSaver(ctx), { ...runnerOptions, concurrency: 1, pickedQueueSize: 1, outcomeQueueSize: 1, name: topic, listener: o.metrics?.batchRunnerListener() });
    await picker.start();
    pickers.push(picker as KafkaJobPicker<unknown>);
    runs.push(runner.run(abort.signal) as Promise<JobRunReport<unknown>>);
  }

  for (const pair of o.pairs) {
    const topic = pairTopic(o.version, pair);
    if (role === 'prover') {
      // Only this zone's hand-off topics: a vector never leaves the zone it was made in.
      const zone = o.zone!;
      const handOff = handOffTopic(o.version, pair, zone);
      const picker = new KafkaJobPicker<WitnessVectorJob>({
        kafka: o.kafka,
        groupId: consumerGroup(handOff),
        topics: [handOff, handOffRetryTopic(o.version, pair, zone)],
        committer,
        decode: (v) => decode('WitnessVectorJob', v),
        notBefore: (job) => job.not_before_ms,
        onUndecodable: (m, e) => {
          ctx.observer?.deadLettered?.(null, e.message);
          return [deadLetterRecord(o.version, m, e, `prover r${pair.round} zone ${zone}`, 1)];
        },
        rackId: zone,
        sessionTimeoutMs: o.sessionTimeoutMs,
        queueSize: 64,
        logger: log,
      });
      const saver = new ProverJobSaver(ctx, handOffJobs(o.version));
      const runner = new JobRunner(picker, new HandOffProverExecutor(ctx), o.metrics ? o.metrics.timedSaver(saver) : saver, { ...runnerOptions, saveBatchSize: PROOF_SAVE_BATCH, name: handOff, listener: o.metrics?.pairRunnerListener<WitnessVectorJob>() });
      await picker.start();
      pickers.push(picker as KafkaJobPicker<unknown>);
      runs.push(runner.run(abort.signal) as Promise<JobRunReport<unknown>>);
      continue;
    }
    const picker = new KafkaJobPicker<ProverJob>({
      kafka: o.kafka,
      groupId: consumerGroup(topic),
      topics: [topic, retryTopic(o.version, pair)],
      committer,
      decode: (v) => decode('ProverJob', v),
      notBefore: (job) => job.not_before_ms,
      onUndecodable: (m, e) => {
        ctx.observer?.deadLettered?.(null, e.message);
        return [deadLetterRecord(o.version, m, e, `prover r${pair.round}`, 1)];
      },
      rackId: o.zone ?? undefined,
      sessionTimeoutMs: o.sessionTimeoutMs,
      queueSize: 64,
      logger: log,
    });
    const runner =
      role === 'witness-vector-generator'
        ? new JobRunner(picker, new WitnessVectorExecutor(ctx), new WitnessVectorSaver(ctx), { ...runnerOptions, name: topic, listener: o.metrics?.pairRunnerListener() })
        : new JobRunner(picker, new ProverJobExecutor(ctx), o.metrics ? o.metrics.timedSaver(new ProverJobSaver(ctx)) : new ProverJobSaver(ctx), { ...runnerOptions, saveBatchSize: PROOF_SAVE_BATCH, name: topic, listener: o.metrics?.pairRunnerListener() });
    await picker.start();
    pickers.push(picker as KafkaJobPicker<unknown>);
    runs.push(runner.run(abort.signal) as Promise<JobRunReport<unknown>>);
  }
  log.info({ pairs: o.pairs.length, basicWitnessGeneration: o.basicWitnessGeneration, role }, 'prover process started');

  return {
    committer,
    async stop() {
      abort.abort(new Error('stopping'));
      const reports = await Promise.all(runs);
      await Promise.all(pickers.map((p) => p.stop()));
      await committer.close();
      return reports;
    },
  };
}
