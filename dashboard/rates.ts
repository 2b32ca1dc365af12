// Throughput from successive offset samples. Per topic the sampler records the sum of its end
// offsets (what producers wrote) and the sum of its consumer group's committed offsets (what
// the group finished); the rate is the change over the samples of the last window, divided by
// the time between them. Pure: the collector owns one tracker and feeds it every sample.
//
// On transactional topics every transaction also takes one offset per partition for its commit
// marker, so offsets per second slightly overstate jobs per second when transactions are small.

export interface OffsetSample {
  atMs: number;
  /** Sum of the topic's end offsets. */
  end: number;
  /** Sum of the consumer group's committed offsets; null when nobody consumes it or it committed none. */
  committed: number | null;
}

export interface Throughput {
  /** Offsets written per second over the window; null until two samples exist. */
  producedPerS: number | null;
  /** Offsets committed by the consumer group per second; null without two committed samples. */
  consumedPerS: number | null;
  /** The time the rate is measured over (ms); 0 until two samples exist. */
  spanMs: number;
}

/** The rate between two samples; a counter that went backwards (topic recreated) gives null. */
export function throughputBetween(older: OffsetSample, newer: OffsetSample): Throughput {
  const spanMs = newer.atMs - older.atMs;
  if (spanMs <= 0) return { producedPerS: null, consumedPerS: null, spanMs: 0 };
  const perS = (a: number, b: number) => (b >= a ? ((b - a) * 1000) / spanMs : null);
  return {
    producedPerS: perS(older.end, newer.end),
    consumedPerS: older.committed === null || newer.committed === null ? null : perS(older.committed, newer.committed),
    spanMs,
  };
}

export class ThroughputTracker {
  private readonly history = new Map<string, OffsetSample[]>();

  /** `windowMs`: the rate covers the newest sample and the oldest one at most this old (or the previous one, if older). */
  constructor(private readonly windowMs = 10_000) {}

  /** Adds a sample of `key` and returns its rate over the window. */
  record(key: string, sample: OffsetSample): Throughput {
    const list = this.history.get(key) ?? [];
    const last = list[list.length - 1];
    // Offsets went backwards: the topic was deleted and created again; start over.
    if (last && (sample.end < last.end || (sample.committed !== null && last.committed !== null && sample.committed < last.committed))) list.length = 0;
    list.push(sample);
    while (list.length > 2 && list[1].atMs <= sample.atMs - this.windowMs) list.shift();
    this.history.set(key, list);
    if (list.length < 2) return { producedPerS: null, consumedPerS: null, spanMs: 0 };
    const rate = throughputBetween(list[0], sample);
    // The group may have committed its first offsets only after the oldest sample.
    const firstCommitted = list.find((x) => x.committed !== null);
    if (rate.consumedPerS === null && firstCommitted && firstCommitted !== sample) rate.consumedPerS = throughputBetween(firstCommitted, sample).consumedPerS;
    return rate;
  }

  /** Forgets keys not in `keep` (topics that disappeared). */
  retain(keep: ReadonlySet<string>): void {
    for (const k of [...this.history.keys()]) if (!keep.has(k)) this.history.delete(k);
  }
}
