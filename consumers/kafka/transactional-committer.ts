// One Kafka transaction carries, for every job saved since the last flush: the records the
// job produces (next-level jobs, events, dead letters) and the offsets of the consumer groups
// the jobs came from. Either all of it becomes visible to read_committed consumers, or none
// of it does and the jobs are redelivered. Shared by every consumer of a process, so one
// commit covers many jobs of many pair topics.
import { Kafka, Message, Producer, Transaction } from 'kafkajs';
import { crashPoint } from '../../lib/fault-injection';
import { Logger, loggerFor } from '../../lib/logger';
import { parseTopic } from '../../topics/naming';
import { OffsetTracker } from './offset-tracker';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

/** A consumed message that is fully handled once the transaction carrying it commits. */
export interface Completion {
  groupId: string;
  topic: string;
  partition: number;
  offset: string;
}

interface Pending {
  records: OutgoingRecord[];
  completions: Completion[];
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface CommitterOptions {
  transactionalId: string;
  /** How long a submission carrying work for a consumer (a job, a batch, a final proof) may wait for others to share its transaction. */
  lingerMs?: number;
  /**
   * How long a submission carrying only events (proof landed, aggregation ready, dead letters,
   * retries), or only offsets, may wait: nobody waits for those, so they share the next work
   * transaction or one of their own after this long. Fewer, larger transactions cost the broker
   * less (each one writes markers to every partition it touched).
   */
  eventLingerMs?: number;
  maxRecordsPerTransaction?: number;
  /** Attempts at one transaction before the committer gives up and reports a fatal error. */
  maxAttempts?: number;
  transactionTimeoutMs?: number;
  /** Called when a transaction cannot be committed: the process must stop so its jobs are redelivered. */
  onFatal?: (error: Error) => void;
  logger?: Logger;
}

/** Attempts at one group's AddOffsetsToTxn answered CONCURRENT_TRANSACTIONS (5 ms, doubling, up to 100 ms apart). */
const CONCURRENT_RETRIES = 12;

export class TransactionalCommitter {
  private readonly producer: Producer;
  private readonly trackers = new Map<string, OffsetTracker>();
  private queue: Pending[] = [];
  private queuedRecords = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private readonly workTopics = new Map<string, boolean>();
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly log: Logger;
  readonly stats = { transactions: 0, records: 0, aborted: 0, commitMs: 0, maxCommitMs: 0, offsetGroups: 0, concurrentRetries: 0 };

  constructor(kafka: Kafka, private readonly options: CommitterOptions) {
    this.producer = kafka.producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      // Several requests of one transaction in flight at once (see commitTransaction); kafkajs
      // still sends one produce request per broker at a time for an idempotent producer.
      maxInFlightRequests: 5,
      transactionTimeout: options.transactionTimeoutMs ?? 30_000,
      allowAutoTopicCreation: false,
    });
    this.log = options.logger ?? loggerFor('committer', { transactionalId: options.transactionalId });
  }

  /** Connecting with a transactional id fences and aborts any transaction a previous incarnation left open. */
  async start(): Promise<void> {
    await this.producer.connect();
  }

  trackerFor(groupId: string): OffsetTracker {
    let t = this.trackers.get(groupId);
    if (!t) this.trackers.set(groupId, (t = new OffsetTracker()));
    return t;
  }

  /** Resolves when the records are produced and the completions' offsets committed, atomically. */
  submit(records: OutgoingRecord[], completions: Completion[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('committer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ records, completions, resolve, reject });
      this.queuedRecords += records.length + completions.length;
      if (this.queuedRecords >= (this.options.maxRecordsPerTransaction ?? 5000)) this.scheduleFlush(0);
      else if (records.some((r) => this.isWork(r.topic))) this.scheduleFlush(this.options.lingerMs ?? 5);
      else this.scheduleFlush(this.options.eventLingerMs ?? 100);
    });
  }

  /** Records a consumer is waiting for: jobs (pair and hand-off topics), batches, final proofs; and any topic not named by topics/naming. */
  private isWork(topic: string): boolean {
    let work = this.workTopics.get(topic);
    if (work === undefined) {
      try {
        const kind = parseTopic(topic).kind;
        work = kind === 'pair' || kind === 'handoff' || kind === 'batches' || kind === 'final-proofs';
      } catch {
        work = true;
      }
      this.workTopics.set(topic, work);
    }
    return work;
  }

  /** Flushes in `delayMs` unless a flush is already due by then. */
  private scheduleFlush(delayMs: number): void {
    const due = Date.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flushing.then(() => this.flushOnce());
    }, delayMs);
  }

  /** Waits until everything submitted so far is committed. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing = this.flushing.then(() => this.flushOnce());
    await this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.queuedRecords = 0;
    for (const p of batch) for (const c of p.completions) this.trackerFor(c.groupId).complete(c.topic, c.partition, c.offset);
    const offsets = [...this.trackers].map(([groupId, t]) => ({ groupId, topics: t.toCommit() })).filter((g) => g.topics.length > 0);
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      for (const r of p.records) {
        let list = byTopic.get(r.topic);
        if (!list) byTopic.set(r.topic, (list = []));
        list.push({ key: r.key, value: r.value, headers: r.headers });
      }
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const t0 = Date.now();
        await this.commitTransaction(topicMessages, offsets);
        const took = Date.now() - t0;
        this.stats.commitMs += took;
        this.stats.maxCommitMs = Math.max(this.stats.maxCommitMs, took);
        this.stats.offsetGroups += offsets.length;
        for (const g of offsets) this.trackers.get(g.groupId)!.markCommitted(g.topics);
        this.stats.transactions++;
        this.stats.records += topicMessages.reduce((a, t) => a + t.messages.length, 0);
        for (const p of batch) p.resolve();
        return;
      } catch (e) {
        this.stats.aborted++;
        const err = e as Error;
        this.log.warn({ err, attempt }, 'transaction failed');
        if (attempt >= maxAttempts) {
          const fatal = new Error(`transaction failed ${attempt} times: ${err.message}`);
          for (const p of batch) p.reject(fatal);
          this.options.onFatal?.(fatal);
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
      }
    }
  }

  private async commitTransaction(
    topicMessages: Array<{ topic: string; messages: Message[] }>,
    offsets: Array<{ groupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }>,
  ): Promise<void> {
    const txn = await this.producer.transaction();
    try {
      // The produce and each group's offsets (kafkajs: FindCoordinator, AddOffsetsToTxn,
      // FindCoordinator, TxnOffsetCommit) do not depend on each other until EndTxn: send them
      // all at once, so their requests are pipelined on the connection instead of costing four
      // round trips per group, one group after another. Every one of them is settled before the
      // commit, and before an abort: no request of this transaction is still on its way when
      // the transaction ends.
      const sends: Array<Promise<unknown>> = [];
      if (topicMessages.length > 0) sends.push(txn.sendBatch({ topicMessages }));
      for (const g of offsets) sends.push(this.sendOffsets(txn, g));
      const failed = (await Promise.allSettled(sends)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      crashPoint('before-commit');
      await txn.commit();
      crashPoint('after-commit');
    } catch (e) {
      await txn.abort().catch(() => undefined);
      throw e;
    }
  }

  /**
   * One group's offsets into the transaction. Right after a commit the coordinator is still
   * writing that transaction's markers and answers AddOffsetsToTxn with CONCURRENT_TRANSACTIONS
   * for a few milliseconds: ask again shortly, as the Java client does, instead of aborting the
   * whole transaction. (AddOffsetsToTxn is idempotent; kafkajs retries the produce's
   * AddPartitionsToTxn itself.)
   */
  private async sendOffsets(txn: Transaction, g: { groupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await txn.sendOffsets({ consumerGroupId: g.groupId, topics: g.topics });
        return;
      } catch (e) {
        if ((e as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= CONCURRENT_RETRIES) throw e;
        this.stats.concurrentRetries++;
        await new Promise((r) => setTimeout(r, Math.min(100, 5 * 2 ** (attempt - 1))));
      }
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.producer.disconnect();
  }
}
