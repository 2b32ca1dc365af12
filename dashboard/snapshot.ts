// One snapshot of the pipeline for the dashboard, assembled from the operator functions (ops/)
// and the autoscaling report (metrics/): nothing here measures Kafka or Redis by itself.
//
//   topics       ops/lag.ts topicLags (end and committed offsets, group state and members;
//                no read-through probe) + metrics/scaling-report.ts (records waiting with the
//                transaction markers discounted, and the KEDA rule's replicas per trigger)
//                + the change of the offsets since earlier samples (throughput, rates.ts)
//   scaling      metrics/scaling-report.ts: replicas per consumer group and per prover group
//   batches      ops/batch-runs.ts scanBatchRuns + ops/status.ts batchStatus per batch-run
//                (counters, plan, final proof, the core's record); finished ones are kept
//   dead letters ops/dead-letters.ts listDeadLetters, read again only when the topic grew
//   health       ops/groups.ts proverGroupsReport (state and members of every consumer group),
//                a Redis PING and the core's GET /protocol_versions
//
// Each part fails on its own: its error is reported and the others still show.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { ObjectStore } from '../storage';
import { CoreClient } from '../producers/core-client';
import { AggregationRound, describePair, parsePairKey } from '../topics/catalog';
import { OpsContext, opsContext } from '../ops/context';
import { TopicLag, topicLags } from '../ops/lag';
import { scanBatchRuns } from '../ops/batch-runs';
import { BatchStatusReport, batchStatus } from '../ops/status';
import { DeadLetterList, listDeadLetters } from '../ops/dead-letters';
import { GroupsReport, proverGroupsReport } from '../ops/groups';
import { DEFAULT_LAG_THRESHOLD } from '../metrics/autoscaling';
import { ScalingReport, scalingReport } from '../metrics/scaling-report';
import { ThroughputTracker } from './rates';

export interface DashboardSources {
  kafka: Kafka;
  redis: Redis;
  /** The prover's object store (plans, final proofs). */
  store: ObjectStore;
  version: ProtocolVersion;
  /** The core's API: each batch's state there, and whether the core is reachable. */
  core?: CoreClient;
}

export interface CollectorOptions {
  /** Newest batch-runs shown. Default 20. */
  batchLimit?: number;
  /** Newest dead letters shown. Default 50. */
  deadLetterLimit?: number;
  /** Throughput is measured over about this long. Default 10 s. */
  throughputWindowMs?: number;
  /** The KEDA trigger's lagThreshold. Default DEFAULT_LAG_THRESHOLD (16), as in infra/k8s/. */
  lagThreshold?: number;
  /** Longest wait for one part of a snapshot. Default 30 s. */
  partTimeoutMs?: number;
}

export interface TopicRow {
  topic: string;
  kind: TopicLag['kind'];
  /** "(circuit_id,round)" for pair and retry topics. */
  pair: string | null;
  label: string;
  group: string | null;
  groupState: string | null;
  members: number | null;
  partitions: number;
  /** Sum of end offsets. */
  end: number;
  /** Sum of committed offsets; null when the group committed none or nobody consumes the topic. */
  committed: number | null;
  /** Records waiting, transaction markers discounted; null for topics nobody consumes. */
  lag: number | null;
  /** End - committed, markers included (what KEDA's scaler sees). */
  offsetLag: number;
  producedPerS: number | null;
  consumedPerS: number | null;
  /** Replicas the KEDA rule recommends for this topic's trigger; null for topics nobody consumes. */
  replicas: number | null;
}

export interface ScalingSection {
  lagThreshold: number;
  proverGroups: Array<{ proverGroup: number; replicas: number; lag: number }>;
  groups: Array<{ group: string; proverGroup: number | null; lag: number; offsetLag: number; partitions: number; replicas: number }>;
}

export interface CircuitNode {
  circuitId: number;
  label: string;
  total: number;
  ready: number;
  done: number;
}

export interface BatchNode {
  /** `v{minor}.{patch}:b{batch}:run{run}` */
  key: string;
  batch: number;
  run: number;
  complete: boolean;
  source: BatchStatusReport['source'];
  totalJobs: number | null;
  doneJobs: number;
  rounds: Array<{ round: number; name: string; total: number; ready: number; done: number; circuits: CircuitNode[] }>;
  /** Aggregation groups still waiting for children. */
  waitingGroups: number;
  finalProof: boolean;
  core: BatchStatusReport['core'];
}

export interface DeadLetterSection {
  topic: string;
  total: number;
  rows: DeadLetterList['rows'];
  undecodable: number;
  complete: boolean;
}

export interface Check {
  ok: boolean;
  detail: string;
  latencyMs: number | null;
}

export interface GroupHealth {
  /** The prover group serving it; null for the gateway's group. */
  proverGroup: number | null;
  pair: string;
  label: string;
  group: string;
  topicExists: boolean;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. */
  state: string;
  members: Array<{ clientId: string; host: string; partitions: number }>;
}

export interface HealthSection {
  kafka: Check;
  redis: Check;
  /** Null when no core API was given. */
  core: (Check & { url: string }) | null;
  groups: GroupHealth[];
}

export type SectionName = 'topics' | 'scaling' | 'batches' | 'deadLetters' | 'groups';

export interface DashboardSnapshot {
  version: string;
  sequence: number;
  takenAtMs: number;
  /** How long taking it took. */
  tookMs: number;
  topics: TopicRow[];
  scaling: ScalingSection | null;
  batches: BatchNode[];
  deadLetters: DeadLetterSection | null;
  health: HealthSection;
  /** Parts that failed this time, with why; their sections show the last good data or nothing. */
  errors: Partial<Record<SectionName, string>>;
}

function labelOf(row: TopicLag): string {
  if (row.pair) {
    const label = describePair(parsePairKey(row.pair));
    return row.kind === 'retry' ? `${label} (retry)` : label;
  }
  return row.kind;
}

/** Table rows: offsets from topicLags, lag and replicas from the scaling report, rates from the tracker. */
export function topicRows(lags: readonly TopicLag[], scaling: ScalingReport | null, rates: ThroughputTracker, atMs: number): TopicRow[] {
  const perTopic = new Map<string, { lag: number; replicas: number }>();
  for (const g of scaling?.groups ?? []) for (const t of g.topics) perTopic.set(t.topic, t);
  rates.retain(new Set(lags.map((l) => l.topic)));
  return lags.map((l) => {
    const rate = rates.record(l.topic, { atMs, end: l.end, committed: l.committed });
    const scaled = perTopic.get(l.topic);
    return {
      topic: l.topic,
      kind: l.kind,
      pair: l.pair,
      label: labelOf(l),
      group: l.group,
      groupState: l.groupState,
      members: l.members,
      partitions: l.partitions,
      end: l.end,
      committed: l.committed,
      lag: l.group === null ? null : (scaled?.lag ?? null),
      offsetLag: l.offsetLag,
      producedPerS: rate.producedPerS,
      consumedPerS: l.group === null ? null : rate.consumedPerS,
      replicas: l.group === null ? null : (scaled?.replicas ?? null),
    };
  });
}

export function scalingSection(report: ScalingReport, lagThreshold: number): ScalingSection {
  return {
    lagThreshold,
    proverGroups: report.proverGroups.map((p) => ({ proverGroup: p.proverGroup, replicas: p.replicas, lag: report.groups.filter((g) => g.proverGroup === p.proverGroup).reduce((a, g) => a + g.lag, 0) })),
    groups: report.groups.map(({ topics: _topics, ...g }) => g),
  };
}

function circuitLabel(round: number, circuitId: number): string {
  try {
    return describePair({ round: round as AggregationRound, circuitId });
  } catch {
    return `circuit ${circuitId}`;
  }
}

export function batchNode(r: BatchStatusReport): BatchNode {
  return {
    key: r.batchRunKey,
    batch: r.batch,
    run: r.run,
    complete: r.complete,
    source: r.source,
    totalJobs: r.plan?.totalJobs ?? null,
    doneJobs: r.rounds.reduce((a, x) => a + x.done, 0),
    rounds: r.rounds.map((x) => ({ round: x.round, name: x.name, total: x.total, ready: x.ready, done: x.done, circuits: x.circuits.map((c) => ({ ...c, label: circuitLabel(x.round, c.circuitId) })) })),
    waitingGroups: r.waiting.length,
    finalProof: r.finalProof.exists,
    core: r.core,
  };
}

/** A finished batch does not change any more: complete, and accepted by the core when one is asked. */
export function isSettled(node: BatchNode, withCore: boolean): boolean {
  if (!node.complete) return false;
  if (!withCore) return true;
  return node.core !== null && 'accepted' in node.core && node.core.accepted;
}

export function groupHealth(report: GroupsReport): GroupHealth[] {
  const of = (proverGroup: number | null, c: GroupsReport['gateway']): GroupHealth => ({
    proverGroup,
    pair: c.pair,
    label: c.label,
    group: c.group,
    topicExists: c.topicExists,
    state: c.state,
    members: c.members.map((m) => ({ clientId: m.clientId, host: m.host, partitions: Object.values(m.assignment).reduce((a, p) => a + p.length, 0) })),
  });
  return [...report.groups.flatMap((g) => g.consumers.map((c) => of(g.id, c))), of(null, report.gateway)];
}

function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Takes snapshots; keeps what rates and caches need between them. */
export class SnapshotCollector {
  private readonly ctx: OpsContext;
  private readonly rates: ThroughputTracker;
  private readonly settled = new Map<string, BatchNode>();
  private deadLetters: { end: number; section: DeadLetterSection } | null = null;
  private sequence = 0;

  constructor(
    private readonly sources: DashboardSources,
    private readonly options: CollectorOptions = {},
  ) {
    this.ctx = opsContext(sources);
    this.rates = new ThroughputTracker(options.throughputWindowMs ?? 10_000);
  }

  get version(): ProtocolVersion {
    return this.sources.version;
  }

  async take(): Promise<DashboardSnapshot> {
    const started = Date.now();
    const limit = this.options.partTimeoutMs ?? 30_000;
    const lagThreshold = this.options.lagThreshold ?? DEFAULT_LAG_THRESHOLD;
    const { kafka, version } = this.sources;
    const part = <T>(what: string, p: () => Promise<T>) => withTimeout(what, limit, p());
    const [lags, scaling, groups, batches, redis, core] = await Promise.allSettled([
      part('topic offsets', () => topicLags(kafka, version, { probeLimit: 0 })),
      part('consumer lag', () => scalingReport(kafka, version, { scaler: { lagThreshold } })),
      part('consumer groups', () => proverGroupsReport(kafka, version)),
      part('batch status', () => this.batchNodes()),
      this.redisCheck(),
      this.coreCheck(),
    ]);
    const errors: DashboardSnapshot['errors'] = {};
    const atMs = Date.now();
    const scalingReportOk = scaling.status === 'fulfilled' ? scaling.value : null;
    if (scaling.status === 'rejected') errors.scaling = message(scaling.reason);
    let topics: TopicRow[] = [];
    if (lags.status === 'fulfilled') topics = topicRows(lags.value, scalingReportOk, this.rates, atMs);
    else errors.topics = message(lags.reason);
    if (groups.status === 'rejected') errors.groups = message(groups.reason);
    if (batches.status === 'rejected') errors.batches = message(batches.reason);

    const dlt = lags.status === 'fulfilled' ? lags.value.find((l) => l.kind === 'dlt') : undefined;
    let deadLetters: DeadLetterSection | null = this.deadLetters?.section ?? null;
    if (lags.status === 'fulfilled') {
      try {
        deadLetters = await this.deadLetterSection(dlt?.end ?? 0, limit);
      } catch (e) {
        errors.deadLetters = message(e);
      }
    }

    const kafkaFailure = [lags, scaling, groups].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    return {
      version: formatVersion(version),
      sequence: ++this.sequence,
      takenAtMs: atMs,
      tookMs: Date.now() - started,
      topics,
      scaling: scalingReportOk ? scalingSection(scalingReportOk, lagThreshold) : null,
      batches: batches.status === 'fulfilled' ? batches.value : [],
      deadLetters,
      health: {
        kafka: kafkaFailure ? { ok: false, detail: message(kafkaFailure.reason), latencyMs: null } : { ok: true, detail: `${topics.length} topics of ${formatVersion(version)}`, latencyMs: null },
        redis: redis.status === 'fulfilled' ? redis.value : { ok: false, detail: message(redis.reason), latencyMs: null },
        core: core.status === 'fulfilled' ? core.value : { ok: false, detail: message(core.reason), latencyMs: null, url: this.sources.core?.baseUrl ?? '' },
        groups: groups.status === 'fulfilled' ? groupHealth(groups.value) : [],
      },
      errors,
    };
  }

  /** The newest batch-runs of the version, newest first. */
  private async batchNodes(): Promise<BatchNode[]> {
    const runs = await scanBatchRuns(this.sources.redis, { version: this.sources.version });
    const newest = runs.slice(Math.max(0, runs.length - (this.options.batchLimit ?? 20))).reverse();
    const keep = new Set(newest.map((r) => r.key));
    for (const k of [...this.settled.keys()]) if (!keep.has(k)) this.settled.delete(k);
    return Promise.all(
      newest.map(async (r) => {
        const cached = this.settled.get(r.key);
        if (cached) return cached;
        const node = batchNode(await batchStatus(this.ctx, r.batch, r.run));
        if (isSettled(node, this.sources.core !== undefined)) this.settled.set(r.key, node);
        return node;
      }),
    );
  }

  /** Reads the dead letter topic again only when its end offset moved (reading it takes a throwaway consumer group). */
  private async deadLetterSection(end: number, timeoutMs: number): Promise<DeadLetterSection> {
    if (this.deadLetters && this.deadLetters.end === end) return this.deadLetters.section;
    const list = await withTimeout('dead letter topic', timeoutMs, listDeadLetters(this.ctx, { limit: this.options.deadLetterLimit ?? 50 }));
    const section = { topic: list.topic, total: list.total, rows: list.rows, undecodable: list.undecodable, complete: list.complete };
    // An incomplete read (an open transaction at the end) is shown but read again next time.
    this.deadLetters = list.complete ? { end, section } : null;
    return section;
  }

  private async redisCheck(): Promise<Check> {
    const t = Date.now();
    const answer = await withTimeout('Redis PING', 5_000, this.sources.redis.ping());
    return { ok: answer === 'PONG', detail: answer, latencyMs: Date.now() - t };
  }

  private async coreCheck(): Promise<(Check & { url: string }) | null> {
    const core = this.sources.core;
    if (!core) return null;
    const t = Date.now();
    const versions = await withTimeout('core API', 5_000, core.protocolVersions());
    const served = versions.some((v) => sameVersion(v, this.sources.version));
    return {
      ok: served,
      detail: served ? `serves ${formatVersion(this.sources.version)}` : `reachable, but serves only ${versions.map((v) => formatVersion(v)).join(', ') || 'no version'}`,
      latencyMs: Date.now() - t,
      url: core.baseUrl,
    };
  }
}
