// The core's process: batch source + batch registry + HTTP API on its own store.
//
//   tsx core/main.ts --port 13050 --store file:///abs/path --seed s --batches 10 \
//     --basic-jobs 100 --circuit-ids 1,2,3 --version 24.0 --lease-ms 60000 --seal-every-ms 0
//
// `startCore(options)` runs the same in-process (tests, local pipeline).
import { Server } from 'node:http';
import { endpoints } from '../lib/endpoints';
import { Logger, loggerFor } from '../lib/logger';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion, formatVersion, parseVersion, sameVersion } from '../lib/protocol-version';
import { DigestPayload } from '../payload/digest';
import { ProofPayload } from '../payload/payload';
import { BatchRegistry } from './batch-registry';
import { BatchSource } from './batch-source';
import { CoreApi } from './server';
import { CoreStore, DEFAULT_CORE_STORE_URL, openCoreStore } from './store';
import { ProcessMetrics } from '../metrics';
import { parseMetricsPort } from '../metrics/server';
import { listen } from '../lib/http-listen';

export interface CoreOptions {
  /** Port to listen on; 0 picks a free one. Default: the port of endpoints.coreApiUrl (13050). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** A store, or its URL (file:///path, gs://bucket). Default: file://<repo>/.local/core-store. */
  store?: CoreStore | string;
  /** Seed the batches are sealed from. Default "core". */
  seed?: string;
  /** Seal batches until batch `batches` exists, at start. Default 0. */
  batches?: number;
  /** Approximate basic circuit instances per batch. Default 100. */
  basicJobs?: number;
  /** Basic circuit ids batches may use. Default: all of the catalog. */
  circuitIds?: number[];
  /** Operations per basic instance. Default: generateBatch's. */
  instanceCapacity?: number;
  /** Version new batches are sealed under. Default: the first accepted version. */
  version?: ProtocolVersion;
  /** Versions the core accepts proofs of and hands batches out for. Default: [version] or [DEFAULT_PROTOCOL_VERSION]. */
  acceptedVersions?: ProtocolVersion[];
  /** How long a handed-out batch stays locked to its prover. Default 60000. */
  leaseMs?: number;
  /** When > 0, seal one more batch every this many ms. Default 0 (off). */
  sealEveryMs?: number;
  /** Highest batch number the periodic sealing goes to. Default: no limit. */
  maxBatches?: number;
  /** Default: DigestPayload. */
  payload?: ProofPayload;
  /** Largest request body, bytes. Default 32 MiB. */
  maxBodyBytes?: number;
  /** Clock, ms since the epoch (tests). Default Date.now. */
  now?: () => number;
  /** Serve /metrics on this port (0: a free one); undefined or null: no endpoint of its own. */
  metricsPort?: number | null;
  /** Address of the /metrics endpoint. Default 127.0.0.1. */
  metricsHost?: string;
  /** Report into this process's metrics instead (the one-process local pipeline). */
  metrics?: ProcessMetrics;
  logger?: Logger;
}

export interface RunningCore {
  /** Base URL of the API, e.g. http://127.0.0.1:13050 */
  url: string;
  port: number;
  registry: BatchRegistry;
  source: BatchSource;
  store: CoreStore;
  /** The core's own /metrics endpoint, when it serves one. */
  metricsUrl: string | null;
  /** Stops sealing, closes the server (open connections too) and waits for work under way. */
  close(): Promise<void>;
}

export function defaultCorePort(): number {
  const u = new URL(endpoints.coreApiUrl);
  return u.port === '' ? 80 : Number(u.port);
}

export async function startCore(options: CoreOptions = {}): Promise<RunningCore> {
  const log = options.logger ?? loggerFor('core');
  const accepted = options.acceptedVersions ?? [options.version ?? DEFAULT_PROTOCOL_VERSION];
  if (accepted.length === 0) throw new Error('the core must accept at least one protocol version');
  const version = options.version ?? accepted[0];
  if (!accepted.some((v) => sameVersion(v, version))) {
    throw new Error(`batches are sealed under ${formatVersion(version)}, which the core does not accept (${accepted.map(formatVersion).join(', ')})`);
  }
  const store = typeof options.store === 'object' ? options.store : openCoreStore(options.store ?? DEFAULT_CORE_STORE_URL);
  const payload = options.payload ?? new DigestPayload();
  // Circuits and keys are built off the event loop before the API serves them.
  for (const v of accepted) await payload.prepare(v);
  const registry = await BatchRegistry.open(store, { leaseMs: options.leaseMs ?? 60_000, servedVersions: accepted, now: options.now });
  const source = new BatchSource(store, registry, {
    seed: options.seed ?? 'core',
    version,
    basicJobs: options.basicJobs ?? 100,
    circuitIds: options.circuitIds,
    instanceCapacity: options.instanceCapacity,
    logger: log.child({ part: 'batch-source' }),
  });
  const reloaded = registry.summary();
  if (reloaded.total > 0) log.info({ ...reloaded }, 'reloaded batch records from the store');
  if (options.batches !== undefined && options.batches > 0) await source.sealUpTo(options.batches);

  const api = new CoreApi({
    registry,
    store,
    payload,
    acceptedVersions: accepted,
    logger: log.child({ part: 'api' }),
    maxBodyBytes: options.maxBodyBytes,
  });
  const server: Server = api.createServer();
  const host = options.host ?? '127.0.0.1';
  const { port, origin: url } = await listen(server, options.port ?? defaultCorePort(), host);
  let ownMetrics: ProcessMetrics | null = null;
  if (options.metrics) options.metrics.watchCore(registry);
  else if (options.metricsPort !== undefined && options.metricsPort !== null) {
    ownMetrics = new ProcessMetrics({ component: 'core', logger: log });
    ownMetrics.watchCore(registry);
    try {
      await ownMetrics.serve(options.metricsPort, options.metricsHost);
    } catch (e) {
      server.close();
      throw e;
    }
  }
  if (options.sealEveryMs !== undefined && options.sealEveryMs > 0) source.start(options.sealEveryMs, options.maxBatches);
  log.info(
    { url, store: store.describe?.() ?? 'custom', payload: payload.name, versions: accepted.map(formatVersion), lease_ms: registry.leaseMs, batches: registry.summary().total },
    'core listening',
  );

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      source.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await source.idle();
      await ownMetrics?.close();
      log.info({ url }, 'core stopped');
    })());
  return { url, port, registry, source, store, metricsUrl: ownMetrics?.url ?? null, close };
}

// ---------------------------------------------------------------------------------------------
// Command line

export class UsageError extends Error {
  override name = 'UsageError';
}

const USAGE = `usage: tsx core/main.ts [options]
  --port N             listen port (default ${defaultCorePort()}, 0 = any free port)
  --host H             listen address (default 127.0.0.1)
  --store URL          core store: file:///path or gs://bucket (default ${DEFAULT_CORE_STORE_URL})
  --seed S             batch seed (default "core")
  --batches N          seal until batch N exists, at start (default 0)
  --basic-jobs N       approximate basic circuit instances per batch (default 100)
  --circuit-ids LIST   basic circuit ids batches may use, e.g. 1,2,3 (default: all)
  --instance-capacity N operations per basic instance (default: generator's)
  --version V          version batches are sealed under, e.g. 24.0 (default ${formatVersion(DEFAULT_PROTOCOL_VERSION)})
  --accept-versions L  versions whose proofs are accepted, e.g. 24.0,25.0 (default: --version)
  --lease-ms N         lease of a handed-out batch (default 60000)
  --seal-every-ms N    seal one more batch every N ms (default 0: off)
  --max-batches N      stop periodic sealing at batch N (default: no limit)
  --metrics-port N     serve Prometheus /metrics on port N (0 = a free port, printed in the log; "off" = none; default 0)
  --metrics-host H     address of the /metrics endpoint (default 127.0.0.1)`;

function intArg(name: string, text: string, min = 0): number {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`--${name} expects an integer >= ${min}, got "${text}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} expects an integer >= ${min}, got "${text}"`);
  return n;
}

function versionArg(name: string, text: string): ProtocolVersion {
  try {
    return parseVersion(text);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

/** Parses the command line into options (without `payload`, `now`, `logger`). */
export function parseCoreArgs(argv: string[]): CoreOptions {
  const o: CoreOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE);
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq > 0 ? eq : undefined) : '';
    if (name === '') throw new UsageError(`unexpected argument "${arg}"\n${USAGE}`);
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    switch (name) {
      case 'port':
        o.port = intArg(name, value);
        if (o.port > 65535) throw new UsageError(`--port must be <= 65535, got ${value}`);
        break;
      case 'host':
        o.host = value;
        break;
      case 'store':
        o.store = value;
        break;
      case 'seed':
        o.seed = value;
        break;
      case 'batches':
        o.batches = intArg(name, value);
        break;
      case 'basic-jobs':
        o.basicJobs = intArg(name, value, 1);
        break;
      case 'circuit-ids':
        o.circuitIds = value.split(',').map((s) => intArg(name, s.trim()));
        break;
      case 'instance-capacity':
        o.instanceCapacity = intArg(name, value, 1);
        break;
      case 'version':
        o.version = versionArg(name, value);
        break;
      case 'accept-versions':
        o.acceptedVersions = value.split(',').map((s) => versionArg(name, s));
        break;
      case 'lease-ms':
        o.leaseMs = intArg(name, value, 1);
        break;
      case 'seal-every-ms':
        o.sealEveryMs = intArg(name, value);
        break;
      case 'max-batches':
        o.maxBatches = intArg(name, value);
        break;
      case 'metrics-port':
        try {
          o.metricsPort = parseMetricsPort(value, null);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        break;
      case 'metrics-host':
        o.metricsHost = value;
        break;
      default:
        throw new UsageError(`unknown option --${name}\n${USAGE}`);
    }
  }
  if (o.version && o.acceptedVersions && !o.acceptedVersions.some((v) => sameVersion(v, o.version!))) {
    o.acceptedVersions.push(o.version);
  }
  return o;
}

/**
 * Runs the core until SIGTERM or SIGINT; resolves with the exit code once it has stopped (0), or
 * at once on a usage error (2; 0 for --help). Start failures reject.
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const log = loggerFor('core');
  let options: CoreOptions;
  try {
    options = parseCoreArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(e.message + '\n');
      return argv.includes('--help') || argv.includes('-h') ? 0 : 2;
    }
    throw e;
  }
  // The role command serves /metrics unless told "--metrics-port off".
  const core = await startCore({ ...options, metricsPort: options.metricsPort === undefined ? 0 : options.metricsPort, logger: log });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      log.info({ signal }, 'stopping');
      core.close().then(
        () => resolve(0),
        (e: Error) => {
          log.error({ err: e }, 'stopping failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      loggerFor('core').fatal({ err: e }, 'core failed to start');
      process.stderr.write(`core failed to start: ${e.message}\n`);
      process.exit(1);
    },
  );
}
