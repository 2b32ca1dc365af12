// The `dashboard` role: the operator dashboard of one protocol version, served until SIGINT or
// SIGTERM; and the same page beside the main job (`local --dashboard-port N`). See docs/dashboard.md.
import Redis from 'ioredis';
import { endpoints, localDir } from '../lib/endpoints';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion, formatVersion, parseVersion } from '../lib/protocol-version';
import { installSignalHandlers } from '../processor';
import { createObjectStore } from '../storage';
import { CoreClient } from '../producers/core-client';
import { DashboardServer, startDashboard } from '../dashboard';
import { ParsedArgs, UsageError, intFlag, stringFlag } from './args';
import { LocalPipeline, kafkaClient } from './local-pipeline';

export const DEFAULT_DASHBOARD_PORT = 13070;

export const DASHBOARD_USAGE = `dashboard [--version 24.0] [--port ${DEFAULT_DASHBOARD_PORT} (0 = a free port)] [--host 127.0.0.1] [--core-url URL|none (default ${endpoints.coreApiUrl})]
           [--interval-ms 2000] [--store URL (prover store, default file://.local/prover-store)]`;

const FLAGS = new Set(['version', 'port', 'host', 'core-url', 'interval-ms', 'store']);

/** A port flag: 0..65535 (0 = a free port). */
export function portFlag(args: ParsedArgs, name: string, fallback: number): number {
  const port = intFlag(args, name, fallback, 0);
  if (port > 65535) throw new UsageError(`--${name} must be a port 0..65535`);
  return port;
}

export async function runDashboard(args: ParsedArgs): Promise<void> {
  const unknown = [...args.flags.keys()].filter((f) => !FLAGS.has(f));
  if (unknown.length > 0) throw new UsageError(`dashboard: unknown flag(s) ${unknown.map((f) => `--${f}`).join(', ')}`);
  const version: ProtocolVersion = args.flags.has('version') ? parseVersion(stringFlag(args, 'version', '')) : DEFAULT_PROTOCOL_VERSION;
  const coreUrl = stringFlag(args, 'core-url', endpoints.coreApiUrl);
  const signals = installSignalHandlers();
  const kafka = kafkaClient('dashboard');
  const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 1 });
  // Redis being down is shown on the page; the client keeps reconnecting meanwhile.
  redis.on('error', () => undefined);
  const dashboard = await startDashboard({
    kafka,
    redis,
    store: createObjectStore(stringFlag(args, 'store', `file://${localDir}/prover-store`)),
    version,
    core: coreUrl === 'none' ? undefined : new CoreClient(coreUrl, 'dashboard'),
    port: portFlag(args, 'port', DEFAULT_DASHBOARD_PORT),
    host: stringFlag(args, 'host', '127.0.0.1'),
    intervalMs: intFlag(args, 'interval-ms', 2000, 100),
  });
  console.log(`dashboard of protocol ${formatVersion(version)}: ${dashboard.url}`);
  if (!signals.signal.aborted) await new Promise((r) => signals.signal.addEventListener('abort', r, { once: true }));
  await dashboard.close();
  redis.disconnect();
}

/** The dashboard of a running local pipeline (the main job's `--dashboard-port`). */
export function startPipelineDashboard(pipeline: LocalPipeline, version: ProtocolVersion, port: number, host?: string): Promise<DashboardServer> {
  return startDashboard({ kafka: pipeline.kafka, redis: pipeline.redis, store: pipeline.store, version, core: pipeline.coreClient, port, host });
}
