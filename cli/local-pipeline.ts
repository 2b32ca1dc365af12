// A whole pipeline in one place: the core, the gateway, basic witness generation and a prover
// for every pair, on the real Kafka, Redis and object store. The README's main job, the
// end-to-end tests and the benchmark all start it from here.
import { Kafka, logLevel } from 'kafkajs';
import Redis from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningCore, startCore } from '../core/main';
import { endpoints } from '../lib/endpoints';
import { Logger, loggerFor } from '../lib/logger';
import { ProtocolVersion } from '../lib/protocol-version';
import { DigestPayload } from '../payload/digest';
import { ProofPayload } from '../payload/payload';
import { ObjectStore, createObjectStore } from '../storage';
import { AggregationCounters, batchRunKey } from '../aggregation';
import { Pair, allPairs, leafIdForBasic } from '../topics/catalog';
import { DEFAULT_GEOMETRY, Geometry } from '../topics/geometry';
import { ensureTopics } from '../topics/admin';
import { RunningProverProcess, startProverProcess } from '../consumers/prover-process';
import { StageObserver } from '../consumers/prover-stage';
import { CoreClient } from '../producers/core-client';
import { GatewayObserver, RunningGateway, startGateway } from '../producers/gateway';
import { ProcessMetrics } from '../metrics';
import { finalProofsGroup } from '../metrics/consumer-lag';
import { opsContext } from '../ops/context';
import { watchStuckWork } from '../ops/stuck-watch';

export interface LocalPipelineOptions {
  version: ProtocolVersion;
  /** Batches the core seals at start. */
  batches: number;
  basicJobsPerBatch: number;
  circuitIds?: number[];
  geometry?: Geometry;
  seed?: string;
  payload?: ProofPayload;
  /** Prover store URL; default a fresh temporary folder. */
  storeUrl?: string;
  /** Core store URL; default a fresh temporary folder. */
  coreStoreUrl?: string;
  /** Prover processes to run in this process (each with its own consumers); default 1. */
  provers?: number;
  concurrency?: number;
  /** Proof outcomes saved together (startProverProcess's saveBatchSize). */
  saveBatchSize?: number;
  stageObserver?: StageObserver;
  gatewayObserver?: GatewayObserver;
  instancePrefix?: string;
  /** Serve /metrics for the whole pipeline (one registry) on this port, 0 = a free one; undefined = no metrics. */
  metricsPort?: number;
  /** Default 127.0.0.1. */
  metricsHost?: string;
  /** Warn about (and count in the metrics) work waiting longer than this; undefined = no watchdog. */
  stuckAfterMs?: number;
  /** How long one consumer lag measurement is reused. Default 5000 ms. */
  metricsLagCacheMs?: number;
  logger?: Logger;
}

export interface LocalPipeline {
  core: RunningCore;
  coreClient: CoreClient;
  kafka: Kafka;
  redis: Redis;
  store: ObjectStore;
  counters: AggregationCounters;
  provers: RunningProverProcess[];
  gateway: RunningGateway;
  /** The pipeline's metrics when `metricsPort` was given; `metrics.url` is its /metrics endpoint. */
  metrics: ProcessMetrics | null;
  /** Resolves when the core has accepted a final proof for every batch in `batchNumbers`. */
  waitForProven(batchNumbers: number[], timeoutMs: number, onPoll?: () => void): Promise<void>;
  stop(): Promise<void>;
}

export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: endpoints.kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
}

/** Pairs that batches over `circuitIds` can need. */
export function pairsFor(circuitIds: number[] | undefined): Pair[] {
  if (!circuitIds) return allPairs();
  const leafIds = new Set(circuitIds.map(leafIdForBasic));
  return allPairs().filter((p) => {
    if (p.round === 0) return circuitIds.includes(p.circuitId);
    if (p.round === 1 || p.round === 2) return leafIds.has(p.circuitId);
    return true;
  });
}

export async function startLocalPipeline(o: LocalPipelineOptions): Promise<LocalPipeline> {
  const log = o.logger ?? loggerFor('local-pipeline');
  const payload = o.payload ?? new DigestPayload();
  const tmp = () => `file://${mkdtempSync(join(tmpdir(), 'zkp-'))}`;
  const store = createObjectStore(o.storeUrl ?? tmp());
  const kafka = kafkaClient(o.instancePrefix ?? 'local-pipeline');
  const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 3 });
  const counters = new AggregationCounters(redis);
  // The core started below seals batches 1..N again: counters an earlier local run of this
  // version left for those numbers are stale and would conflict with the new plans.
  for (let b = 1; b <= o.batches; b++) await counters.clear(batchRunKey(o.version, b, 0));
  const pairs = pairsFor(o.circuitIds);
  await ensureTopics(kafka, o.version, { pairs, logger: log });
  const metrics = o.metricsPort === undefined ? null : new ProcessMetrics({ component: 'local', kafka, lagCacheMs: o.metricsLagCacheMs, logger: log });
  const core = await startCore({
    port: 0,
    store: o.coreStoreUrl ?? tmp(),
    seed: o.seed ?? 'local',
    batches: o.batches,
    basicJobs: o.basicJobsPerBatch,
    circuitIds: o.circuitIds,
    version: o.version,
    payload,
    // Long enough that a batch still being proven is not handed out again.
    leaseMs: 15 * 60_000,
    metrics: metrics ?? undefined,
    logger: log.child({ part: 'core' }),
  });
  const coreClient = new CoreClient(core.url, 'local-gateway');
  const provers: RunningProverProcess[] = [];
  for (let i = 0; i < (o.provers ?? 1); i++) {
    provers.push(
      await startProverProcess({
        kafka,
        redis,
        store,
        payload,
        version: o.version,
        pairs,
        basicWitnessGeneration: true,
        geometry: o.geometry ?? DEFAULT_GEOMETRY,
        instanceId: `${o.instancePrefix ?? 'local'}-prover-${i}`,
        concurrency: o.concurrency,
        saveBatchSize: o.saveBatchSize,
        observer: o.stageObserver,
        metrics: metrics?.prover,
      }),
    );
  }
  const gateway = await startGateway({ kafka, store, core: coreClient, payload, version: o.version, instanceId: `${o.instancePrefix ?? 'local'}-gateway`, observer: o.gatewayObserver, metrics: metrics?.gateway, pollIntervalMs: 200 });
  const stuckWatch =
    o.stuckAfterMs === undefined ? null : watchStuckWork(opsContext({ kafka, redis, store, version: o.version, core: coreClient }), { olderThanMs: o.stuckAfterMs, registry: metrics?.registry, logger: log });
  if (metrics) {
    metrics.watchGroups([finalProofsGroup(o.version)]);
    await metrics.serve(o.metricsPort!, o.metricsHost);
  }

  return {
    core,
    coreClient,
    kafka,
    redis,
    store,
    counters,
    provers,
    gateway,
    metrics,
    async waitForProven(batchNumbers, timeoutMs, onPoll) {
      const deadline = Date.now() + timeoutMs;
      const pending = new Set(batchNumbers);
      while (pending.size > 0) {
        for (const n of [...pending]) if ((await coreClient.batchStatus(n)).state === 'proven') pending.delete(n);
        onPoll?.();
        if (pending.size === 0) break;
        if (Date.now() > deadline) throw new Error(`batches ${[...pending].join(', ')} not proven within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await stuckWatch?.stop();
      await gateway.stop();
      await Promise.all(provers.map((p) => p.stop()));
      await core.close();
      await metrics?.close();
      redis.disconnect();
    },
  };
}
