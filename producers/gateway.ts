// The prover gateway: the only prover component that talks to the core. It polls the core for
// unproven batches, stores each batch's input in the prover's store and emits its BatchJob;
// and it consumes final proofs and submits them to the core, committing each final proof's
// offset only once the core has answered.
import { Kafka, Producer } from 'kafkajs';
import { Logger, loggerFor } from '../lib/logger';
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { JobRunner, JobRunReport, sleep } from '../processor';
import { Executor } from '../processor/executor';
import { JobOutcome, JobSaver } from '../processor/job-saver';
import { ProofPayload } from '../payload/payload';
import { BatchJob, FinalProof, decode, encode } from '../schemas';
import { ObjectStore } from '../storage';
import { batchesTopic, consumerGroup, finalProofsTopic } from '../topics/naming';
import { deadLetterRecord, PermanentJobError } from '../consumers/dead-letters';
import { batchJobId, objectKeys } from '../consumers/job-identity';
import { KafkaJobMeta, KafkaJobPicker } from '../consumers/kafka/kafka-job-picker';
import { TransactionalCommitter } from '../consumers/kafka/transactional-committer';
import { CoreClient, SubmitResult } from './core-client';
import type { GatewayProcessMetrics } from '../metrics/gateway-metrics';

export interface GatewayObserver {
  batchEmitted?(job: BatchJob): void;
  finalProofSubmitted?(batchNumber: number, result: SubmitResult): void;
}

export interface GatewayOptions {
  kafka: Kafka;
  store: ObjectStore;
  core: CoreClient;
  payload: ProofPayload;
  version: ProtocolVersion;
  instanceId: string;
  pollIntervalMs?: number;
  observer?: GatewayObserver;
  /** Prometheus metrics (metrics/): fed by the observer, the runner listener and the committer. */
  metrics?: GatewayProcessMetrics;
  logger?: Logger;
}

export interface RunningGateway {
  stop(): Promise<void>;
}

/** Refuses to start a component whose verification keys differ from the ones the core registered for its version. */
export async function checkVerificationKeys(core: CoreClient, payload: ProofPayload, version: ProtocolVersion): Promise<void> {
  const registered = await core.protocolVersions();
  const entry = registered.find((v) => sameVersion(v, version));
  if (!entry) throw new Error(`the core does not accept protocol ${formatVersion(version)} (it accepts ${registered.map(formatVersion).join(', ') || 'none'})`);
  await payload.prepare(version);
  const ours = payload.verificationKeysHash(version);
  if (entry.verification_keys_hash !== ours) {
    throw new Error(`verification keys of ${formatVersion(version)} differ from the core's: ours ${ours}, registered ${entry.verification_keys_hash}`);
  }
}

class SubmitExecutor implements Executor<FinalProof, KafkaJobMeta<FinalProof>, SubmitResult> {
  constructor(private readonly o: GatewayOptions) {}
  async execute(proof: FinalProof): Promise<SubmitResult> {
    if (!sameVersion(proof.protocol_version, this.o.version)) throw new PermanentJobError(`final proof of ${formatVersion(proof.protocol_version)} on a ${formatVersion(this.o.version)} gateway`, 'version-mismatch');
    return this.o.core.submitProof(proof.batch_number, proof.protocol_version, proof.proof);
  }
}

class SubmitSaver implements JobSaver<KafkaJobMeta<FinalProof>, SubmitResult> {
  constructor(
    private readonly o: GatewayOptions,
    private readonly committer: TransactionalCommitter,
    private readonly log: Logger,
  ) {}

  async save(outcome: JobOutcome<KafkaJobMeta<FinalProof>, SubmitResult>): Promise<void> {
    const meta = outcome.metadata;
    const completion = { groupId: meta.groupId, topic: meta.topic, partition: meta.partition, offset: meta.offset };
    const identity = { protocolVersion: meta.job.protocol_version, batchNumber: meta.job.batch_number, jobId: meta.job.job_id };
    if (!outcome.ok && !(outcome.error instanceof PermanentJobError)) {
      // The core is unreachable or failing: keep the offset, try again.
      this.log.warn({ batch: meta.job.batch_number, err: outcome.error.message }, 'submitting final proof failed');
      throw outcome.error;
    }
    const result: SubmitResult = outcome.ok ? outcome.output : { status: 'rejected', reason: outcome.error.message };
    this.o.observer?.finalProofSubmitted?.(meta.job.batch_number, result);
    if (result.status === 'rejected') {
      this.log.error({ batch: meta.job.batch_number, reason: result.reason }, 'core rejected the final proof');
      const error = new PermanentJobError(`core rejected the final proof: ${result.reason}`, 'rejected-by-core');
      await this.committer.submit([deadLetterRecord(this.o.version, meta, error, 'gateway', 1, identity)], [completion]);
      return;
    }
    this.log.info({ batch: meta.job.batch_number, status: result.status }, 'core accepted the final proof');
    await this.committer.submit([], [completion]);
  }
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const o: GatewayOptions = options.metrics ? { ...options, observer: options.metrics.observer(options.observer) } : options;
  const log = o.logger ?? loggerFor('gateway', { version: formatVersion(o.version) });
  await checkVerificationKeys(o.core, o.payload, o.version);
  const producer: Producer = o.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const committer = new TransactionalCommitter(o.kafka, {
    transactionalId: `zkp.${formatVersion(o.version)}.gateway.${o.instanceId}`,
    logger: log,
    onFatal: (e) => {
      log.fatal({ err: e.message }, 'cannot commit; exiting');
      process.exit(1);
    },
  });
  await committer.start();
  o.metrics?.watchCommitter(committer);

  const abort = new AbortController();
  const pollLoop = (async () => {
    while (!abort.signal.aborted) {
      let got = false;
      try {
        got = await emitNextBatch(o, producer, log);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'polling the core failed');
      }
      if (!got) await sleep(o.pollIntervalMs ?? 500, abort.signal);
    }
  })();

  const topic = finalProofsTopic(o.version);
  const picker = new KafkaJobPicker<FinalProof>({
    kafka: o.kafka,
    groupId: consumerGroup(topic),
    topics: [topic],
    committer,
    decode: (v) => decode('FinalProof', v),
    onUndecodable: (m, e) => [deadLetterRecord(o.version, m, e, 'gateway', 1)],
    queueSize: 4,
    logger: log,
  });
  const runner = new JobRunner(picker, new SubmitExecutor(o), new SubmitSaver(o, committer, log), {
    name: topic,
    idleBackoff: { initialMs: 0, factor: 1, maxMs: 0 },
    saveRetry: { maxAttempts: Infinity, backoff: { initialMs: 500, factor: 2, maxMs: 10_000 } },
    listener: o.metrics?.runnerListener(),
    logger: log,
  });
  await picker.start();
  const submitRun: Promise<JobRunReport<unknown>> = runner.run(abort.signal) as Promise<JobRunReport<unknown>>;
  log.info({ core: o.core.baseUrl }, 'gateway started');

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        abort.abort(new Error('stopping'));
        await pollLoop;
        await submitRun;
        await picker.stop();
        await committer.close();
        await producer.disconnect();
      })();
      return stopping;
    },
  };
}

/** Takes one batch from the core, stores its input, emits its job. Returns false when the core had none. */
async function emitNextBatch(o: GatewayOptions, producer: Producer, log: Logger): Promise<boolean> {
  const batch = await o.core.nextBatch([o.version]);
  if (!batch) return false;
  const run = { protocolVersion: batch.protocolVersion, batchNumber: batch.batchNumber, runId: 0 };
  const inputKey = objectKeys.input(run);
  await o.store.put(inputKey, batch.input);
  const job: BatchJob = {
    protocol_version: batch.protocolVersion,
    batch_number: batch.batchNumber,
    job_id: batchJobId(run),
    run_id: 0,
    input_key: inputKey,
    batch_commitment: batch.batchCommitment,
    created_at_ms: Date.now(),
  };
  await producer.send({ topic: batchesTopic(o.version), acks: -1, messages: [{ key: job.job_id, value: encode('BatchJob', job) }] });
  log.info({ batch: batch.batchNumber }, 'batch taken from the core and emitted');
  o.observer?.batchEmitted?.(job);
  return true;
}
