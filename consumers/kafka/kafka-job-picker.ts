// A JobPicker over one Kafka consumer group. kafkajs pushes fetched batches; the picker hands
// them out one by one through a bounded queue, so a slow executor stops the fetching (back-
// pressure) instead of filling memory. Offsets are never committed here: the picker records
// every handed-out offset in the group's OffsetTracker, and the transactional committer
// commits the contiguous prefix once the jobs' results are produced.
import { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Logger, loggerFor } from '../../lib/logger';
import { BoundedQueue } from '../../processor/bounded-queue';
import { JobPicker, PickedJob } from '../../processor/job-picker';
import { OffsetTracker } from './offset-tracker';
import { Completion, OutgoingRecord, TransactionalCommitter } from './transactional-committer';

export interface ConsumedMessage {
  groupId: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  /** When the picker handed the job out (ms since epoch). */
  pickedAtMs: number;
}

export interface KafkaJobMeta<T> extends ConsumedMessage {
  job: T;
}

export interface KafkaJobPickerOptions<T> {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  committer: TransactionalCommitter;
  /** Decodes a message value; a throw sends the message to the dead letter topic. */
  decode(value: Buffer, message: ConsumedMessage): T;
  /** The records (dead letters) to produce for a message that could not be decoded. */
  onUndecodable(message: ConsumedMessage, error: Error): OutgoingRecord[];
  /** Time (ms since epoch) before which a job must not start, e.g. a retry's back-off. */
  notBefore?(job: T): number;
  queueSize?: number;
  /** How long `pick` waits for a message before answering "nothing now". */
  pollTimeoutMs?: number;
  /** The consumer's zone, for rack-aware fetching. */
  rackId?: string;
  sessionTimeoutMs?: number;
  logger?: Logger;
}

export class KafkaJobPicker<T> implements JobPicker<T, KafkaJobMeta<T>> {
  private readonly consumer: Consumer;
  private readonly queue: BoundedQueue<KafkaJobMeta<T>>;
  private readonly tracker: OffsetTracker;
  private readonly log: Logger;
  readonly stats = { fetched: 0, deadLettered: 0 };

  constructor(private readonly options: KafkaJobPickerOptions<T>) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      rackId: options.rackId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: Number(process.env.ZKP_FETCH_WAIT_MS ?? 250),
    });
    this.queue = new BoundedQueue(options.queueSize ?? 256);
    this.tracker = options.committer.trackerFor(options.groupId);
    this.log = options.logger ?? loggerFor('picker', { groupId: options.groupId });
    const { GROUP_JOIN } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (e) => this.log.debug({ assignment: e.payload.memberAssignment }, 'joined group'));
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    for (const topic of this.options.topics) await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const consumed = this.consumed(batch.topic, batch.partition, message);
      this.tracker.begin(batch.topic, batch.partition, message.offset);
      this.stats.fetched++;
      let job: T;
      try {
        job = this.options.decode(consumed.value, consumed);
      } catch (e) {
        await this.deadLetter(consumed, e as Error);
        resolveOffset(message.offset);
        continue;
      }
      const wait = (this.options.notBefore?.(job) ?? 0) - Date.now();
      if (wait > 0) await this.sleepWithHeartbeats(wait, heartbeat, isRunning);
      // Wait for room, heartbeating so a slow executor does not get this member evicted.
      while (!(await this.putWithTimeout({ ...consumed, job, pickedAtMs: 0 }, 1000))) {
        if (!isRunning() || isStale()) return;
        await heartbeat();
      }
      resolveOffset(message.offset);
    }
    await heartbeat();
  }

  private consumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage {
    return {
      groupId: this.options.groupId,
      topic,
      partition,
      offset: m.offset,
      key: m.key ? m.key.toString() : null,
      value: m.value ?? Buffer.alloc(0),
      pickedAtMs: 0,
    };
  }

  private async deadLetter(message: ConsumedMessage, error: Error): Promise<void> {
    this.stats.deadLettered++;
    this.log.warn({ topic: message.topic, partition: message.partition, offset: message.offset, err: error.message }, 'undecodable message to dead letter topic');
    const completion: Completion = { groupId: message.groupId, topic: message.topic, partition: message.partition, offset: message.offset };
    // Not awaited: the committer's transaction orders it with the other completions.
    this.options.committer.submit(this.options.onUndecodable(message, error), [completion]).catch(() => undefined);
  }

  private async putWithTimeout(item: KafkaJobMeta<T>, ms: number): Promise<boolean> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), ms);
    try {
      return await this.queue.put(item, ac.signal);
    } finally {
      clearTimeout(t);
    }
  }

  private async sleepWithHeartbeats(ms: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<void> {
    const until = Date.now() + ms;
    while (isRunning() && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
      await heartbeat();
    }
  }

  async pick(signal: AbortSignal): Promise<PickedJob<T, KafkaJobMeta<T>> | null> {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const t = setTimeout(() => ac.abort(), this.options.pollTimeoutMs ?? 500);
    try {
      const taken = await this.queue.take(ac.signal);
      if (taken.done) return null;
      const metadata = { ...taken.value, pickedAtMs: Date.now() };
      return { input: metadata.job, metadata };
    } finally {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Stops fetching. Jobs already handed out are still saved and committed by their saver. */
  async stop(): Promise<void> {
    await this.consumer.stop();
    this.queue.close();
    await this.consumer.disconnect();
  }
}
