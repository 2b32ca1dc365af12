// Prometheus metrics of the pipeline: one registry per process, a /metrics endpoint, the
// hooks that feed it, consumer lag and the autoscaling signal. See docs/metrics.md.
import { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { Logger } from '../lib/logger';
import type { BatchRegistry } from '../core/batch-registry';
import { ScalerSettings } from './autoscaling';
import { ConsumerLagCollector } from './consumer-lag-collector';
import { WatchedGroup } from './consumer-lag';
import { registerCoreMetrics } from './core-metrics';
import { GatewayMetrics } from './gateway-metrics';
import { ProverMetrics } from './prover-metrics';
import { createMetricsRegistry } from './registry';
import { MetricsServer, startMetricsServer } from './server';

export * from './autoscaling';
export * from './consumer-lag';
export { ConsumerLagCollector } from './consumer-lag-collector';
export { registerCoreMetrics } from './core-metrics';
export { GatewayMetrics, type GatewayProcessMetrics } from './gateway-metrics';
export { ProverMetrics, type ProverProcessMetrics } from './prover-metrics';
export { DURATION_BUCKETS, createMetricsRegistry } from './registry';
export { parseMetricsPort, startMetricsServer, type MetricsServer } from './server';

export interface ProcessMetricsOptions {
  /** The `component` label of every series: prover, gateway, core, local. */
  component: string;
  /** Enables the consumer lag gauges and `zkp_recommended_replicas` for the watched groups. */
  kafka?: Kafka;
  /** The KEDA rule's settings behind `zkp_recommended_replicas`. */
  scaler?: Partial<ScalerSettings>;
  /** How long one lag measurement is reused. Default 5000 ms. */
  lagCacheMs?: number;
  /** Node.js process metrics. Default true. */
  processMetrics?: boolean;
  logger?: Logger;
}

/** The metrics of one process: its registry and the parts its components feed. */
export class ProcessMetrics {
  readonly registry: Registry;
  readonly lag: ConsumerLagCollector | null;
  private proverMetrics: ProverMetrics | null = null;
  private gatewayMetrics: GatewayMetrics | null = null;
  private server: MetricsServer | null = null;

  constructor(private readonly o: ProcessMetricsOptions) {
    this.registry = createMetricsRegistry({ component: o.component, processMetrics: o.processMetrics });
    this.lag = o.kafka ? new ConsumerLagCollector({ kafka: o.kafka, registry: this.registry, cacheMs: o.lagCacheMs, scaler: o.scaler, logger: o.logger }) : null;
  }

  /** Job, step, dead letter, retry and committer metrics (created on first use). */
  get prover(): ProverMetrics {
    return (this.proverMetrics ??= new ProverMetrics(this.registry, this.lag ?? undefined));
  }

  get gateway(): GatewayMetrics {
    return (this.gatewayMetrics ??= new GatewayMetrics(this.registry, this.prover));
  }

  /** The core's batch metrics, read from its registry on scrape. */
  watchCore(batches: BatchRegistry): void {
    registerCoreMetrics(this.registry, batches);
  }

  watchGroups(groups: WatchedGroup[]): void {
    this.lag?.watch(groups);
  }

  /** Starts the /metrics endpoint (port 0: a free one); logs its URL. */
  async serve(port: number, host?: string): Promise<MetricsServer> {
    if (this.server) throw new Error(`metrics already served at ${this.server.url}`);
    this.server = await startMetricsServer(this.registry, { port, host, logger: this.o.logger });
    return this.server;
  }

  get url(): string | null {
    return this.server?.url ?? null;
  }

  /** Stops the endpoint and the lag collector's admin client. */
  async close(): Promise<void> {
    await this.server?.close();
    await this.lag?.close();
  }
}
