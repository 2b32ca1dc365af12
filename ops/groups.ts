// Prover groups (topics/prover-groups.json) with their pairs, and who consumes each pair now:
// the members of the pair's consumer group and the partitions each one holds.
import { Kafka } from 'kafkajs';
import { ProtocolVersion } from '../lib/protocol-version';
import { describePair, pairKey } from '../topics/catalog';
import { batchesTopic, consumerGroup, finalProofsTopic, pairTopic, retryTopic } from '../topics/naming';
import { ProverGroupConfig, defaultProverGroups } from '../topics/prover-groups';
import { GroupMembers, describeGroups } from './lag';
import { OpsError } from './context';

export interface ConsumedTopicReport {
  /** "(circuit_id,round)", or "batches" / "final-proofs". */
  pair: string;
  label: string;
  topics: string[];
  topicExists: boolean;
  group: string;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. */
  state: string;
  members: GroupMembers['members'];
}

export interface ProverGroupReport {
  id: number;
  basicWitnessGeneration: boolean;
  consumers: ConsumedTopicReport[];
}

export interface GroupsReport {
  groups: ProverGroupReport[];
  /** The gateway's consumer group on final-proofs (not part of any prover group). */
  gateway: ConsumedTopicReport;
}

export async function proverGroupsReport(kafka: Kafka, version: ProtocolVersion, options: { group?: number; config?: ProverGroupConfig } = {}): Promise<GroupsReport> {
  const config = options.config ?? defaultProverGroups();
  const selected = options.group === undefined ? config.groups : config.groups.filter((g) => g.id === options.group);
  if (selected.length === 0) throw new OpsError(`no prover group ${options.group} (groups: ${config.groups.map((g) => g.id).join(', ')})`);
  const plan = selected.map((g) => {
    const consumers: Array<Omit<ConsumedTopicReport, 'topicExists' | 'state' | 'members'>> = [];
    if (g.id === config.batchWitnessGenerationGroup) {
      const topic = batchesTopic(version);
      consumers.push({ pair: 'batches', label: 'basic witness generation', topics: [topic], group: consumerGroup(topic) });
    }
    for (const pair of g.pairs) {
      const topic = pairTopic(version, pair);
      consumers.push({ pair: pairKey(pair), label: describePair(pair), topics: [topic, retryTopic(version, pair)], group: consumerGroup(topic) });
    }
    return { id: g.id, basicWitnessGeneration: g.id === config.batchWitnessGenerationGroup, consumers };
  });
  const finalTopic = finalProofsTopic(version);
  const gateway = { pair: 'final-proofs', label: 'gateway (final proofs to the core)', topics: [finalTopic], group: consumerGroup(finalTopic) };

  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const all = [...plan.flatMap((g) => g.consumers), gateway];
    const described = await describeGroups(admin, all.map((c) => c.group));
    const complete = (c: (typeof all)[number]): ConsumedTopicReport => {
      const d = described.get(c.group);
      return { ...c, topicExists: existing.has(c.topics[0]), state: d?.state ?? 'Dead', members: d?.members ?? [] };
    };
    return {
      groups: plan.map((g) => ({ ...g, consumers: g.consumers.map(complete) })),
      gateway: complete(gateway),
    };
  } finally {
    await admin.disconnect();
  }
}
