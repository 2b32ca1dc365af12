// Metrics of the prover gateway: batches taken from the core and final proofs submitted, by the
// core's answer. Its consumer lag (the final-proofs topic) comes from the lag collector.
import { Counter, Registry } from 'prom-client';
import { formatVersion } from '../lib/protocol-version';
import type { JobRunnerListener } from '../processor/listener';
import type { GatewayObserver } from '../producers/gateway';
import type { BatchJob, FinalProof } from '../schemas';
import type { KafkaJobMeta } from '../consumers/kafka/kafka-job-picker';
import type { TransactionalCommitter } from '../consumers/kafka/transactional-committer';
import type { ProverMetrics } from './prover-metrics';

/** What producers/gateway.ts asks of the metrics it is given. */
export interface GatewayProcessMetrics {
  observer(inner?: GatewayObserver): GatewayObserver;
  /** The listener of the final-proof submitting JobRunner (its save retries: the core unreachable). */
  runnerListener(): JobRunnerListener<KafkaJobMeta<FinalProof>>;
  /** Counts the dead letters (final proofs the core rejected) and transactions the committer commits. */
  watchCommitter(committer: TransactionalCommitter): void;
}

export class GatewayMetrics implements GatewayProcessMetrics {
  private readonly emitted: Counter<string>;
  private readonly submitted: Counter<string>;

  /** `shared` holds the process-wide dead letter, retry and committer metrics. */
  constructor(registry: Registry, private readonly shared: ProverMetrics) {
    this.emitted = new Counter({ name: 'zkp_gateway_batches_emitted_total', help: 'Batches taken from the core and emitted as batch jobs.', labelNames: ['protocol_version'], registers: [registry] });
    this.submitted = new Counter({ name: 'zkp_gateway_final_proofs_submitted_total', help: 'Final proofs submitted to the core, by its answer (accepted, already_proven, rejected).', labelNames: ['status'], registers: [registry] });
  }

  /** A GatewayObserver that records the metrics and then calls `inner`. */
  observer(inner?: GatewayObserver): GatewayObserver {
    return {
      batchEmitted: (job: BatchJob) => {
        this.emitted.labels(formatVersion(job.protocol_version)).inc();
        inner?.batchEmitted?.(job);
      },
      finalProofSubmitted: (batchNumber, result) => {
        this.submitted.labels(result.status).inc();
        inner?.finalProofSubmitted?.(batchNumber, result);
      },
    };
  }

  runnerListener(): JobRunnerListener<KafkaJobMeta<FinalProof>> {
    return this.shared.runnerRetryListener();
  }

  watchCommitter(committer: TransactionalCommitter): void {
    this.shared.watchCommitter(committer);
  }
}
