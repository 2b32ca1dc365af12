// The KEDA Kafka scaler rule behind zkp_recommended_replicas (pure; no services).
import { expect } from 'chai';
import {
  DEFAULT_LAG_THRESHOLD,
  DEFAULT_SCALER_SETTINGS,
  combineRecommendations,
  lagThresholdFromThroughput,
  recommendedReplicas,
} from '../../metrics/autoscaling';
import { parseMetricsPort } from '../../metrics/server';

describe('metrics: recommended replicas (KEDA Kafka scaler rule)', () => {
  const s = { lagThreshold: 10, maxReplicaCount: 100 };

  it('uses KEDA defaults except the lag threshold', () => {
    expect(DEFAULT_SCALER_SETTINGS).to.include({ activationLagThreshold: 0, allowIdleConsumers: false, minReplicaCount: 0, maxReplicaCount: 100, lagThreshold: DEFAULT_LAG_THRESHOLD });
  });

  it('wants ceil(totalLag / lagThreshold) replicas', () => {
    expect(recommendedReplicas({ totalLag: 1, partitions: 8 }, s).replicas).to.equal(1);
    expect(recommendedReplicas({ totalLag: 10, partitions: 8 }, s).replicas).to.equal(1);
    expect(recommendedReplicas({ totalLag: 11, partitions: 8 }, s).replicas).to.equal(2);
    const r = recommendedReplicas({ totalLag: 75, partitions: 8 }, s);
    expect(r).to.deep.equal({ replicas: 8, active: true, metricValue: 75, limitedBy: 'lag' });
  });

  it('scales to zero when the lag is not above the activation threshold and minReplicaCount is 0', () => {
    expect(recommendedReplicas({ totalLag: 0, partitions: 4 }, s)).to.deep.equal({ replicas: 0, active: false, metricValue: 0, limitedBy: 'inactive' });
    expect(recommendedReplicas({ totalLag: 3, partitions: 4 }, { ...s, activationLagThreshold: 3 }).replicas).to.equal(0);
    expect(recommendedReplicas({ totalLag: 4, partitions: 4 }, { ...s, activationLagThreshold: 3 }).replicas).to.equal(1);
  });

  it('caps at the partition count unless allowIdleConsumers, with KEDA\'s integer division', () => {
    const capped = recommendedReplicas({ totalLag: 1000, partitions: 4 }, s);
    expect(capped).to.deep.equal({ replicas: 4, active: true, metricValue: 40, limitedBy: 'partitions' });
    expect(recommendedReplicas({ totalLag: 1000, partitions: 4 }, { ...s, allowIdleConsumers: true }).replicas).to.equal(100);
    // floor(49 / 10) = 4 is not > 4, so KEDA leaves the metric at 49 and the HPA asks for 5.
    expect(recommendedReplicas({ totalLag: 49, partitions: 4 }, s).replicas).to.equal(5);
    // limitToPartitionsWithLag: only partitions that have lag count.
    expect(recommendedReplicas({ totalLag: 1000, partitions: 4, partitionsWithLag: 2 }, { ...s, limitToPartitionsWithLag: true }).replicas).to.equal(2);
  });

  it('rounds up to a divisor of the partitions with ensureEvenDistributionOfPartitions', () => {
    const even = { ...s, ensureEvenDistributionOfPartitions: true };
    expect(recommendedReplicas({ totalLag: 25, partitions: 12 }, even).replicas).to.equal(3);
    expect(recommendedReplicas({ totalLag: 45, partitions: 12 }, even).replicas).to.equal(6);
    expect(recommendedReplicas({ totalLag: 500, partitions: 12 }, even).replicas).to.equal(12);
  });

  it('clamps to minReplicaCount and maxReplicaCount', () => {
    expect(recommendedReplicas({ totalLag: 0, partitions: 4 }, { ...s, minReplicaCount: 2 })).to.include({ replicas: 2, limitedBy: 'min-replicas' });
    expect(recommendedReplicas({ totalLag: 1000, partitions: 64 }, { ...s, maxReplicaCount: 5 })).to.include({ replicas: 5, limitedBy: 'max-replicas' });
  });

  it('rejects settings KEDA would reject', () => {
    expect(() => recommendedReplicas({ totalLag: 1, partitions: 1 }, { lagThreshold: 0 })).to.throw(RangeError);
    expect(() => recommendedReplicas({ totalLag: 1, partitions: 1 }, { minReplicaCount: 3, maxReplicaCount: 2 })).to.throw(RangeError);
  });

  it('runs the largest of several triggers, zero when none is active', () => {
    const a = recommendedReplicas({ totalLag: 30, partitions: 8 }, s);
    const b = recommendedReplicas({ totalLag: 0, partitions: 8 }, s);
    expect(combineRecommendations([a, b], s)).to.equal(3);
    expect(combineRecommendations([b, b], s)).to.equal(0);
    expect(combineRecommendations([b], { ...s, minReplicaCount: 1 })).to.equal(1);
  });

  it('derives a lag threshold from throughput and a drain target', () => {
    expect(lagThresholdFromThroughput(0.05, 600)).to.equal(30);
    expect(lagThresholdFromThroughput(0.0001, 60)).to.equal(1);
    expect(() => lagThresholdFromThroughput(0, 60)).to.throw(RangeError);
  });

  it('parses --metrics-port', () => {
    expect(parseMetricsPort(undefined, null)).to.equal(null);
    expect(parseMetricsPort(undefined, 0)).to.equal(0);
    expect(parseMetricsPort('9400', null)).to.equal(9400);
    expect(parseMetricsPort('off', 0)).to.equal(null);
    expect(() => parseMetricsPort('70000', 0)).to.throw(RangeError);
    expect(() => parseMetricsPort(true, 0)).to.throw(RangeError);
  });
});
