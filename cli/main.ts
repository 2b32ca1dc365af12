// One entry point for every role:
//   local     a whole pipeline in this process, proving a few batches end to end (the main job)
//   prover    consumers of one prover group's pair topics (and basic witness generation); --split: a zone's prover
//   wvg       witness vector generation for one zone's provers (split deployment, docs/pipeline.md "Zones")
//   gateway   core <-> Kafka
//   core      the rollup node's side (its own process and store)
//   topics    create the topics of a protocol version
//   ops       operator commands (status, topics, groups, dead-letters, requeue, stuck, replay): cli/ops.ts
//   dashboard the operator dashboard (a web page with live updates): cli/dashboard.ts, dashboard/
import Redis from 'ioredis';
import { main as coreMain } from '../core/main';
import { endpoints, localDir } from '../lib/endpoints';
import { loggerFor, rootLogger } from '../lib/logger';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion, formatVersion, parseVersion } from '../lib/protocol-version';
import { installSignalHandlers } from '../processor';
import { DigestPayload } from '../payload/digest';
import { NativePayload } from '../payload/native';
import { ProofPayload } from '../payload/payload';
import { createObjectStore } from '../storage';
import { ensureTopics } from '../topics/admin';
import { Geometry, loadGeometry } from '../topics/geometry';
import { defaultProverGroups, isKnownGroup, pairsForGroup, runsBatchWitnessGeneration } from '../topics/prover-groups';
import { PlanCache } from '../consumers/batch-plan';
import { startProverProcess } from '../consumers/prover-process';
import { CoreClient } from '../producers/core-client';
import { checkVerificationKeys, startGateway } from '../producers/gateway';
import { ParsedArgs, UsageError, intFlag, listFlag, parseArgs, stringFlag } from './args';
import { kafkaClient, pairsFor, startLocalPipeline } from './local-pipeline';
import { Pair, pairKey } from '../topics/catalog';
import { ProgressBoard } from './progress';
import { ProcessMetrics, parseMetricsPort } from '../metrics';
import { finalProofsGroup } from '../metrics/consumer-lag';
import { opsMain } from './ops';
import { opsContext, watchStuckWork } from '../ops';
import { PayloadName, localRunShape, payloadNameOf } from './local-shape';
import { zoneRoleOf } from './zone-role';
import { DASHBOARD_USAGE, portFlag, runDashboard, startPipelineDashboard } from './dashboard';

const USAGE = `usage: cli/main.ts <command> [flags]

  local    [--payload native|digest (default native)] [--batches 3] [--basic-jobs N] [--circuit-ids 1,2,..]
           [--leaf-arity N] [--node-arity N] [--tip-capacity N] [--version 24.0] [--seed local] [--timeout-s 900]
           [--metrics-port N (default off)] [--stuck-after-s 300] [--dashboard-port N (default off; 0 = a free port)]
           native defaults: 6 basic jobs a batch over circuit ids 1,3, arities 2/2, tip capacity = types
           digest defaults: 300 basic jobs a batch over every type, the geometry file's arities (32/32)
  prover   --instance NAME [--group N] [--exclude-group N,..] [--version 24.0] [--zone Z] [--store URL] [--concurrency 8] [--save-batch 4]
           [--circuit-ids 1,2,..] [--session-timeout-ms 30000] [--core-url URL (checks verification keys)]
           [--metrics-port N|off (default 0: a free port)] [--metrics-host 127.0.0.1]
           [--split --zone Z: prove only the witness vectors zone Z's wvg processes hand off]
  wvg      --instance NAME --zone Z [the prover flags but --split]: witness and witness vector generation
           on the pair topics (and basic witness generation), handing each vector to zone Z's provers
  gateway  --instance NAME [--version 24.0] [--core-url URL] [--store URL] [--metrics-port N|off] [--metrics-host H]
           [--stuck-after-s 600 (0 = off): warn about, and count, work waiting longer]
  core     [core flags: see core/main.ts --help]
  topics   [--version 24.0] [--group N]
  ops      <status|topics|groups|dead-letters|requeue|stuck|replay> [flags] [--json]   (cli/main.ts ops --help)
           status, groups, dead-letters, requeue, stuck and replay also work without "ops"
  ${DASHBOARD_USAGE}

Services: Kafka ${endpoints.kafkaBrokers.join(',')}, Redis ${endpoints.redisUrl} (override with KAFKA_BROKERS, REDIS_URL).`;

function versionOf(args: ParsedArgs): ProtocolVersion {
  return parseVersion(stringFlag(args, 'version', `${DEFAULT_PROTOCOL_VERSION.minor}.${DEFAULT_PROTOCOL_VERSION.patch}`));
}

/** `--metrics-port` (N, 0 = a free port, or "off"); `fallback` when absent, null = off. */
function metricsPortOf(args: ParsedArgs, fallback: number | null): number | null {
  try {
    return parseMetricsPort(args.flags.get('metrics-port'), fallback);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The proof payload of a run: `digest` (hash commitments) or `native` (plonky2 proofs; its circuits take the run's geometry). */
function payloadOf(name: PayloadName, geometry: Geometry): ProofPayload {
  if (name === 'digest') return new DigestPayload();
  return new NativePayload({ leafArity: geometry.leafArity, nodeArity: geometry.nodeArity, tipCapacity: geometry.tipCapacity });
}

/** A role's payload: `--payload` (default digest), with the geometry file's arities. */
function rolePayloadOf(args: ParsedArgs): ProofPayload {
  return payloadOf(payloadNameOf(args, 'digest'), loadGeometry());
}

const defaultStoreUrl = () => `file://${localDir}/prover-store`;

async function runLocal(args: ParsedArgs): Promise<void> {
  // The progress board owns the terminal; logs only for trouble unless asked.
  rootLogger.level = process.env.LOG_LEVEL ?? 'warn';
  const shape = localRunShape(args, loadGeometry());
  const count = shape.batches;
  const version = versionOf(args);
  const runId = `${Date.now().toString(36)}`;
  const batches = Array.from({ length: count }, (_, i) => i + 1);
  const board = new ProgressBoard(process.stdout, batches);
  const accepted: number[] = [];
  // A dead-lettered job stalls its batch until an operator requeues it: the main job stops and says why.
  let failure: string | undefined;
  const g = shape.geometry;
  console.log(
    `Proving ${count} batches of protocol ${formatVersion(version)} with the ${shape.payload} payload ` +
      `(${shape.basicJobsPerBatch} basic jobs a batch, arities ${g.leafArity}/${g.nodeArity}) on Kafka ${endpoints.kafkaBrokers.join(',')} and Redis ${endpoints.redisUrl}`,
  );
  if (shape.payload === 'native') console.log('building the circuits (once per process; tens of seconds)...');
  const pipeline = await startLocalPipeline({
    version,
    batches: count,
    basicJobsPerBatch: shape.basicJobsPerBatch,
    circuitIds: shape.circuitIds,
    geometry: g,
    seed: stringFlag(args, 'seed', 'local'),
    payload: payloadOf(shape.payload, g),
    storeUrl: `file://${localDir}/runs/${runId}/prover-store`,
    coreStoreUrl: `file://${localDir}/runs/${runId}/core-store`,
    instancePrefix: `local-${runId}`,
    metricsPort: metricsPortOf(args, null) ?? undefined,
    metricsHost: args.flags.has('metrics-host') ? stringFlag(args, 'metrics-host', '127.0.0.1') : undefined,
    stuckAfterMs: intFlag(args, 'stuck-after-s', 300, 1) * 1000,
    stageObserver: {
      jobSaved: (job) => board.jobSaved(job),
      deadLettered: (job, reason) => {
        failure ??= `${job ? `job ${job.job_id}` : 'a batch job'} went to the dead letter topic: ${reason}`;
      },
    },
    gatewayObserver: {
      finalProofSubmitted: (batch, result) => {
        if (result.status !== 'rejected') {
          board.markAccepted(batch);
          if (!accepted.includes(batch)) accepted.push(batch);
        }
      },
    },
  });
  if (pipeline.metrics) console.log(`metrics: ${pipeline.metrics.url}`);
  const dashboard = args.flags.has('dashboard-port')
    ? await startPipelineDashboard(pipeline, version, portFlag(args, 'dashboard-port', 0)).catch(async (e) => {
        await pipeline.stop();
        throw e;
      })
    : null;
  if (dashboard) console.log(`dashboard: ${dashboard.url}`);
  const plans = new PlanCache(pipeline.store);
  const timer = setInterval(() => {
    for (const b of batches) {
      if (!board.hasPlan(b)) plans.get({ protocolVersion: version, batchNumber: b, runId: 0 }).then((p) => board.setPlan(b, p), () => undefined);
    }
    board.render();
  }, 500);
  try {
    await pipeline.waitForProven(batches, intFlag(args, 'timeout-s', 900, 1) * 1000, () => {
      if (failure) throw new Error(`${failure}\n(see: npx tsx cli/main.ts dead-letters --version ${formatVersion(version)})`);
    });
  } finally {
    clearInterval(timer);
    board.render();
    await dashboard?.close();
    await pipeline.stop();
  }
  for (const b of batches) console.log(`batch ${b}: the core accepted its final proof`);
  console.log(`all ${count} batches proven; data under ${localDir}/runs/${runId}`);
}

async function runProver(args: ParsedArgs, command: 'prover' | 'wvg' = 'prover'): Promise<void> {
  const { role, zone } = zoneRoleOf(args, command);
  const version = versionOf(args);
  const instance = stringFlag(args, 'instance', '');
  if (!instance) throw new UsageError('prover needs --instance NAME (stable across restarts: it names the transactional id)');
  const group = intFlag(args, 'group', -1, -1);
  // --exclude-group: leave these groups' pairs (and basic witness generation, when its group is
  // excluded) to their own processes, e.g. "--exclude-group 1" serves every pair but group 1's.
  const excluded = listFlag(args, 'exclude-group') ?? [];
  const unknownExcluded = excluded.filter((g) => !isKnownGroup(g));
  if (unknownExcluded.length > 0) throw new UsageError(`--exclude-group: unknown prover group(s) ${unknownExcluded.join(', ')}`);
  const excludedPairs = new Set(excluded.flatMap((g) => pairsForGroup(g)).map(pairKey));
  const pairs = pairsForGroup(group).filter((p) => !excludedPairs.has(pairKey(p)));
  const log = loggerFor('prover', { version: formatVersion(version), instance, group, ...(excluded.length > 0 ? { excluded } : {}) });
  const kafka = kafkaClient(`prover-${instance}`);
  const redis = new Redis(endpoints.redisUrl);
  const payload = rolePayloadOf(args);
  if (args.flags.has('core-url')) {
    await checkVerificationKeys(new CoreClient(stringFlag(args, 'core-url', endpoints.coreApiUrl), instance), payload, version);
  }
  // Handlers first: a SIGTERM during start-up still ends in a clean stop.
  const signals = installSignalHandlers({ onSignal: (s) => log.info({ signal: s }, 'stopping') });
  const metrics = await serveMetrics(args, 'prover', kafka, log);
  const running = await startProverProcess({
    kafka,
    redis,
    store: createObjectStore(stringFlag(args, 'store', defaultStoreUrl())),
    payload,
    version,
    pairs: restrictPairs(pairs, listFlag(args, 'circuit-ids')),
    basicWitnessGeneration: role !== 'prover' && !args.flags.has('no-basic-wg') && runsBatchWitnessGeneration(group) && !excluded.includes(defaultProverGroups().batchWitnessGenerationGroup),
    geometry: loadGeometry(),
    instanceId: instance,
    role,
    zone,
    concurrency: intFlag(args, 'concurrency', 8, 1),
    saveBatchSize: intFlag(args, 'save-batch', 4, 1),
    sessionTimeoutMs: intFlag(args, 'session-timeout-ms', 30_000, 1000),
    metrics: metrics?.prover,
    logger: log,
  });
  if (!signals.signal.aborted) await new Promise((r) => signals.signal.addEventListener('abort', r, { once: true }));
  await running.stop();
  await metrics?.close();
  redis.disconnect();
  log.info('stopped');
}

/** Only the pairs batches over these basic circuit ids can need (all when not given). */
function restrictPairs(pairs: Pair[], circuitIds: number[] | undefined): Pair[] {
  if (!circuitIds) return pairs;
  const keep = new Set(pairsFor(circuitIds).map(pairKey));
  return pairs.filter((p) => keep.has(pairKey(p)));
}

async function runGateway(args: ParsedArgs): Promise<void> {
  const version = versionOf(args);
  const instance = stringFlag(args, 'instance', 'gateway');
  const log = loggerFor('gateway', { version: formatVersion(version) });
  const signals = installSignalHandlers({ onSignal: (s) => log.info({ signal: s }, 'stopping') });
  const kafka = kafkaClient(`gateway-${instance}`);
  const metrics = await serveMetrics(args, 'gateway', kafka, log);
  metrics?.watchGroups([finalProofsGroup(version)]);
  const store = createObjectStore(stringFlag(args, 'store', defaultStoreUrl()));
  const core = new CoreClient(stringFlag(args, 'core-url', endpoints.coreApiUrl), instance);
  // The gateway (one per version) also watches for stuck work: a warning and a gauge, unasked.
  const stuckAfterS = intFlag(args, 'stuck-after-s', 600, 0);
  const redis = stuckAfterS > 0 ? new Redis(endpoints.redisUrl) : null;
  const stuckWatch = redis ? watchStuckWork(opsContext({ kafka, redis, store, version, core }), { olderThanMs: stuckAfterS * 1000, registry: metrics?.registry, logger: log }) : null;
  const running = await startGateway({
    kafka,
    store,
    core,
    payload: rolePayloadOf(args),
    version,
    instanceId: instance,
    metrics: metrics?.gateway,
    logger: log,
  });
  if (!signals.signal.aborted) await new Promise((r) => signals.signal.addEventListener('abort', r, { once: true }));
  await running.stop();
  await stuckWatch?.stop();
  redis?.disconnect();
  await metrics?.close();
}

/** A role's metrics, served on `--metrics-port` (default 0: a free port, logged) unless "off". */
async function serveMetrics(args: ParsedArgs, component: string, kafka: ReturnType<typeof kafkaClient>, log: ReturnType<typeof loggerFor>): Promise<ProcessMetrics | null> {
  const port = metricsPortOf(args, 0);
  if (port === null) return null;
  const metrics = new ProcessMetrics({ component, kafka, logger: log });
  await metrics.serve(port, args.flags.has('metrics-host') ? stringFlag(args, 'metrics-host', '127.0.0.1') : undefined);
  return metrics;
}

async function runTopics(args: ParsedArgs): Promise<void> {
  const version = versionOf(args);
  const result = await ensureTopics(kafkaClient('topics'), version, { pairs: pairsForGroup(intFlag(args, 'group', -1, -1)) });
  console.log(JSON.stringify(result, null, 2));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const args = parseArgs(rest);
    switch (command) {
      case 'local':
        await runLocal(args);
        return 0;
      case 'prover':
        await runProver(args);
        return 0;
      case 'wvg':
        await runProver(args, 'wvg');
        return 0;
      case 'gateway':
        await runGateway(args);
        return 0;
      case 'core':
        return await coreMain(rest);
      case 'topics':
        await runTopics(args);
        return 0;
      case 'ops':
        return await opsMain(rest);
      case 'dashboard':
        await runDashboard(args);
        return 0;
      case 'status':
      case 'groups':
      case 'dead-letters':
      case 'requeue':
      case 'stuck':
      case 'replay':
        return await opsMain(argv);
      default:
        console.error(USAGE);
        return command === undefined || command === '--help' ? 0 : 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
