// The operator commands: look at the pipeline (status, topics, groups, dead-letters, stuck) and
// act on it (requeue, replay). Every command prints a table, or one JSON document with --json.
// The logic lives in ops/; docs/operations.md is the runbook.
import Redis from 'ioredis';
import { endpoints, localDir } from '../lib/endpoints';
import { rootLogger } from '../lib/logger';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion, formatVersion, parseVersion } from '../lib/protocol-version';
import { createObjectStore } from '../storage';
import { CoreClient } from '../producers/core-client';
import { defaultProverGroups, pairsForGroup, runsBatchWitnessGeneration } from '../topics/prover-groups';
import { ParsedArgs, UsageError, intFlag, parseArgs, stringFlag } from './args';
import { kafkaClient } from './local-pipeline';
import { OpsContext, OpsError, opsContext } from '../ops/context';
import { batchStatus, BatchStatusReport } from '../ops/status';
import { topicLags, TopicLag } from '../ops/lag';
import { proverGroupsReport, GroupsReport, ConsumedTopicReport } from '../ops/groups';
import { listDeadLetters, requeueBatch, DeadLetterList, RequeueResult } from '../ops/dead-letters';
import { findStuckWork, StuckReport } from '../ops/stuck';
import { awaitReplay, replayBatch, ReplayOutcome, ReplayResult } from '../ops/replay';
import { duration, listSome, table, truncate } from '../ops/format';

export const OPS_COMMANDS = ['status', 'topics', 'groups', 'dead-letters', 'requeue', 'stuck', 'replay'] as const;
export type OpsCommand = (typeof OPS_COMMANDS)[number];

export const OPS_USAGE = `operator commands (cli/main.ts ops <command> [flags]; all but topics also as cli/main.ts <command>):

  status        --batch N [--run R]                 a batch-run's progress per round, waiting groups, final proof
  topics        [--group G] [--all] [--partitions]  per topic: partitions, end offsets, committed offsets, lag
  groups        [--group G]                         prover groups, their pairs, consumer group members
  dead-letters  [--limit 50] [--batch N]            the dead letter topic, newest last
  requeue       --batch N [--job-id ID,..] [--dry-run]
                                                    re-produce a batch's dead-lettered jobs with attempt 0
  stuck         [--older-than-s 600] [--all-versions] [--no-consumer-groups]
                                                    idle incomplete groups, missing final proofs, lag without consumers
                                                    (exit status 3 when something is stuck)
  replay        --batch N [--from-round R] [--run SOURCE] [--to-run NEW] [--wait-s S]
                                                    reprove a batch under a new run id (whole, or from round R)

  common flags: --version 24.0  --json  --store URL (prover store, default file://.local/prover-store)
                --core-url URL (status, replay: ask the core about the batch)
  services: Kafka ${endpoints.kafkaBrokers.join(',')}, Redis ${endpoints.redisUrl} (KAFKA_BROKERS, REDIS_URL)`;

const COMMON_FLAGS = ['version', 'json', 'store', 'core-url', 'help'];
const FLAGS: Record<OpsCommand, string[]> = {
  status: ['batch', 'run'],
  topics: ['group', 'all', 'partitions'],
  groups: ['group'],
  'dead-letters': ['limit', 'batch'],
  requeue: ['batch', 'job-id', 'dry-run'],
  stuck: ['older-than-s', 'all-versions', 'no-consumer-groups'],
  replay: ['batch', 'from-round', 'run', 'to-run', 'wait-s'],
};

export interface OpsOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: OpsOutput = { out: (t) => console.log(t), err: (t) => console.error(t) };

export function isOpsCommand(c: string | undefined): c is OpsCommand {
  return (OPS_COMMANDS as readonly string[]).includes(c ?? '');
}

function requiredInt(args: ParsedArgs, name: string, min = 0): number {
  if (!args.flags.has(name)) throw new UsageError(`--${name} is required`);
  return intFlag(args, name, 0, min);
}

function optionalInt(args: ParsedArgs, name: string, min = 0): number | undefined {
  return args.flags.has(name) ? intFlag(args, name, 0, min) : undefined;
}

function booleanFlag(args: ParsedArgs, name: string): boolean {
  const v = args.flags.get(name);
  if (v === undefined) return false;
  if (v === true || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`--${name} takes no value`);
}

/** Runs one operator command; resolves with the exit status (0 ok, 1 failure, 2 usage, 3 stuck work found). */
export async function opsMain(argv: string[], io: OpsOutput = consoleOutput): Promise<number> {
  const [command, ...rest] = argv;
  if (!isOpsCommand(command)) {
    io.err(command === undefined || command === '--help' ? OPS_USAGE : `unknown operator command "${command}"\n\n${OPS_USAGE}`);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  // The commands report what they do; logs only when asked (they would mix into --json output).
  if (!process.env.LOG_LEVEL) rootLogger.level = 'silent';
  let ctx: OpsContext | null = null;
  let redis: Redis | null = null;
  try {
    const args = parseArgs(rest);
    if (args.flags.has('help')) {
      io.err(OPS_USAGE);
      return 0;
    }
    const allowed = new Set([...COMMON_FLAGS, ...FLAGS[command]]);
    const unknown = [...args.flags.keys()].filter((f) => !allowed.has(f));
    if (unknown.length > 0) throw new UsageError(`${command}: unknown flag ${unknown.map((f) => `--${f}`).join(', ')} (allowed: ${[...allowed].filter((f) => f !== 'help').map((f) => `--${f}`).join(' ')})`);
    if (args.positional.length > 0) throw new UsageError(`${command}: unexpected argument "${args.positional[0]}"`);
    let version: ProtocolVersion;
    try {
      version = parseVersion(stringFlag(args, 'version', `${DEFAULT_PROTOCOL_VERSION.minor}.${DEFAULT_PROTOCOL_VERSION.patch}`));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const json = booleanFlag(args, 'json');
    const store = createObjectStore(stringFlag(args, 'store', `file://${localDir}/prover-store`));
    const core = args.flags.has('core-url') ? new CoreClient(stringFlag(args, 'core-url', ''), 'ops') : undefined;
    // Connected on first use; a one-shot command does not wait for Redis to come back.
    redis = new Redis(endpoints.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    let redisError: Error | null = null;
    redis.on('error', (e: Error) => (redisError = e)); // failures surface on the commands
    if (command === 'status' || command === 'stuck' || command === 'replay') {
      await redis.connect().catch((e: Error) => {
        throw new OpsError(`cannot reach Redis at ${endpoints.redisUrl}: ${(redisError ?? e).message}`);
      });
    }
    ctx = opsContext({ kafka: kafkaClient(`ops-${process.pid}`), redis, store, version, core });
    const print = (value: unknown, human: () => string) => io.out(json ? JSON.stringify(value, null, 2) : human());

    switch (command) {
      case 'status': {
        const report = await batchStatus(ctx, requiredInt(args, 'batch'), intFlag(args, 'run', 0, 0));
        print(report, () => formatStatus(report));
        return 0;
      }
      case 'topics': {
        const group = optionalInt(args, 'group', 0);
        if (group !== undefined) checkGroup(group);
        let rows = await topicLags(ctx.kafka, version, { pairs: group === undefined ? undefined : pairsForGroup(group), includeEvents: booleanFlag(args, 'all') });
        // A prover group's view: its pairs, and the batches topic where it runs basic witness generation.
        if (group !== undefined) rows = rows.filter((r) => r.kind === 'pair' || r.kind === 'retry' || (r.kind === 'batches' && runsBatchWitnessGeneration(group)));
        print({ version: formatVersion(version), topics: rows }, () => formatTopics(version, rows, booleanFlag(args, 'partitions')));
        return 0;
      }
      case 'groups': {
        const report = await proverGroupsReport(ctx.kafka, version, { group: optionalInt(args, 'group', 0) });
        print({ version: formatVersion(version), ...report }, () => formatGroups(version, report));
        return 0;
      }
      case 'dead-letters': {
        const list = await listDeadLetters(ctx, { limit: intFlag(args, 'limit', 50, 1), batch: optionalInt(args, 'batch', 0) });
        print(list, () => formatDeadLetters(list));
        return 0;
      }
      case 'requeue': {
        const jobIds = args.flags.has('job-id') ? stringFlag(args, 'job-id', '').split(',').filter(Boolean) : undefined;
        const result = await requeueBatch(ctx, requiredInt(args, 'batch'), { dryRun: booleanFlag(args, 'dry-run'), jobIds });
        print(result, () => formatRequeue(result));
        return 0;
      }
      case 'stuck': {
        const report = await findStuckWork(ctx, {
          olderThanMs: intFlag(args, 'older-than-s', 600, 0) * 1000,
          allVersions: booleanFlag(args, 'all-versions'),
          consumerGroups: !booleanFlag(args, 'no-consumer-groups'),
        });
        print(report, () => formatStuck(version, report));
        return report.ok ? 0 : 3;
      }
      case 'replay': {
        const result = await replayBatch(ctx, {
          batch: requiredInt(args, 'batch'),
          fromRound: intFlag(args, 'from-round', 0, 0),
          sourceRun: intFlag(args, 'run', 0, 0),
          targetRun: optionalInt(args, 'to-run', 1),
        });
        const waitS = optionalInt(args, 'wait-s', 0);
        let outcome: (ReplayOutcome & { core?: BatchStatusReport['core'] }) | undefined;
        if (waitS !== undefined) {
          outcome = await awaitReplay(ctx, result, waitS * 1000);
          if (core) outcome.core = (await batchStatus(ctx, result.batch, result.newRun)).core;
        }
        print({ ...result, outcome: outcome ?? null }, () => formatReplay(result, outcome));
        return outcome && !(outcome.finalProofExists && outcome.sameAsSource !== false) ? 1 : 0;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${OPS_USAGE}`);
      return 2;
    }
    const err = e as Error;
    io.err(err.name.startsWith('KafkaJS') ? `error: Kafka at ${endpoints.kafkaBrokers.join(',')}: ${err.message}` : `error: ${err.message}`);
    return 1;
  } finally {
    redis?.disconnect();
  }
  return 2; // not reached: every command returns above
}

function checkGroup(group: number): void {
  const ids = defaultProverGroups().groups.map((g) => g.id);
  if (!ids.includes(group)) throw new UsageError(`no prover group ${group} (groups: ${ids.join(', ')})`);
}

// ------------------------------------------------------------------ human-readable output

function formatStatus(r: BatchStatusReport): string {
  const lines: string[] = [];
  lines.push(`batch ${r.batch} of ${r.version}, run ${r.run}   (runs with counters in Redis: ${r.runs.length ? r.runs.join(', ') : 'none'})`);
  if (!r.plan) lines.push(`no plan in the store for this run: basic witness generation has not cut the batch yet (or --store names another store)`);
  else lines.push(`plan: ${r.plan.circuits} circuit types, ${r.plan.totalJobs} jobs; geometry leaf ${r.plan.geometry.leafArity}, node ${r.plan.geometry.nodeArity}`);
  lines.push(`counters: ${r.registered ? `registered, ${r.groups!.triggered} of ${r.groups!.total} groups triggered` : r.source === 'store' ? 'not in Redis (expired or cleared): counting proofs in the store' : 'not registered'}`);
  lines.push('');
  lines.push(table(['round', 'total', 'ready', 'done', ''], r.rounds.map((x) => [`${x.round} ${x.name}`, x.total, x.ready, x.done, x.total > 0 && x.done >= x.total ? 'done' : x.ready > x.done ? 'proving' : ''])));
  lines.push('');
  if (r.waiting.length === 0) lines.push(r.registered ? 'waiting groups: none' : '');
  else {
    lines.push(`waiting groups (${r.waiting.length}):`);
    const shown = [...r.waiting].sort((a, b) => b.idleMs - a.idleMs).slice(0, 20);
    lines.push(table(['parent', 'landed', 'idle', 'missing children'], shown.map((w) => [w.parent, `${w.landed}/${w.expected}`, duration(w.idleMs), listSome(w.missingJobs.length ? w.missingJobs : w.missing.map(String), 3)]), '  '));
    if (r.waiting.length > shown.length) lines.push(`  ... and ${r.waiting.length - shown.length} more (--json lists all)`);
  }
  lines.push(`final proof: ${r.finalProof.exists ? 'stored' : 'not yet'} (${r.finalProof.key})`);
  if (r.core) lines.push('error' in r.core ? `core: could not ask: ${r.core.error}` : `core: batch ${r.core.state}${r.core.accepted ? ` — final proof accepted${r.core.provenAt ? ` at ${r.core.provenAt}` : ''}` : ''}`);
  lines.push(r.complete ? 'complete: every round proven' : 'not complete');
  return lines.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

function formatTopics(version: ProtocolVersion, rows: TopicLag[], partitions: boolean): string {
  if (rows.length === 0) return `no topics of ${formatVersion(version)} (create them: cli/main.ts topics --version ${version.minor}.${version.patch})`;
  const body: Array<Array<string | number | null>> = [];
  for (const r of rows) {
    body.push([r.topic, r.group ? (r.members ?? 0) : null, r.partitions, r.end, r.committed, r.group ? r.offsetLag : null, r.group ? `${r.lag}${r.exact ? '' : '?'}` : null]);
    if (partitions)
      for (const p of r.byPartition) body.push([`  [${p.partition}]`, null, null, p.end, p.committed, r.group ? p.offsetLag : null, r.group ? `${p.lag}${p.exact ? '' : '?'}` : null]);
  }
  const waiting = rows.filter((r) => r.lag > 0 && r.group);
  return [
    table(['topic', 'members', 'partitions', 'end', 'committed', 'offset-lag', 'lag'], body),
    '',
    'lag: committed records not consumed yet; offset-lag also counts transaction markers (what kafka-consumer-groups.sh shows); ? = upper bound, not counted',
    waiting.length === 0 ? 'nothing waiting' : `waiting: ${waiting.reduce((a, r) => a + r.lag, 0)} records on ${waiting.length} topics`,
  ].join('\n');
}

function consumerLine(c: ConsumedTopicReport): string[] {
  const lines = [`  ${c.pair.padEnd(9)} ${c.label.padEnd(52)} ${c.group}  ${c.topicExists ? `${c.state}, ${c.members.length} member(s)` : 'no topic'}`];
  for (const m of c.members) {
    const parts = Object.entries(m.assignment).map(([t, ps]) => `${t.endsWith('.retry') ? 'retry' : 'main'}[${[...ps].sort((a, b) => a - b).join(',')}]`);
    lines.push(`      ${m.clientId}  ${m.host}  ${parts.join(' ') || 'no partitions'}`);
  }
  return lines;
}

function formatGroups(version: ProtocolVersion, r: GroupsReport): string {
  const lines: string[] = [`prover groups of ${formatVersion(version)} (topics/prover-groups.json):`];
  for (const g of r.groups) {
    lines.push('', `group ${g.id}${g.basicWitnessGeneration ? ' (also basic witness generation)' : ''}: ${g.consumers.filter((c) => c.pair !== 'batches').length} pairs`);
    for (const c of g.consumers) lines.push(...consumerLine(c));
  }
  lines.push('', 'gateway:', ...consumerLine(r.gateway));
  return lines.join('\n');
}

function formatDeadLetters(l: DeadLetterList): string {
  if (l.total === 0) return `no dead letters on ${l.topic}${l.undecodable ? ` (${l.undecodable} records that are not DeadLetters)` : ''}`;
  return [
    `${l.total} dead letter(s) on ${l.topic}${l.rows.length < l.total ? `, newest ${l.rows.length} shown` : ''}${l.complete ? '' : ' (topic not read to its end)'}`,
    table(
      ['time', 'batch', 'job', 'stage', 'kind', 'attempts', 'reason'],
      l.rows.map((r) => [r.time, r.batch, r.jobId ?? `${r.originalTopic}/${r.originalPartition}/${r.originalOffset}`, r.stage, r.kind, r.attempts, truncate(r.reason, 90)]),
    ),
  ].join('\n');
}

function formatRequeue(r: RequeueResult): string {
  const lines = [`${r.dryRun ? 'would requeue' : 'requeued'} ${r.requeued.length} job(s) of batch ${r.batch} (${r.version})`];
  if (r.requeued.length > 0) lines.push(table(['job', 'to topic', 'was', 'reason'], r.requeued.map((j) => [j.jobId, j.topic, j.letter.kind, truncate(j.letter.reason, 70)]), '  '));
  if (r.skipped.length > 0) {
    lines.push(`skipped ${r.skipped.length}:`);
    lines.push(table(['job', 'from topic', 'why'], r.skipped.map((s) => [s.jobId, s.originalTopic, s.why]), '  '));
  }
  return lines.join('\n');
}

function formatStuck(version: ProtocolVersion, r: StuckReport): string {
  const lines = [`checked ${r.batchRuns} batch-run(s) with registered plans; threshold ${duration(r.olderThanMs)}`];
  if (r.ok) return [...lines, 'nothing stuck'].join('\n');
  if (r.stuckGroups.length > 0) {
    lines.push('', `aggregation groups not moving (${r.stuckGroups.length}):`);
    lines.push(table(['batch-run', 'parent', 'state', 'landed', 'idle', 'waiting on'], r.stuckGroups.map((g) => [g.batchRunKey, g.parent, g.state, `${g.landed}/${g.expected}`, duration(g.idleMs), listSome(g.waitingOn.length ? g.waitingOn : g.missing.map((m) => `member ${m}`), 3)]), '  '));
  }
  if (r.missingFinalProofs.length > 0) {
    lines.push('', 'compression triggered but no final proof:');
    lines.push(table(['batch-run', 'since', 'key'], r.missingFinalProofs.map((m) => [m.batchRunKey, duration(m.idleMs), m.key]), '  '));
  }
  if (r.stalledConsumerGroups.length > 0) {
    lines.push('', `consumer groups with records waiting and no members (${formatVersion(version)}):`);
    lines.push(table(['group', 'lag', 'topics'], r.stalledConsumerGroups.map((g) => [g.group, `${g.lag}${g.exact ? '' : '?'}`, g.topics.join(' ')]), '  '));
  }
  return lines.join('\n');
}

function formatReplay(r: ReplayResult, outcome?: ReplayOutcome & { core?: BatchStatusReport['core'] }): string {
  const lines = [
    `replaying batch ${r.batch} of ${r.version} as run ${r.newRun} (${r.batchRunKey}), ${r.fromRound === 0 ? 'whole batch' : `from round ${r.fromRound}`}, source run ${r.sourceRun}`,
    r.fromRound === 0 ? `input copied; BatchJob from ${r.batchJobSource === 'batches-topic' ? 'the batches topic' : 'the store and the core'}` : `copied ${r.copied} proofs of rounds < ${r.fromRound}; landed ${r.landed} of them in run ${r.newRun}'s counters`,
    `produced ${r.produced.length}: ${listSome(r.produced.map((p) => p.jobId), 4)}`,
  ];
  if (outcome) {
    lines.push(
      outcome.finalProofExists
        ? `final proof of run ${r.newRun} stored; ${outcome.sameAsSource === null ? 'run ' + r.sourceRun + ' has none to compare' : outcome.sameAsSource ? `same bytes as run ${r.sourceRun}'s` : `DIFFERS from run ${r.sourceRun}'s`}`
        : `final proof of run ${r.newRun} not stored yet (follow it: status --batch ${r.batch} --run ${r.newRun})`,
    );
    if (outcome.core) lines.push('error' in outcome.core ? `core: ${outcome.core.error}` : `core: batch ${outcome.core.state}`);
  } else {
    lines.push(`follow it: status --batch ${r.batch} --run ${r.newRun}`);
  }
  return lines.join('\n');
}
