// The autoscaling signal: how many replicas a consumer group wants, by the rule of KEDA's Kafka
// scaler (the `kafka` trigger of a ScaledObject) followed by the Horizontal Pod Autoscaler's
// arithmetic, so what the dashboard and `zkp_recommended_replicas` show is what KEDA would do
// with the triggers in infra/k8s/.
//
// KEDA's scaler reports one metric per trigger, the group's total lag (the sum over its
// partitions of high watermark - committed offset); unless `allowIdleConsumers`, it first caps
// that metric so the replica count cannot exceed the number of partitions:
//
//   if floor(totalLag / lagThreshold) > partitions:  metric = partitions * lagThreshold
//
// (partitions = the partitions of every topic the group reads, or only those with lag when
// `limitToPartitionsWithLag`). The HPA then wants ceil(metric / lagThreshold) replicas (an
// AverageValue target), clamped to [minReplicaCount, maxReplicaCount]. The trigger is active when
// totalLag > activationLagThreshold; an inactive trigger with minReplicaCount 0 scales to zero.
// With several triggers on one ScaledObject the HPA takes the largest recommendation.
//
// Pure functions: no Kafka here (see consumer-lag.ts for the measuring).

export interface ScalerSettings {
  /** Target lag per replica (KEDA `lagThreshold`). */
  lagThreshold: number;
  /** The trigger is active only when the total lag is above this (KEDA `activationLagThreshold`). */
  activationLagThreshold: number;
  /** Allow more replicas than partitions (KEDA `allowIdleConsumers`). */
  allowIdleConsumers: boolean;
  /** Cap at the partitions that have lag instead of all partitions (KEDA `limitToPartitionsWithLag`). */
  limitToPartitionsWithLag: boolean;
  /** Round the replica count up to a divisor of the partition count (KEDA `ensureEvenDistributionOfPartitions`). */
  ensureEvenDistributionOfPartitions: boolean;
  /** ScaledObject `minReplicaCount` (KEDA default 0). */
  minReplicaCount: number;
  /** ScaledObject `maxReplicaCount` (KEDA default 100). */
  maxReplicaCount: number;
}

/**
 * One replica of a prover group runs `concurrency` (default 8) jobs of each of its pairs at once;
 * a backlog of two such rounds per replica keeps every replica busy while it fetches the next.
 * The ScaledObjects in infra/k8s/ use the same value.
 */
export const DEFAULT_LAG_THRESHOLD = 16;

export const DEFAULT_SCALER_SETTINGS: Readonly<ScalerSettings> = Object.freeze({
  lagThreshold: DEFAULT_LAG_THRESHOLD,
  activationLagThreshold: 0,
  allowIdleConsumers: false,
  limitToPartitionsWithLag: false,
  ensureEvenDistributionOfPartitions: false,
  minReplicaCount: 0,
  maxReplicaCount: 100,
});

/** What the scaler sees of one consumer group. */
export interface LagSnapshot {
  /** Sum over the group's partitions of (high watermark - committed offset). */
  totalLag: number;
  /** Partitions of every topic the group reads. */
  partitions: number;
  /** Partitions whose lag is > 0 (only used with limitToPartitionsWithLag). */
  partitionsWithLag?: number;
}

export interface ReplicaRecommendation {
  /** Replicas the HPA would run. */
  replicas: number;
  /** totalLag > activationLagThreshold. */
  active: boolean;
  /** The metric value KEDA reports (the total lag after the partition cap). */
  metricValue: number;
  /** The bound that decided the count. */
  limitedBy: 'lag' | 'partitions' | 'min-replicas' | 'max-replicas' | 'inactive';
}

function checkSettings(s: ScalerSettings): void {
  const int = (v: number, name: string, min: number): void => {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  int(s.lagThreshold, 'lagThreshold', 1);
  int(s.activationLagThreshold, 'activationLagThreshold', 0);
  int(s.minReplicaCount, 'minReplicaCount', 0);
  int(s.maxReplicaCount, 'maxReplicaCount', 1);
  if (s.maxReplicaCount < s.minReplicaCount) throw new RangeError(`maxReplicaCount ${s.maxReplicaCount} is below minReplicaCount ${s.minReplicaCount}`);
}

/** The smallest divisor f of `partitions` with f * lagThreshold >= totalLag, else `partitions` (KEDA's even distribution). */
function evenFactor(totalLag: number, partitions: number, lagThreshold: number): number {
  for (let f = 1; f <= partitions; f++) {
    if (partitions % f === 0 && f * lagThreshold >= totalLag) return f;
  }
  return partitions;
}

/** The replica count KEDA's Kafka scaler and the HPA arrive at for one trigger. */
export function recommendedReplicas(snapshot: LagSnapshot, settings: Partial<ScalerSettings> = {}): ReplicaRecommendation {
  const s: ScalerSettings = { ...DEFAULT_SCALER_SETTINGS, ...settings };
  checkSettings(s);
  const totalLag = Math.max(0, Math.floor(snapshot.totalLag));
  const partitions = Math.max(0, Math.floor(snapshot.partitions));
  const withLag = Math.max(0, Math.floor(snapshot.partitionsWithLag ?? partitions));

  let metric = totalLag;
  let cappedByPartitions = false;
  if (!s.allowIdleConsumers || s.limitToPartitionsWithLag || s.ensureEvenDistributionOfPartitions) {
    if (s.ensureEvenDistributionOfPartitions) metric = evenFactor(totalLag, partitions, s.lagThreshold) * s.lagThreshold;
    const upperBound = s.limitToPartitionsWithLag ? withLag : partitions;
    // KEDA compares with integer division, as here.
    if (Math.floor(metric / s.lagThreshold) > upperBound) {
      metric = upperBound * s.lagThreshold;
      cappedByPartitions = true;
    }
  }

  const active = totalLag > s.activationLagThreshold;
  if (!active && s.minReplicaCount === 0) return { replicas: 0, active, metricValue: metric, limitedBy: 'inactive' };

  const fromMetric = Math.ceil(metric / s.lagThreshold);
  // An active ScaledObject keeps at least one replica even with minReplicaCount 0.
  const floor = Math.max(s.minReplicaCount, active ? 1 : 0);
  if (fromMetric > s.maxReplicaCount) return { replicas: s.maxReplicaCount, active, metricValue: metric, limitedBy: 'max-replicas' };
  if (fromMetric < floor) return { replicas: floor, active, metricValue: metric, limitedBy: 'min-replicas' };
  return { replicas: fromMetric, active, metricValue: metric, limitedBy: cappedByPartitions ? 'partitions' : 'lag' };
}

/**
 * A Deployment scaled by several triggers (one per consumer group of a prover group): the HPA
 * runs the largest of their recommendations.
 */
export function combineRecommendations(recommendations: ReplicaRecommendation[], settings: Partial<ScalerSettings> = {}): number {
  const s: ScalerSettings = { ...DEFAULT_SCALER_SETTINGS, ...settings };
  checkSettings(s);
  const anyActive = recommendations.some((r) => r.active);
  if (!anyActive && s.minReplicaCount === 0) return 0;
  const floor = Math.max(s.minReplicaCount, anyActive ? 1 : 0);
  return Math.min(s.maxReplicaCount, Math.max(floor, ...recommendations.map((r) => r.replicas)));
}

/**
 * A lag threshold from throughput: if one replica finishes `jobsPerSecondPerReplica` jobs of the
 * pair and a backlog should drain within `targetDrainSeconds`, one replica can own
 * rate x seconds of lag. Use it to choose `lagThreshold` per pair from measured rates
 * (`rate(zkp_jobs_succeeded_total[10m])` divided by the replicas running).
 */
export function lagThresholdFromThroughput(jobsPerSecondPerReplica: number, targetDrainSeconds: number): number {
  if (!(jobsPerSecondPerReplica > 0) || !(targetDrainSeconds > 0)) throw new RangeError('throughput and drain time must be > 0');
  return Math.max(1, Math.floor(jobsPerSecondPerReplica * targetDrainSeconds));
}
