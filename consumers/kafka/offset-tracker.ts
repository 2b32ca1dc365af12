// Which offsets of a partition may be committed. Jobs of one partition finish out of order
// (N executor workers); an offset is committable only when it and every offset before it
// that this consumer fetched has been durably handled.

export interface TopicPartition {
  topic: string;
  partition: number;
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

class PartitionOffsets {
  /** Offsets handed out and not yet done, in fetch order. */
  private readonly pending: bigint[] = [];
  private readonly pendingSet = new Set<bigint>();
  private readonly done = new Set<bigint>();
  /** Next offset to commit (last done contiguous offset + 1), or null before the first completion. */
  private committable: bigint | null = null;
  private committed: bigint | null = null;

  /** Idempotent: a refetched offset that is still pending is not tracked twice. */
  begin(offset: bigint): void {
    if (this.pendingSet.has(offset)) return;
    this.pendingSet.add(offset);
    this.pending.push(offset);
  }

  complete(offset: bigint): void {
    if (!this.pendingSet.has(offset)) return; // unknown or already done: idempotent
    this.done.add(offset);
    while (this.pending.length > 0 && this.done.has(this.pending[0])) {
      const o = this.pending.shift()!;
      this.done.delete(o);
      this.pendingSet.delete(o);
      this.committable = o + 1n;
    }
  }

  /** The offset to commit now, if it moved since the last `markCommitted`. */
  toCommit(): bigint | null {
    if (this.committable === null || this.committable === this.committed) return null;
    return this.committable;
  }

  markCommitted(offset: bigint): void {
    if (this.committed === null || offset > this.committed) this.committed = offset;
  }

  get inFlight(): number {
    return this.pending.length;
  }
}

export class OffsetTracker {
  private readonly partitions = new Map<string, { tp: TopicPartition; offsets: PartitionOffsets }>();

  private get(topic: string, partition: number): PartitionOffsets {
    const key = tpKey(topic, partition);
    let entry = this.partitions.get(key);
    if (!entry) this.partitions.set(key, (entry = { tp: { topic, partition }, offsets: new PartitionOffsets() }));
    return entry.offsets;
  }

  begin(topic: string, partition: number, offset: string | bigint): void {
    this.get(topic, partition).begin(BigInt(offset));
  }

  complete(topic: string, partition: number, offset: string | bigint): void {
    this.get(topic, partition).complete(BigInt(offset));
  }

  /** Offsets to commit, grouped by topic, in kafkajs' sendOffsets/commitOffsets shape. */
  toCommit(): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
    const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
    for (const { tp, offsets } of this.partitions.values()) {
      const o = offsets.toCommit();
      if (o === null) continue;
      let list = byTopic.get(tp.topic);
      if (!list) byTopic.set(tp.topic, (list = []));
      list.push({ partition: tp.partition, offset: o.toString() });
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
  }

  markCommitted(commits: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>): void {
    for (const t of commits) for (const p of t.partitions) this.get(t.topic, p.partition).markCommitted(BigInt(p.offset));
  }

  /** Forget partitions this consumer no longer owns (after a rebalance). */
  forget(topic: string, partition: number): void {
    this.partitions.delete(tpKey(topic, partition));
  }

  inFlight(): number {
    let n = 0;
    for (const { offsets } of this.partitions.values()) n += offsets.inFlight;
    return n;
  }
}
