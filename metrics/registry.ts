// One Prometheus registry per process. Every metric a component defines goes into the registry
// it is given (never prom-client's global one), so tests and the one-process local pipeline
// never see another instance's series.
import { Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsRegistryOptions {
  /** Adds `component="<name>"` to every series. */
  component: string;
  /** Node.js process metrics (CPU, memory, event loop lag, GC) under `zkp_process_`/`zkp_nodejs_`. Default true. */
  processMetrics?: boolean;
}

export function createMetricsRegistry(options: MetricsRegistryOptions): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component: options.component });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'zkp_' });
  return registry;
}

/** Histogram buckets for step durations, seconds: 1 ms (digest payload) to 1 h (a slow GPU proof). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
