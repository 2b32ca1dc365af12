// One Kafka transaction carries, for every job saved since the last flush: the records the
// job produces (next-level jobs, events, dead letters) and the offsets of the consumer groups
// the jobs came from. Either all of it becomes visible to read_committed consumers, or none
// of it does and the jobs are redelivered. Shared by every consumer of a process, so one
// commit covers many jobs of many pair topics.
import { Kafka, Message, Producer } from 'kafkajs';
import { crashPoint } from '../../lib/fault-injection';
import { Logger, loggerFor } from '../../lib/logger';
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
  /** How long a submission may wait for others to share its transaction. */
  lingerMs?: number;
  maxRecordsPerTransaction?: number;
  /** Attempts at one transaction before the committer gives up and reports a fatal error. */
  maxAttempts?: number;
  transactionTimeoutMs?: number;
  /** Called when a transaction cannot be committed: the process must stop so its jobs are redelivered. */
  onFatal?: (error: Error) => void;
  logger?: Logger;
}

export class TransactionalCommitter {
  private readonly producer: Producer;
  private readonly trackers = new Map<string, OffsetTracker>();
  private queue: Pending[] = [];
  private queuedRecords = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly log: Logger;
  readonly stats = { transactions: 0, records: 0, aborted: 0, commitMs: 0, maxCommitMs: 0, offsetGroups: 0 };

  constructor(kafka: Kafka, private readonly options: CommitterOptions) {
    this.producer = kafka.producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
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
      else this.scheduleFlush(this.options.lingerMs ?? 5);
    });
  }

  private scheduleFlush(delayMs: number): void {
    if (this.timer && delayMs > 0) return;
    if (this.timer) clearTimeout(this.timer);
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
      if (topicMessages.length > 0) await txn.sendBatch({ topicMessages });
      for (const g of offsets) await txn.sendOffsets({ consumerGroupId: g.groupId, topics: g.topics });
      crashPoint('before-commit');
      await txn.commit();
      crashPoint('after-commit');
    } catch (e) {
      await txn.abort().catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.producer.disconnect();
  }
}
