// Pipeline throughput and latency: one batch of about --jobs basic jobs with the digest payload,
// through the real Kafka, Redis and a local-folder object store (in a temporary folder). The
// core, the gateway and the topics come from startLocalPipeline; the provers (basic witness
// generation and a consumer group per pair) run as --provers child processes of their own, or
// with --in-process inside this process, as startLocalPipeline's own provers.
//
//   npm run bench:pipeline -- [--jobs 10000] [--leaf-arity 32] [--node-arity 32]
//                             [--provers 1] [--in-process] [--concurrency 8] [--save-batch 4] [--timeout-s 600]
//
// Measured (see docs/benchmarks.md):
//   wall_s       from the gateway emitting the batch job (GatewayObserver.batchEmitted) to the
//                core accepting the final proof (GatewayObserver.finalProofSubmitted)
//   jobs         every job of every round: the batch plan's totalJobs
//   jobs_per_s   jobs / wall_s
//   hop_p50_ms / hop_p99_ms
//                per aggregation job (round >= 1): from the landing that triggered it
//                (ProverJob.triggered_at_ms) to the job starting (StageObserver.jobStarted)
//   peak_rss_mb  the largest resident set of any one process of the run (this one and the
//                prover children): sampled every 100 ms, and the kernel's high-water mark VmHWM
//
// Each run uses a protocol version of its own (minor 2000 + random), so its topics, consumer
// groups and Redis counters are its own; they and the folders are deleted at the end.
// Human-readable lines first; the last stdout line is the JSON summary.
import { rootLogger } from '../lib/logger';

// Before anything is started: pino writes to stdout, and the last stdout line must be the JSON.
rootLogger.level = process.env.LOG_LEVEL ?? 'warn';

import { ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { batchRunKey } from '../aggregation';
import { kafkaClient, LocalPipeline, pairsFor, startLocalPipeline } from '../cli/local-pipeline';
import { PlanCache } from '../consumers/batch-plan';
import { startProverProcess } from '../consumers/prover-process';
import { StageObserver } from '../consumers/prover-stage';
import { endpoints } from '../lib/endpoints';
import { formatVersion, ProtocolVersion } from '../lib/protocol-version';
import { DigestPayload } from '../payload/digest';
import { ProverJob } from '../schemas';
import { createObjectStore } from '../storage';
import { deleteVersionTopics } from '../topics/admin';
import { DEFAULT_GEOMETRY, Geometry } from '../topics/geometry';
import { batchesTopic, consumerGroup, finalProofsTopic, pairTopic } from '../topics/naming';

const USAGE =
  'usage: npm run bench:pipeline -- [--jobs 10000] [--leaf-arity 32] [--node-arity 32] [--provers 1] [--in-process] [--concurrency 8] [--save-batch 4] [--timeout-s 600]';

function intArg(name: string, fallback: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be an integer >= ${min}\n${USAGE}`);
    process.exit(2);
  }
  return v;
}

/** The q-quantile (nearest rank) of ascending `sorted`. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A line of /proc/<pid>/status in bytes (VmRSS, VmHWM), or null. */
function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mb = (n: number) => Math.round(n / (1024 * 1024));

// ------------------------------------------------------------------------------------------------
// Prover child process: one prover process (startProverProcess) that reports what it observes to
// the parent over IPC, batched every 100 ms.

interface ChildConfig {
  version: ProtocolVersion;
  storeUrl: string;
  geometry: Geometry;
  instanceId: string;
  concurrency: number;
  saveBatchSize: number;
}

/** [job id, round, circuit id, ms since epoch] */
type SaveEvent = [string, number, number, number];
/** [round, hop ms, ms since epoch] */
type StartEvent = [number, number, number];

type ChildMessage =
  | { type: 'ready' }
  | { type: 'events'; saves: SaveEvent[]; starts: StartEvent[] }
  | { type: 'stopped'; stats: CommitterStats; cpuS: number; hwm: number; heap: number; external: number };

type CommitterStats = Record<string, number>;
type Stopped = Extract<ChildMessage, { type: 'stopped' }>;

async function runChild(): Promise<void> {
  const cfg = JSON.parse(process.env.ZKP_BENCH_CHILD ?? '') as ChildConfig;
  const send = (m: ChildMessage) => process.send?.(m);
  const kafka = kafkaClient(cfg.instanceId);
  const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 3 });
  let saves: SaveEvent[] = [];
  let starts: StartEvent[] = [];
  const observer: StageObserver = {
    jobStarted: (job, hopMs) => starts.push([job.aggregation_round, hopMs, Date.now()]),
    jobSaved: (job) => saves.push([job.job_id, job.aggregation_round, job.circuit_id, Date.now()]),
  };
  const flush = () => {
    if (saves.length === 0 && starts.length === 0) return;
    send({ type: 'events', saves, starts });
    saves = [];
    starts = [];
  };
  const prover = await startProverProcess({
    kafka,
    redis,
    store: createObjectStore(cfg.storeUrl),
    payload: new DigestPayload(),
    version: cfg.version,
    pairs: pairsFor(undefined),
    basicWitnessGeneration: true,
    geometry: cfg.geometry,
    instanceId: cfg.instanceId,
    concurrency: cfg.concurrency,
    saveBatchSize: cfg.saveBatchSize,
    observer,
  });
  let heap = 0;
  let external = 0;
  const timer = setInterval(() => {
    flush();
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed);
    external = Math.max(external, m.external);
  }, 100);
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'stop') return;
    void (async () => {
      clearInterval(timer);
      flush();
      const cpu = process.cpuUsage();
      const stats = { ...prover.committer.stats };
      await prover.stop();
      redis.disconnect();
      const last: ChildMessage = { type: 'stopped', stats, cpuS: (cpu.user + cpu.system) / 1e6, hwm: procStatusBytes(process.pid, 'VmHWM') ?? process.memoryUsage().rss, heap, external };
      process.send?.(last, () => process.exit(0));
    })();
  });
  // The parent going away ends the child too (no prover left behind).
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

// ------------------------------------------------------------------------------------------------
// What the run observed, from this process's observers and the children's messages.

class Recorder {
  readonly hops: number[] = [];
  /** The same hops by round (1, 2, and 3+ together). */
  readonly hopsByRound = new Map<string, number[]>();
  readonly saved = new Set<string>();
  saves = 0;
  /** Per round: when its first job started and its last job was saved (ms since epoch). */
  readonly rounds = Array.from({ length: 6 }, () => ({ firstStart: 0, lastSave: 0 }));
  /** Per pair topic: saves and when the last one was. */
  readonly pairs = new Map<string, { jobs: number; lastSave: number }>();

  started(round: number, hopMs: number, at: number): void {
    const r = this.rounds[round];
    if (r && (r.firstStart === 0 || at < r.firstStart)) r.firstStart = at;
    if (round >= 1) {
      this.hops.push(hopMs);
      const key = round >= 3 ? 'r3-5' : `r${round}`;
      const list = this.hopsByRound.get(key) ?? [];
      list.push(hopMs);
      this.hopsByRound.set(key, list);
    }
  }

  savedJob(jobId: string, round: number, circuitId: number, at: number): void {
    this.saves++;
    this.saved.add(jobId);
    const r = this.rounds[round];
    if (r) r.lastSave = Math.max(r.lastSave, at);
    const key = `r${round}.c${circuitId}`;
    const pair = this.pairs.get(key) ?? { jobs: 0, lastSave: 0 };
    pair.jobs++;
    pair.lastSave = Math.max(pair.lastSave, at);
    this.pairs.set(key, pair);
  }

  observer(): StageObserver {
    return {
      jobStarted: (job: ProverJob, hopMs: number) => this.started(job.aggregation_round, hopMs, Date.now()),
      jobSaved: (job: ProverJob) => this.savedJob(job.job_id, job.aggregation_round, job.circuit_id, Date.now()),
    };
  }
}

/** Peak resident sets: this process and the children, every 100 ms, and the kernel's high-water marks. */
class RssSampler {
  private peakSelf = 0;
  private readonly peakChild = new Map<number, number>();
  /** Largest V8 heap in use and largest off-heap (Buffer) memory of this process, for the human-readable lines. */
  peakHeap = 0;
  peakExternal = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly children: () => number[]) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.peakSelf = Math.max(this.peakSelf, m.rss);
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
    this.peakExternal = Math.max(this.peakExternal, m.external);
    for (const pid of this.children()) this.child(pid, procStatusBytes(pid, 'VmHWM') ?? procStatusBytes(pid, 'VmRSS') ?? 0);
  }

  child(pid: number, bytes: number): void {
    this.peakChild.set(pid, Math.max(this.peakChild.get(pid) ?? 0, bytes));
  }

  /** Peak of this process, and of each child. */
  stop(): { self: number; children: Map<number, number> } {
    clearInterval(this.timer);
    this.sample();
    return { self: Math.max(this.peakSelf, procStatusBytes(process.pid, 'VmHWM') ?? 0), children: new Map(this.peakChild) };
  }
}

/** Waits until every consumer group of the run has a stable membership, so the clock does not time group joins. */
async function waitForGroups(pipeline: LocalPipeline, members: Map<string, number>, timeoutMs: number): Promise<void> {
  const admin = pipeline.kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { groups: described } = await admin.describeGroups([...members.keys()]);
      const pending = described.filter((g) => g.state !== 'Stable' || g.members.length < (members.get(g.groupId) ?? 1));
      if (pending.length === 0) return;
      if (Date.now() > deadline) throw new Error(`consumer groups not stable after ${timeoutMs} ms: ${pending.map((g) => `${g.groupId}=${g.state}/${g.members.length}`).join(', ')}`);
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
}

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  stopped: Promise<Stopped | null>;
}

function startChild(cfg: ChildConfig, recorder: Recorder): Child {
  const child = fork(__filename, ['--child-prover'], { env: { ...process.env, ZKP_BENCH_CHILD: JSON.stringify(cfg) } });
  let ready: () => void = () => undefined;
  let stopped: (v: Stopped | null) => void = () => undefined;
  const readyP = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`prover ${cfg.instanceId} exited with ${code} before it was ready`)));
  });
  const stoppedP = new Promise<Stopped | null>((resolve) => {
    stopped = resolve;
    child.once('exit', () => resolve(null));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') ready();
    else if (m.type === 'events') {
      for (const [round, hop, at] of m.starts) recorder.started(round, hop, at);
      for (const [id, round, circuit, at] of m.saves) recorder.savedJob(id, round, circuit, at);
    } else if (m.type === 'stopped') stopped(m);
  });
  return { process: child, ready: readyP, exited, stopped: stoppedP };
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const JOBS = intArg('jobs', 10_000);
  const LEAF_ARITY = intArg('leaf-arity', DEFAULT_GEOMETRY.leafArity, 2);
  const NODE_ARITY = intArg('node-arity', DEFAULT_GEOMETRY.nodeArity, 2);
  const PROVERS = intArg('provers', 1);
  const IN_PROCESS = process.argv.includes('--in-process');
  const CONCURRENCY = intArg('concurrency', 8);
  const SAVE_BATCH = intArg('save-batch', 4, 1);
  const TIMEOUT_MS = intArg('timeout-s', 600) * 1000;

  const version: ProtocolVersion = { minor: 2000 + Math.floor(Math.random() * 60_000), patch: Math.floor(Math.random() * 100) };
  const geometry: Geometry = { ...DEFAULT_GEOMETRY, leafArity: LEAF_ARITY, nodeArity: NODE_ARITY };
  const dir = mkdtempSync(join(tmpdir(), 'zkp-bench-'));
  const storeUrl = `file://${join(dir, 'prover-store')}`;
  const prefix = `bench-${version.minor}-${version.patch}`;
  const children: Child[] = [];
  const rss = new RssSampler(() => children.filter((c) => c.process.exitCode === null && c.process.pid).map((c) => c.process.pid!));
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  const recorder = new Recorder();

  console.log(
    `pipeline benchmark: ${JOBS} basic jobs, geometry ${LEAF_ARITY}/${NODE_ARITY}, ${PROVERS} prover process(es) ${IN_PROCESS ? 'inside this process' : 'as child processes'}, ` +
      `concurrency ${CONCURRENCY}, save batch ${SAVE_BATCH}, protocol ${formatVersion(version)}, store ${dir}`,
  );
  console.log(`load average at start: ${load()}`);

  let emittedAt = 0;
  let acceptedAt = 0;
  let cpuAtEmit: NodeJS.CpuUsage | undefined;
  let cpuWhileProving: NodeJS.CpuUsage = { user: 0, system: 0 };
  let resolveAccepted: () => void = () => undefined;
  const accepted = new Promise<void>((r) => (resolveAccepted = r));

  const t0 = Date.now();
  const pipeline = await startLocalPipeline({
    version,
    batches: 0, // sealed once every consumer group has joined
    basicJobsPerBatch: JOBS,
    geometry,
    seed: 'bench',
    storeUrl,
    coreStoreUrl: `file://${join(dir, 'core-store')}`,
    provers: IN_PROCESS ? PROVERS : 0,
    concurrency: CONCURRENCY,
    saveBatchSize: SAVE_BATCH,
    instancePrefix: prefix,
    stageObserver: recorder.observer(),
    gatewayObserver: {
      batchEmitted: () => {
        if (emittedAt !== 0) return;
        emittedAt = Date.now();
        cpuAtEmit = process.cpuUsage();
      },
      finalProofSubmitted: (_batch, result) => {
        if (result.status === 'rejected' || acceptedAt !== 0) return;
        acceptedAt = Date.now();
        cpuWhileProving = process.cpuUsage(cpuAtEmit);
        resolveAccepted();
      },
    },
  });

  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGTERM');
    await pipeline.stop().catch((e: Error) => console.error(`stopping the pipeline: ${e.message}`));
    await pipeline.counters.clear(batchRunKey(version, 1, 0)).catch(() => undefined);
    await deleteVersionTopics(pipeline.kafka, version).catch((e: Error) => console.error(`deleting the topics of ${formatVersion(version)}: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: cleaning up`);
      void cleanUp().finally(() => process.exit(130));
    });
  }

  let failed: Error | null = null;
  let totalJobs = 0;
  let jobsPerRound: readonly number[] = [];
  const childResults: Array<Stopped | null> = [];
  try {
    if (!IN_PROCESS) {
      for (let i = 0; i < PROVERS; i++) children.push(startChild({ version, storeUrl, geometry, instanceId: `${prefix}-prover-${i}`, concurrency: CONCURRENCY, saveBatchSize: SAVE_BATCH }, recorder));
      await Promise.all(children.map((c) => c.ready));
    }
    const members = new Map([batchesTopic(version), ...pairsFor(undefined).map((p) => pairTopic(version, p))].map((t) => [consumerGroup(t), PROVERS]));
    members.set(consumerGroup(finalProofsTopic(version)), 1);
    await waitForGroups(pipeline, members, 180_000);
    console.log(`started in ${((Date.now() - t0) / 1000).toFixed(1)} s (${members.size} consumer groups stable); sealing the batch`);

    const progress = setInterval(() => {
      if (emittedAt === 0) return;
      console.log(`  ${((Date.now() - emittedAt) / 1000).toFixed(1)} s: ${recorder.saved.size} jobs saved; load ${load()}`);
    }, 5000);
    progress.unref();
    try {
      await pipeline.core.source.sealUpTo(1);
      const timeout = sleep(TIMEOUT_MS).then(() => {
        throw new Error(`the final proof was not accepted within ${TIMEOUT_MS / 1000} s (${recorder.saved.size} jobs saved)`);
      });
      await Promise.race([accepted, timeout]);
    } finally {
      clearInterval(progress);
    }
    const plan = await new PlanCache(pipeline.store).get({ protocolVersion: version, batchNumber: 1, runId: 0 });
    totalJobs = plan.totalJobs;
    jobsPerRound = plan.jobsPerRound;
  } catch (e) {
    failed = e as Error;
  }

  const committerStats: CommitterStats[] = pipeline.provers.map((p) => ({ ...p.committer.stats }));
  for (const c of children) {
    if (c.process.connected) c.process.send({ type: 'stop' });
    const r = await Promise.race([c.stopped, sleep(60_000).then(() => null)]);
    childResults.push(r);
    if (r) {
      committerStats.push(r.stats);
      rss.child(c.process.pid ?? 0, r.hwm);
    }
    await Promise.race([c.exited, sleep(10_000)]);
  }
  await cleanUp();
  const peaks = rss.stop();
  if (failed) throw failed;

  const wallS = (acceptedAt - emittedAt) / 1000;
  const hops = [...recorder.hops].sort((a, b) => a - b);
  const peakRss = Math.max(peaks.self, ...peaks.children.values());
  const result = {
    jobs: totalJobs,
    wall_s: Number(wallS.toFixed(3)),
    jobs_per_s: Math.round(totalJobs / wallS),
    hop_p50_ms: quantile(hops, 0.5),
    hop_p99_ms: quantile(hops, 0.99),
    peak_rss_mb: mb(peakRss),
  };
  const at = (t: number) => (t === 0 ? '-' : ((t - emittedAt) / 1000).toFixed(2));
  console.log(`jobs per round: ${jobsPerRound.join(' / ')} (total ${totalJobs}; ${recorder.saved.size} distinct jobs saved, ${recorder.saves - recorder.saved.size} saved again after a redelivery)`);
  console.log(`wall ${result.wall_s} s from batch emitted to final proof accepted: ${result.jobs_per_s} jobs/s`);
  const cpuS = (cpuWhileProving.user + cpuWhileProving.system) / 1e6;
  const childCpu = childResults.map((r, i) => `prover ${i} ${r ? `${r.cpuS.toFixed(1)} s in all` : '?'}`).join(', ');
  console.log(`CPU: this process ${cpuS.toFixed(1)} s while proving (${((100 * cpuS) / wallS).toFixed(0)}% of one core)${childCpu ? `; ${childCpu} (startup included)` : ''}`);
  console.log(`hop (landing -> aggregation job start) over ${hops.length} starts: p50 ${result.hop_p50_ms} ms, p99 ${result.hop_p99_ms} ms, max ${hops[hops.length - 1] ?? 0} ms`);
  const byRound = [...recorder.hopsByRound].sort(([a], [b]) => a.localeCompare(b)).map(([k, l]) => {
    const sorted = [...l].sort((a, b) => a - b);
    return `${k} ${quantile(sorted, 0.5)}/${quantile(sorted, 0.99)} ms (${l.length})`;
  });
  console.log(`hop p50/p99 by round: ${byRound.join(', ')}`);
  console.log(`per round, s after the batch was emitted (first start .. last save): ${recorder.rounds.map((r, i) => `r${i} ${at(r.firstStart)}..${at(r.lastSave)}`).join(', ')}`);
  const round0 = [...recorder.pairs].filter(([k]) => k.startsWith('r0.'));
  const sizes = round0.map(([, p]) => p.jobs);
  const slowest = round0.sort((a, b) => b[1].lastSave - a[1].lastSave).slice(0, 3);
  console.log(
    `round 0 over ${sizes.length} pair topics, ${Math.min(...sizes)}..${Math.max(...sizes)} jobs each; last to finish: ` +
      slowest.map(([k, p]) => `${k} (${p.jobs} jobs) at ${at(p.lastSave)} s`).join(', '),
  );
  for (const [i, s] of committerStats.entries()) {
    console.log(
      `committer ${i}: ${s.transactions} transactions, ${s.records} records, ${s.offsetGroups} group offset commits, ${s.aborted} aborted, ` +
        `${s.concurrentRetries ?? 0} CONCURRENT_TRANSACTIONS retries, mean ${(s.commitMs / Math.max(1, s.transactions)).toFixed(1)} ms, max ${s.maxCommitMs} ms`,
    );
  }
  console.log(
    `peak RSS ${result.peak_rss_mb} MB (largest of: this process ${mb(peaks.self)} MB, V8 heap in use at most ${mb(rss.peakHeap)} MB, off-heap ${mb(rss.peakExternal)} MB` +
      `${childResults.map((r, i) => (r ? `; prover ${i} ${mb(peaks.children.get(children[i].process.pid ?? 0) ?? r.hwm)} MB, V8 heap ${mb(r.heap)} MB, off-heap ${mb(r.external)} MB` : '')).join('')}); load average at end: ${load()}`,
  );
  console.log(JSON.stringify(result));
}

if (process.argv.includes('--child-prover')) {
  runChild().catch((e: Error) => {
    console.error(`prover child failed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(`pipeline benchmark failed: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
