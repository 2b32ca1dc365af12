// Metrics of a prover process: jobs by state per (circuit_id, aggregation_round,
// protocol_version), step durations and hop latency per round, dead letters by kind, retries.
// Fed by the hooks the pipeline already has: StageObserver (consumers/prover-stage.ts), the
// JobRunnerListener of every runner (processor/listener.ts), a timing wrapper around the
// prover's JobSaver and a look at what the transactional committer commits (dead letters).
//
// Hot path: one Map lookup per call for the label children (cached per version and
// (round, circuit)), then prom-client's child inc/observe; nothing is formatted per job.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatVersion } from '../lib/protocol-version';
import type { ProtocolVersion } from '../lib/protocol-version';
import type { JobRunnerListener } from '../processor/listener';
import type { JobOutcome, JobSaver } from '../processor/job-saver';
import { type BatchJob, type DeadLetter, type ProverJob, type WitnessVectorJob, decode } from '../schemas';
import type { StageObserver, StageTimings } from '../consumers/prover-stage';
import type { KafkaJobMeta } from '../consumers/kafka/kafka-job-picker';
import type { TransactionalCommitter } from '../consumers/kafka/transactional-committer';
import type { ConsumerLagCollector } from './consumer-lag-collector';
import type { WatchedGroup } from './consumer-lag';
import { DURATION_BUCKETS } from './registry';

const JOB_LABELS = ['circuit_id', 'aggregation_round', 'protocol_version'] as const;

interface JobChildren {
  picked: Counter.Internal;
  succeeded: Counter.Internal;
  failed: Counter.Internal;
  retried: Counter.Internal;
  deadLettered: Counter.Internal;
  inFlight: Gauge.Internal<string>;
}

interface RoundChildren {
  witness: Histogram.Internal<string>;
  vector: Histogram.Internal<string>;
  prove: Histogram.Internal<string>;
  save: Histogram.Internal<string>;
  hop: Histogram.Internal<string>;
}

/** What consumers/prover-process.ts asks of the metrics it is given. */
export interface ProverProcessMetrics {
  /** A StageObserver that records the metrics and then calls `inner`. */
  stageObserver(inner?: StageObserver): StageObserver;
  /** The listener of a pair topic's JobRunner. */
  pairRunnerListener<J extends PairJobLabels = ProverJob>(): JobRunnerListener<KafkaJobMeta<J>>;
  /** The listener of the basic witness generation JobRunner (batches topic). */
  batchRunnerListener(): JobRunnerListener<KafkaJobMeta<BatchJob>>;
  /** Times each save of a proof (store + landing). */
  timedSaver<O, J extends PairJobLabels = ProverJob>(saver: JobSaver<KafkaJobMeta<J>, O>): JobSaver<KafkaJobMeta<J>, O>;
  /** Counts the dead letters and transactions the committer commits. */
  watchCommitter(committer: TransactionalCommitter): void;
  /** Consumer groups whose lag this process reports. */
  watchGroups(groups: WatchedGroup[]): void;
}

/** What the job metrics' labels come from: a ProverJob, or a zone's hand-off job (WitnessVectorJob). */
export type PairJobLabels = Pick<ProverJob, 'protocol_version' | 'aggregation_round' | 'circuit_id'>;

/** Sets a counter to an externally kept total on scrape. */
function setCounter(c: Counter<string>, value: number, labels?: Record<string, string>): void {
  if (labels) {
    c.remove(labels);
    c.inc(labels, value);
  } else {
    c.reset();
    c.inc(value);
  }
}

export class ProverMetrics implements ProverProcessMetrics {
  private readonly picked: Counter<string>;
  private readonly succeeded: Counter<string>;
  private readonly failed: Counter<string>;
  private readonly retried: Counter<string>;
  private readonly deadLetteredJobs: Counter<string>;
  private readonly inFlight: Gauge<string>;
  private readonly witness: Histogram<string>;
  private readonly vector: Histogram<string>;
  private readonly prove: Histogram<string>;
  private readonly save: Histogram<string>;
  private readonly hop: Histogram<string>;
  private readonly deadLetters: Counter<string>;
  private readonly runnerRetries: Counter<string>;
  private readonly batchPicked: Counter<string>;
  private readonly batchSucceeded: Counter<string>;
  private readonly batchFailed: Counter<string>;
  private readonly batchDuration: Histogram<string>;
  private readonly parentsTriggered: Counter<string>;

  /** version string -> (round << 16 | circuit) -> children */
  private readonly jobChildren = new Map<string, Map<number, JobChildren>>();
  private lastVersion: ProtocolVersion | null = null;
  private lastVersionChildren: Map<number, JobChildren> | null = null;
  private readonly roundChildren: Array<RoundChildren | undefined> = [];
  /** The job the stage just dead-lettered: its jobSaved call follows synchronously. */
  private deadLetteredJob: ProverJob | null = null;
  private readonly committers: TransactionalCommitter[] = [];

  constructor(
    readonly registry: Registry,
    private readonly lag?: ConsumerLagCollector,
  ) {
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: readonly string[] = JOB_LABELS): Counter<string> => new Counter({ name, help, labelNames, registers });
    const histogram = (name: string, help: string, labelNames: readonly string[] = ['aggregation_round']): Histogram<string> =>
      new Histogram({ name, help, labelNames, buckets: DURATION_BUCKETS, registers });
    this.picked = counter('zkp_jobs_picked_total', 'Prover jobs handed to an executor (a redelivered job counts again).');
    this.succeeded = counter('zkp_jobs_succeeded_total', 'Prover jobs whose proof was saved and landed.');
    this.failed = counter('zkp_jobs_failed_total', 'Prover job executions that failed (then retried or dead-lettered).');
    this.retried = counter('zkp_jobs_retried_total', 'Failed prover jobs sent to their retry topic for another attempt.');
    this.deadLetteredJobs = counter('zkp_jobs_dead_lettered_total', 'Prover jobs sent to the dead letter topic.');
    this.inFlight = new Gauge({ name: 'zkp_jobs_in_flight', help: 'Prover jobs picked and not yet saved.', labelNames: JOB_LABELS, registers });
    this.witness = histogram('zkp_witness_generation_duration_seconds', 'Witness generation of a prover job (loading inputs, verifying children).');
    this.vector = histogram('zkp_witness_vector_generation_duration_seconds', 'Witness vector generation of a prover job.');
    this.prove = histogram('zkp_proving_duration_seconds', 'Proving of a prover job.');
    this.save = histogram('zkp_save_duration_seconds', 'Saving a proof: object store write and the landing in Redis.');
    this.hop = histogram('zkp_hop_latency_seconds', 'From a job becoming ready (its last child landed; triggered_at_ms) to its execution starting.');
    this.deadLetters = counter('zkp_dead_letters_total', 'Dead letters committed to the dead letter topic, by DeadLetter.error_kind.', ['error_kind']);
    this.runnerRetries = counter('zkp_runner_retries_total', 'Retries of a failing pick or save inside a job runner.', ['stage']);
    this.batchPicked = counter('zkp_batch_jobs_picked_total', 'Batch jobs picked by basic witness generation.', ['protocol_version']);
    this.batchSucceeded = counter('zkp_batch_jobs_succeeded_total', 'Batches cut into basic prover jobs.', ['protocol_version']);
    this.batchFailed = counter('zkp_batch_jobs_failed_total', 'Batch jobs whose basic witness generation failed (dead-lettered).', ['protocol_version']);
    this.batchDuration = histogram('zkp_batch_witness_generation_duration_seconds', 'Basic witness generation of a batch (cutting it into circuit instances).', ['protocol_version']);
    this.parentsTriggered = counter('zkp_parent_jobs_triggered_total', 'Aggregation jobs emitted because their last child landed, by the round of the emitted job.', ['aggregation_round']);

    // Totals the committers keep themselves, read on scrape.
    const committers = this.committers;
    const fromCommitters = (name: string, help: string, stat: 'transactions' | 'aborted' | 'records'): Counter<string> =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          setCounter(this, committers.reduce((a, c) => a + c.stats[stat], 0));
        },
      });
    fromCommitters('zkp_committer_transactions_total', 'Kafka transactions committed by this process.', 'transactions');
    fromCommitters('zkp_committer_aborted_transactions_total', 'Kafka transactions aborted by this process.', 'aborted');
    fromCommitters('zkp_committer_records_total', 'Records produced inside committed transactions.', 'records');
  }

  // -- label children ------------------------------------------------------------------------

  private forJob(job: PairJobLabels): JobChildren {
    const v = job.protocol_version;
    let byPair = this.lastVersionChildren;
    if (!byPair || this.lastVersion!.minor !== v.minor || this.lastVersion!.patch !== v.patch) {
      const vs = formatVersion(v);
      byPair = this.jobChildren.get(vs) ?? null;
      if (!byPair) this.jobChildren.set(vs, (byPair = new Map()));
      this.lastVersion = { minor: v.minor, patch: v.patch };
      this.lastVersionChildren = byPair;
    }
    const key = (job.aggregation_round << 16) | job.circuit_id;
    let c = byPair.get(key);
    if (!c) {
      const labels = [String(job.circuit_id), String(job.aggregation_round), formatVersion(v)];
      c = {
        picked: this.picked.labels(...labels),
        succeeded: this.succeeded.labels(...labels),
        failed: this.failed.labels(...labels),
        retried: this.retried.labels(...labels),
        deadLettered: this.deadLetteredJobs.labels(...labels),
        inFlight: this.inFlight.labels(...labels),
      };
      byPair.set(key, c);
    }
    return c;
  }

  private forRound(round: number): RoundChildren {
    let r = this.roundChildren[round];
    if (!r) {
      const l = String(round);
      r = this.roundChildren[round] = {
        witness: this.witness.labels(l),
        vector: this.vector.labels(l),
        prove: this.prove.labels(l),
        save: this.save.labels(l),
        hop: this.hop.labels(l),
      };
    }
    return r;
  }

  // -- hooks -----------------------------------------------------------------------------------

  stageObserver(inner?: StageObserver): StageObserver {
    return {
      jobStarted: (job: ProverJob, hopMs: number) => {
        this.forRound(job.aggregation_round).hop.observe(hopMs / 1000);
        inner?.jobStarted?.(job, hopMs);
      },
      jobSaved: (job: ProverJob, ok: boolean, timings: StageTimings | null) => {
        const c = this.forJob(job);
        if (this.deadLetteredJob === job) {
          // Counted in deadLettered; a failed execution is a failure as well.
          this.deadLetteredJob = null;
          if (!ok) c.failed.inc();
        } else if (ok) {
          c.succeeded.inc();
          if (timings) {
            const r = this.forRound(job.aggregation_round);
            if (timings.witnessMs !== null) r.witness.observe(timings.witnessMs / 1000);
            if (timings.vectorMs !== null) r.vector.observe(timings.vectorMs / 1000);
            r.prove.observe(timings.proveMs / 1000);
          }
        } else {
          c.failed.inc();
          c.retried.inc();
        }
        inner?.jobSaved?.(job, ok, timings);
      },
      parentTriggered: (parent: ProverJob) => {
        this.parentsTriggered.labels(String(parent.aggregation_round)).inc();
        inner?.parentTriggered?.(parent);
      },
      deadLettered: (job: ProverJob | null, reason: string) => {
        if (job) {
          this.deadLetteredJob = job;
          this.forJob(job).deadLettered.inc();
        }
        inner?.deadLettered?.(job, reason);
      },
      vectorHandedOff: (handOff: WitnessVectorJob, timings: { witnessMs: number; vectorMs: number }) => {
        const r = this.forRound(handOff.aggregation_round);
        r.witness.observe(timings.witnessMs / 1000);
        r.vector.observe(timings.vectorMs / 1000);
        inner?.vectorHandedOff?.(handOff, timings);
      },
      handOffStarted: (handOff: WitnessVectorJob, topic: string) => inner?.handOffStarted?.(handOff, topic),
    };
  }

  pairRunnerListener<J extends PairJobLabels = ProverJob>(): JobRunnerListener<KafkaJobMeta<J>> {
    return {
      picked: (meta) => {
        const c = this.forJob(meta.job);
        c.picked.inc();
        c.inFlight.inc();
      },
      saved: (meta) => this.forJob(meta.job).inFlight.dec(),
      retried: (stage) => this.runnerRetries.labels(stage).inc(),
    };
  }

  batchRunnerListener(): JobRunnerListener<KafkaJobMeta<BatchJob>> {
    return {
      picked: (meta) => this.batchPicked.labels(formatVersion(meta.job.protocol_version)).inc(),
      executed: (meta, ok, ms) => {
        if (ok) this.batchDuration.labels(formatVersion(meta.job.protocol_version)).observe(ms / 1000);
      },
      saved: (meta, ok) => (ok ? this.batchSucceeded : this.batchFailed).labels(formatVersion(meta.job.protocol_version)).inc(),
      retried: (stage) => this.runnerRetries.labels(stage).inc(),
    };
  }

  /** Listener for any other runner (e.g. the gateway's): counts its pick and save retries. */
  runnerRetryListener<M>(): JobRunnerListener<M> {
    return { retried: (stage) => this.runnerRetries.labels(stage).inc() };
  }

  timedSaver<O, J extends PairJobLabels = ProverJob>(saver: JobSaver<KafkaJobMeta<J>, O>): JobSaver<KafkaJobMeta<J>, O> {
    // A batch's time is each of its proofs' save time: each waited that long for it.
    const timed = async (outcomes: JobOutcome<KafkaJobMeta<J>, O>[], save: () => Promise<void>) => {
      const t = performance.now();
      await save();
      const s = (performance.now() - t) / 1000;
      for (const o of outcomes) if (o.ok) this.forRound(o.metadata.job.aggregation_round).save.observe(s);
    };
    const batch = saver.saveBatch?.bind(saver);
    return {
      save: (outcome, signal) => timed([outcome], () => saver.save(outcome, signal)),
      ...(batch ? { saveBatch: (outcomes: JobOutcome<KafkaJobMeta<J>, O>[], signal: AbortSignal) => timed(outcomes, () => batch(outcomes, signal)) } : {}),
    };
  }

  watchCommitter(committer: TransactionalCommitter): void {
    this.committers.push(committer);
    const submit = committer.submit.bind(committer);
    committer.submit = (records, completions) => {
      const p = submit(records, completions);
      let kinds: string[] | null = null;
      for (const r of records) {
        if (r.topic.endsWith('.dlt') && r.value) (kinds ??= []).push(deadLetterKind(r.value as Buffer));
      }
      if (kinds) {
        const counted = kinds;
        p.then(() => counted.forEach((k) => this.deadLetters.labels(k).inc()), () => undefined);
      }
      return p;
    };
  }

  watchGroups(groups: WatchedGroup[]): void {
    this.lag?.watch(groups);
  }
}

function deadLetterKind(value: Buffer): string {
  try {
    return (decode('DeadLetter', value) as DeadLetter).error_kind;
  } catch {
    return 'unknown';
  }
}
