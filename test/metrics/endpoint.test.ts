// The /metrics endpoint of a running pipeline: one small batch proven through the real Kafka,
// Redis and object store, then the job counters per round must match the batch's plan, the
// hop latency histogram must have observations, and every pair topic's consumer group must
// report its lag, 0 once everything is committed.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPipeline, pairsFor, startLocalPipeline } from '../../cli/local-pipeline';
import { PlanCache } from '../../consumers/batch-plan';
import { startCore } from '../../core/main';
import { formatVersion } from '../../lib/protocol-version';
import { deleteVersionTopics } from '../../topics/admin';
import { consumerGroup, pairTopic, retryTopic } from '../../topics/naming';
import { Sample, scrape, select, sum } from './prom-text';

describe('metrics: /metrics of a pipeline that proved a batch', function () {
  this.timeout(240_000);
  const version = { minor: 3000 + Math.floor(Math.random() * 50_000), patch: 0 };
  const v = formatVersion(version);
  const circuitIds = [1, 5];
  let pipeline: LocalPipeline | undefined;
  let samples: Sample[] = [];

  before(async () => {
    pipeline = await startLocalPipeline({
      version,
      batches: 1,
      basicJobsPerBatch: 20,
      circuitIds,
      geometry: { leafArity: 4, nodeArity: 2, tipCapacity: 20 },
      seed: 'metrics',
      instancePrefix: `metrics-${version.minor}`,
      concurrency: 4,
      metricsPort: 0,
      metricsLagCacheMs: 200,
    });
    await pipeline.waitForProven([1], 180_000);
    // The gateway commits the final proof's offset right after the core answered; lag settles within moments.
    const deadline = Date.now() + 30_000;
    for (;;) {
      samples = await scrape(pipeline.metrics!.url!);
      const lagging = select(samples, 'zkp_consumer_lag').filter((s) => s.value !== 0);
      if (lagging.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  after(async () => {
    if (!pipeline) return;
    await pipeline.stop();
    await deleteVersionTopics(pipeline.kafka, version).catch(() => undefined);
  });

  it('counts succeeded jobs per round exactly as the batch plan has them, with no failures', async () => {
    const plan = await new PlanCache(pipeline!.store).get({ protocolVersion: version, batchNumber: 1, runId: 0 });
    for (let round = 0; round <= 5; round++) {
      const labels = { aggregation_round: String(round), protocol_version: v };
      expect(sum(samples, 'zkp_jobs_succeeded_total', labels), `round ${round}`).to.equal(plan.jobsPerRound[round]);
      expect(sum(samples, 'zkp_jobs_picked_total', labels), `round ${round} picked`).to.equal(plan.jobsPerRound[round]);
      expect(sum(samples, 'zkp_jobs_in_flight', labels), `round ${round} in flight`).to.equal(0);
    }
    // Round 0 per circuit id: the plan's basic job count per type.
    for (const c of plan.circuits) {
      expect(sum(samples, 'zkp_jobs_succeeded_total', { aggregation_round: '0', circuit_id: String(c.basicCircuitId), protocol_version: v })).to.equal(c.basicJobs);
    }
    expect(sum(samples, 'zkp_jobs_failed_total')).to.equal(0);
    expect(sum(samples, 'zkp_dead_letters_total')).to.equal(0);
    expect(sum(samples, 'zkp_batch_jobs_succeeded_total', { protocol_version: v })).to.equal(1);
    expect(sum(samples, 'zkp_gateway_final_proofs_submitted_total', { status: 'accepted' })).to.equal(1);
  });

  it('has step duration and hop latency histograms with observations', () => {
    expect(sum(samples, 'zkp_hop_latency_seconds_count')).to.be.greaterThan(0);
    for (let round = 1; round <= 5; round++) expect(sum(samples, 'zkp_hop_latency_seconds_count', { aggregation_round: String(round) }), `round ${round}`).to.be.greaterThan(0);
    for (const name of ['zkp_witness_generation_duration_seconds', 'zkp_proving_duration_seconds', 'zkp_save_duration_seconds']) {
      expect(sum(samples, `${name}_count`, { aggregation_round: '0' }), name).to.be.greaterThan(0);
    }
  });

  it('reports the lag of every pair topic consumer group, 0 after completion, and no replicas needed', () => {
    for (const pair of pairsFor(circuitIds)) {
      const topic = pairTopic(version, pair);
      const group = consumerGroup(topic);
      for (const t of [topic, retryTopic(version, pair)]) {
        const lag = select(samples, 'zkp_consumer_lag', { group, topic: t });
        expect(lag, `${t} lag`).to.have.length(1);
        expect(lag[0].value, `${t} lag`).to.equal(0);
        expect(select(samples, 'zkp_recommended_replicas', { group, topic: t })[0]?.value, `${t} replicas`).to.equal(0);
      }
      expect(select(samples, 'zkp_consumer_group_partitions', { group, topic })[0]?.value).to.be.greaterThan(0);
      // The pair topic was written inside transactions: its raw offset lag holds the commit markers.
      expect(select(samples, 'zkp_consumer_lag_offsets', { group, topic })[0]?.value).to.be.at.least(1);
    }
  });

  it('reports the core\'s batches by state', () => {
    expect(sum(samples, 'zkp_core_batches', { state: 'proven' })).to.equal(1);
    expect(sum(samples, 'zkp_core_oldest_unproven_batch')).to.equal(0);
  });
});

describe('metrics: the core\'s own /metrics endpoint', () => {
  it('serves batches by state and the oldest unproven batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zkp-core-metrics-'));
    const core = await startCore({ port: 0, store: `file://${dir}`, batches: 2, basicJobs: 5, metricsPort: 0 });
    try {
      expect(core.metricsUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const samples = await scrape(core.metricsUrl!);
      expect(sum(samples, 'zkp_core_batches', { state: 'sealed', component: 'core' })).to.equal(2);
      expect(sum(samples, 'zkp_core_oldest_unproven_batch')).to.equal(1);
      expect(sum(samples, 'zkp_core_newest_batch')).to.equal(2);
      expect(select(samples, 'zkp_core_oldest_unproven_batch_age_seconds')).to.have.length(1);
      expect((await fetch(core.metricsUrl!.replace('/metrics', '/other'))).status).to.equal(404);
    } finally {
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
