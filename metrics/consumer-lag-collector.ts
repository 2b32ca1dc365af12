// Consumer lag and the autoscaling signal as gauges, computed on scrape: the first gauge
// collected in a scrape measures every watched group (kafkajs admin: fetchTopicOffsets +
// fetchOffsets), the others reuse that measurement; a measurement is reused for `cacheMs`
// (default 5 s) so several scrapers, or a scrape storm, cost one round of admin requests.
import { Admin, Kafka } from 'kafkajs';
import { Counter, Gauge, Registry } from 'prom-client';
import { Logger } from '../lib/logger';
import { parseTopic } from '../topics/naming';
import { defaultProverGroups, groupOfPair } from '../topics/prover-groups';
import { ReplicaRecommendation, ScalerSettings, combineRecommendations } from './autoscaling';
import { GroupLag, GroupRecommendation, WatchedGroup, fetchConsumerLag, recommendationFor } from './consumer-lag';

export interface ConsumerLagCollectorOptions {
  kafka: Kafka;
  registry: Registry;
  /** How long one measurement is reused. Default 5000 ms. */
  cacheMs?: number;
  /** The KEDA rule's settings for `zkp_recommended_replicas` (default: DEFAULT_SCALER_SETTINGS). */
  scaler?: Partial<ScalerSettings>;
  logger?: Logger;
}

/** The prover group whose Deployment scales on this consumer group's topics, or null (gateway). */
function proverGroupOf(topic: string): number | null {
  try {
    const parsed = parseTopic(topic);
    if (parsed.kind === 'pair' || parsed.kind === 'retry' || parsed.kind === 'handoff' || parsed.kind === 'handoff-retry') return groupOfPair(parsed.pair);
    if (parsed.kind === 'batches') return defaultProverGroups().batchWitnessGenerationGroup;
  } catch {
    // A topic outside the naming scheme, or a pair in no prover group: no Deployment to name.
  }
  return null;
}

interface Measurement {
  at: number;
  /** null: the measurement failed. */
  result: GroupRecommendation[] | null;
}

export class ConsumerLagCollector {
  private readonly groups = new Map<string, WatchedGroup>();
  private admin: Admin | null = null;
  private connecting: Promise<Admin> | null = null;
  private measured: Measurement | null = null;
  private inFlight: Promise<Measurement> | null = null;
  /** The measurement the gauges hold. */
  private applied: Measurement | null = null;
  private closed = false;
  private readonly cacheMs: number;
  private readonly gauges: Record<'lag' | 'offsetLag' | 'partitions' | 'replicas' | 'groupReplicas', Gauge<string>>;
  private readonly errors: Counter<string>;

  constructor(private readonly o: ConsumerLagCollectorOptions) {
    this.cacheMs = o.cacheMs ?? 5000;
    const registers = [o.registry];
    const labelNames = ['group', 'topic'];
    // One measurement serves every gauge; whichever gauge is collected first applies it to all.
    const collect = (): Promise<void> => this.apply();
    this.gauges = {
      lag: new Gauge({ name: 'zkp_consumer_lag', help: 'Records waiting for the consumer group in the topic: high watermark - committed offset, less the trailing transaction marker of each partition on transactional topics.', labelNames, registers, collect }),
      offsetLag: new Gauge({ name: 'zkp_consumer_lag_offsets', help: "High watermark - committed offset summed over the topic's partitions (what KEDA's Kafka scaler uses; counts transaction markers).", labelNames, registers, collect }),
      partitions: new Gauge({ name: 'zkp_consumer_group_partitions', help: 'Partitions of the topic: the most consumers of the group that get work.', labelNames, registers, collect }),
      replicas: new Gauge({ name: 'zkp_recommended_replicas', help: 'Replicas the KEDA Kafka rule recommends for the consumer group on this topic (one trigger).', labelNames, registers, collect }),
      groupReplicas: new Gauge({ name: 'zkp_prover_group_recommended_replicas', help: "Replicas recommended for a prover group's Deployment: the largest of its triggers'.", labelNames: ['prover_group'], registers, collect }),
    };
    this.errors = new Counter({ name: 'zkp_consumer_lag_errors_total', help: 'Lag measurements that failed (the lag gauges are then empty until one succeeds).', registers });
  }

  private async apply(): Promise<void> {
    const m = await this.current();
    if (m === this.applied) return;
    this.applied = m;
    const { lag, offsetLag, partitions, replicas, groupReplicas } = this.gauges;
    for (const g of [lag, offsetLag, partitions, replicas, groupReplicas]) g.reset();
    if (m.result === null) {
      this.errors.inc();
      return;
    }
    const perProverGroup = new Map<number, ReplicaRecommendation[]>();
    for (const g of m.result) {
      for (const t of g.topics) {
        const labels = { group: g.groupId, topic: t.topic };
        lag.set(labels, t.totalLag);
        offsetLag.set(labels, t.offsetLag);
        partitions.set(labels, t.partitions);
      }
      for (const p of g.perTopic) {
        replicas.set({ group: g.groupId, topic: p.topic }, p.recommendation.replicas);
        const pg = proverGroupOf(p.topic);
        if (pg !== null) perProverGroup.set(pg, [...(perProverGroup.get(pg) ?? []), p.recommendation]);
      }
    }
    for (const [pg, recs] of perProverGroup) groupReplicas.set({ prover_group: String(pg) }, combineRecommendations(recs, this.o.scaler));
  }

  /** Adds consumer groups to report (idempotent per group id). */
  watch(groups: WatchedGroup[]): void {
    for (const g of groups) this.groups.set(g.groupId, g);
    this.measured = null;
  }

  watched(): WatchedGroup[] {
    return [...this.groups.values()];
  }

  /** The latest measurement with recommendations (measuring when the cached one is older than cacheMs); null when it failed. */
  async measure(): Promise<GroupRecommendation[] | null> {
    return (await this.current()).result;
  }

  private current(): Promise<Measurement> {
    if (this.closed || this.groups.size === 0) return Promise.resolve((this.measured = { at: Date.now(), result: [] }));
    if (this.measured && Date.now() - this.measured.at < this.cacheMs) return Promise.resolve(this.measured);
    this.inFlight ??= (async () => {
      let m: Measurement;
      try {
        const admin = await this.connect();
        const lags: GroupLag[] = await fetchConsumerLag(admin, this.watched());
        m = { at: Date.now(), result: lags.map((l) => recommendationFor(l, this.o.scaler)) };
      } catch (e) {
        this.o.logger?.warn({ err: (e as Error).message }, 'measuring consumer lag failed');
        m = { at: Date.now(), result: null };
      }
      this.measured = m;
      this.inFlight = null;
      return m;
    })();
    return this.inFlight;
  }

  private connect(): Promise<Admin> {
    if (this.admin) return Promise.resolve(this.admin);
    this.connecting ??= (async () => {
      const admin = this.o.kafka.admin();
      try {
        await admin.connect();
      } catch (e) {
        this.connecting = null;
        throw e;
      }
      this.admin = admin;
      return admin;
    })();
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight?.catch(() => undefined);
    const admin = this.admin ?? (await this.connecting?.catch(() => null)) ?? null;
    this.admin = null;
    this.connecting = null;
    await admin?.disconnect().catch(() => undefined);
  }
}
