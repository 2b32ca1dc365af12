// Prints, per consumer group of a protocol version, its lag and the replicas the KEDA Kafka rule
// recommends, and per prover group the Deployment's count (the largest of its triggers').
//
//   npx tsx metrics/scaling-report.ts [--version 24.0] [--group N] [--lag-threshold 16] [--json]
//
// The same figures a prover exposes as zkp_consumer_lag / zkp_recommended_replicas, measured
// once from outside (a dashboard or an operator's shell).
import { Kafka, logLevel } from 'kafkajs';
import { endpoints } from '../lib/endpoints';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion, formatVersion, parseVersion } from '../lib/protocol-version';
import { pairKey } from '../topics/catalog';
import { defaultProverGroups, groupOfPair, pairsForGroup } from '../topics/prover-groups';
import { DEFAULT_LAG_THRESHOLD, ScalerSettings, combineRecommendations } from './autoscaling';
import { GroupRecommendation, WatchedGroup, batchesGroup, finalProofsGroup, pairGroup, recommendReplicas } from './consumer-lag';

export interface ScalingReport {
  version: string;
  groups: Array<{
    group: string;
    proverGroup: number | null;
    lag: number;
    offsetLag: number;
    partitions: number;
    replicas: number;
    /** Per topic the group reads (one KEDA trigger each): its lag and the replicas it recommends. */
    topics: Array<{ topic: string; lag: number; offsetLag: number; partitions: number; replicas: number }>;
  }>;
  proverGroups: Array<{ proverGroup: number; replicas: number }>;
}

/** Measures the consumer groups of `version` whose topics exist (of one prover group, or all) and applies the KEDA rule. */
export async function scalingReport(kafka: Kafka, version: ProtocolVersion, options: { proverGroup?: number; scaler?: Partial<ScalerSettings> } = {}): Promise<ScalingReport> {
  const config = defaultProverGroups();
  const pairs = pairsForGroup(options.proverGroup ?? -1, config);
  let watched: Array<{ g: WatchedGroup; proverGroup: number | null }> = pairs.map((p) => ({ g: pairGroup(version, p), proverGroup: groupOfPair(p, config) }));
  if (options.proverGroup === undefined || options.proverGroup === config.batchWitnessGenerationGroup) {
    watched.unshift({ g: batchesGroup(version), proverGroup: config.batchWitnessGenerationGroup });
  }
  if (options.proverGroup === undefined) watched.push({ g: finalProofsGroup(version), proverGroup: null });
  const admin = kafka.admin();
  await admin.connect();
  let measured: GroupRecommendation[];
  try {
    // Only the topics that exist: asking for a missing one costs kafkajs' retries (seconds).
    const existing = new Set(await admin.listTopics());
    for (const w of watched) w.g = { ...w.g, topics: w.g.topics.filter((t) => existing.has(t)) };
    watched = watched.filter((w) => w.g.topics.length > 0);
    measured = await recommendReplicas(admin, watched.map((w) => w.g), options.scaler);
  } finally {
    await admin.disconnect();
  }
  const perProverGroup = new Map<number, GroupRecommendation[]>();
  measured.forEach((m, i) => {
    const pg = watched[i].proverGroup;
    if (pg !== null) perProverGroup.set(pg, [...(perProverGroup.get(pg) ?? []), m]);
  });
  return {
    version: formatVersion(version),
    groups: measured.map((m, i) => ({
      group: m.groupId,
      proverGroup: watched[i].proverGroup,
      lag: m.totalLag,
      offsetLag: m.offsetLag,
      partitions: m.partitions,
      replicas: m.replicas,
      topics: m.topics.map((t, j) => ({ topic: t.topic, lag: t.totalLag, offsetLag: t.offsetLag, partitions: t.partitions, replicas: m.perTopic[j].recommendation.replicas })),
    })),
    proverGroups: [...perProverGroup].map(([proverGroup, ms]) => ({
      proverGroup,
      replicas: combineRecommendations(ms.flatMap((m) => m.perTopic.map((p) => p.recommendation)), options.scaler),
    })),
  };
}

async function main(argv: string[]): Promise<number> {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const version = flag('version') ? parseVersion(flag('version')!) : DEFAULT_PROTOCOL_VERSION;
  const proverGroup = flag('group') === undefined ? undefined : Number(flag('group'));
  const lagThreshold = Number(flag('lag-threshold') ?? DEFAULT_LAG_THRESHOLD);
  const kafka = new Kafka({ clientId: 'scaling-report', brokers: endpoints.kafkaBrokers, logLevel: logLevel.NOTHING });
  const report = await scalingReport(kafka, version, { proverGroup, scaler: { lagThreshold } });
  if (argv.includes('--json')) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`protocol ${report.version}, lagThreshold ${lagThreshold}`);
  console.log(`${'consumer group'.padEnd(44)} ${'group'.padStart(5)} ${'lag'.padStart(8)} ${'offsets'.padStart(8)} ${'parts'.padStart(5)} ${'replicas'.padStart(8)}`);
  for (const g of report.groups) {
    console.log(`${g.group.padEnd(44)} ${String(g.proverGroup ?? '-').padStart(5)} ${String(g.lag).padStart(8)} ${String(g.offsetLag).padStart(8)} ${String(g.partitions).padStart(5)} ${String(g.replicas).padStart(8)}`);
  }
  console.log('');
  for (const p of report.proverGroups) {
    const shown = pairsForGroup(p.proverGroup).map(pairKey);
    console.log(`prover group ${String(p.proverGroup).padStart(2)}: ${p.replicas} replica(s)   ${shown.length > 4 ? `${shown.slice(0, 4).join(' ')} ...` : shown.join(' ')}`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`error: ${e.message}`);
      process.exit(1);
    },
  );
}
