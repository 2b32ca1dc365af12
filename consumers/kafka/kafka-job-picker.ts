// A JobPicker over one Kafka consumer group. kafkajs pushes fetched batches; the picker hands
// them out one by one through a bounded queue, so a slow executor stops the fetching (back-
// pressure) instead of filling memory. Offsets are never committed here: the picker records
// every handed-out offset in the group's OffsetTracker, and the transactional committer
// commits the contiguous prefix once the jobs' results are produced.
import { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Logger, loggerFor } from '../../lib/logger';
import { BoundedQueue, Taken } from '../../processor/bounded-queue';
import { JobPicker, PickedJob } from '../../processor/job-picker';
import { OffsetTracker } from './offset-tracker';
import { Completion, OutgoingRecord, TransactionalCommitter } from './transactional-committer';

// kafkajs 2.2.4 keeps a 1 ms timer loop running on every connection's request queue even when
// nothing waits in it (tulios/kafkajs#1556, #1604, #1704; fix proposed in #1667). A prover process
// has a consumer, so two connections, per pair topic: the loops alone kept a resting process at
// 20-25 % of a core. Checking the queue is only needed while requests wait in it (a request
// pushed later schedules the check itself), so skip the timer when none do.
(function skipIdleRequestQueueChecks(): void {
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (version !== '2.2.4') return; // the loop is that version's; leave any other alone
  const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: { pending: unknown[]; scheduleCheckPendingRequests(): void } };
  const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
  if (typeof schedule !== 'function' || (schedule as { skipsIdle?: boolean }).skipsIdle) return;
  const skipsIdle = function (this: { pending: unknown[] }): void {
    if (this.pending.length > 0) schedule.call(this);
  };
  (skipsIdle as { skipsIdle?: boolean }).skipsIdle = true;
  RequestQueue.prototype.scheduleCheckPendingRequests = skipsIdle;
})();

/** The reason a poll ends: shared, so an idle poll does not build an exception each time. */
const POLL_ENDED = new Error('poll ended');

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
      // A long poll: the broker answers as soon as committed records arrive, so this bounds
      // only how often an idle consumer asks again (64 consumer groups per prover process).
      maxWaitTimeInMs: Number(process.env.ZKP_FETCH_WAIT_MS ?? 1000),
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
    let lastHeartbeat = Date.now();
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      // kafkajs heartbeats only when asked to: a batch of thousands of jobs takes the executors
      // longer than the session timeout to work through, even when the queue never stays full
      // for long. Without this the member is evicted, the group rebalances and every handed-out
      // job not yet committed is fetched and run again.
      if (Date.now() - lastHeartbeat >= 1000) {
        await heartbeat();
        lastHeartbeat = Date.now();
      }
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
      const item = consumed as KafkaJobMeta<T>;
      item.job = job;
      // Room now (the usual case while the executors keep up): no timer, no abort signal.
      if (this.queue.size >= this.queue.capacity || !(await this.queue.put(item))) {
        // Wait for room, heartbeating so a slow executor does not get this member evicted.
        while (!(await this.putWithTimeout(item, 1000))) {
          if (!isRunning() || isStale()) return;
          await heartbeat();
        }
      }
      resolveOffset(message.offset);
    }
    await heartbeat();
  }

  private consumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage & { job?: T } {
    return {
      groupId: this.options.groupId,
      topic,
      partition,
      offset: m.offset,
      key: m.key ? m.key.toString() : null,
      value: m.value ?? Buffer.alloc(0),
      pickedAtMs: 0,
      job: undefined,
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
    // A job is waiting (the usual case under load): take it without a timer or a listener.
    if (this.queue.size > 0 && !signal.aborted) return this.handOut(await this.queue.take());
    const ac = new AbortController();
    const onAbort = () => ac.abort(POLL_ENDED);
    signal.addEventListener('abort', onAbort, { once: true });
    const t = setTimeout(() => ac.abort(POLL_ENDED), this.options.pollTimeoutMs ?? 500);
    try {
      return this.handOut(await this.queue.take(ac.signal));
    } finally {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private handOut(taken: Taken<KafkaJobMeta<T>>): PickedJob<T, KafkaJobMeta<T>> | null {
    if (taken.done) return null;
    // The item was made for this hand-out alone (onBatch): stamp it rather than copy it.
    const metadata = taken.value;
    metadata.pickedAtMs = Date.now();
    return { input: metadata.job, metadata };
  }

  /** Stops fetching. Jobs already handed out are still saved and committed by their saver. */
  async stop(): Promise<void> {
    await this.consumer.stop();
    this.queue.close();
    await this.consumer.disconnect();
  }
}
