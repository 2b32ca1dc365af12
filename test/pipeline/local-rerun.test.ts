// The main job run again on the same services: its new core seals batches 1..N again, and the
// counters an earlier run of the same version left for those numbers must not stall them.
import { expect } from 'chai';
import Redis from 'ioredis';
import { AggregationCounters, batchRunKey } from '../../aggregation';
import { LocalPipeline, startLocalPipeline } from '../../cli/local-pipeline';
import { endpoints } from '../../lib/endpoints';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';

describe('local pipeline run again on the same services', function () {
  this.timeout(240_000);
  const version = uniqueVersion();
  let pipeline: LocalPipeline | undefined;

  after(async () => {
    await pipeline?.stop();
    if (pipeline) await dropVersion(pipeline.kafka, version);
  });

  it('proves batch 1 although an earlier run left a different plan for it in Redis', async () => {
    const redis = new Redis(endpoints.redisUrl);
    try {
      // What an earlier run with another batch shape leaves behind.
      await new AggregationCounters(redis).registerPlan(batchRunKey(version, 1, 0), [{ parent: 'r1:c99:d0:s0', expected: 7 }]);
    } finally {
      redis.disconnect();
    }
    pipeline = await startLocalPipeline({ version, batches: 1, basicJobsPerBatch: 12, circuitIds: [1, 3], geometry: { leafArity: 4, nodeArity: 2, tipCapacity: 20 }, seed: 'rerun', instancePrefix: `rerun-${version.minor}` });
    await pipeline.waitForProven([1], 180_000);
    expect((await pipeline.coreClient.batchStatus(1)).state).to.equal('proven');
  });
});
