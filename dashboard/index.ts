// The operator dashboard: a page with per-topic lag and throughput, each batch's progress
// through the rounds, dead letters, component health and the autoscaling signal, updated live.
// See docs/dashboard.md.
import { CollectorOptions, DashboardSources, SnapshotCollector } from './snapshot';
import { DashboardServer, DashboardServerOptions, startDashboardServer } from './server';

export * from './snapshot';
export * from './rates';
export { startDashboardServer, snapshotEvent, type DashboardServer, type DashboardServerOptions, type SnapshotSource } from './server';

export type DashboardOptions = DashboardSources & CollectorOptions & DashboardServerOptions;

/** Samples the pipeline of `version` every `intervalMs` and serves the dashboard; `url` is its page. */
export async function startDashboard(o: DashboardOptions): Promise<DashboardServer> {
  return startDashboardServer(new SnapshotCollector(o, o), o);
}
