// The metric hooks without services: how the stage observer's calls classify jobs, the dead
// letter count from committed records, and the lag arithmetic over fake admin answers.
import { expect } from 'chai';
import { Admin } from 'kafkajs';
import { ProverMetrics } from '../../metrics/prover-metrics';
import { createMetricsRegistry } from '../../metrics/registry';
import { fetchConsumerLag, recommendationFor } from '../../metrics/consumer-lag';
import { DeadLetter, ProverJob, encode } from '../../schemas';
import type { TransactionalCommitter } from '../../consumers/kafka/transactional-committer';
import type { KafkaJobMeta } from '../../consumers/kafka/kafka-job-picker';
import { parsePrometheusText, sum } from './prom-text';

const version = { minor: 24, patch: 0 };

function job(round: number, circuit: number, seq: number): ProverJob {
  return {
    protocol_version: version,
    batch_number: 1,
    job_id: `j-${round}-${circuit}-${seq}`,
    run_id: 0,
    aggregation_round: round,
    circuit_id: circuit,
    depth: 0,
    sequence_number: seq,
    level_size: 1,
    input_keys: [],
    attempt: 0,
    triggered_at_ms: Date.now() - 50,
    not_before_ms: 0,
    zone: null,
  };
}

const meta = (j: ProverJob): KafkaJobMeta<ProverJob> => ({ job: j, groupId: 'g', topic: 't', partition: 0, offset: '0', key: null, value: Buffer.alloc(0), pickedAtMs: 0 });

describe('metrics: hooks', () => {
  it('classifies jobs as the stage reports them: succeeded, retried, dead-lettered', async () => {
    const registry = createMetricsRegistry({ component: 'test', processMetrics: false });
    const m = new ProverMetrics(registry);
    const seen: string[] = [];
    const obs = m.stageObserver({ jobSaved: (j) => seen.push(j.job_id) });
    const listener = m.pairRunnerListener();
    const ok = job(0, 1, 0);
    const retried = job(0, 1, 1);
    const dead = job(1, 3, 0);
    const deadAfterOk = job(1, 3, 1);
    for (const j of [ok, retried, dead, deadAfterOk]) {
      listener.picked!(meta(j));
      obs.jobStarted!(j, 50);
    }
    obs.jobSaved!(ok, true, { witnessMs: 1, vectorMs: 2, proveMs: 3 });
    obs.jobSaved!(retried, false, null);
    // The stage reports a dead letter just before the jobSaved of the same job.
    obs.deadLettered!(dead, 'boom');
    obs.jobSaved!(dead, false, null);
    obs.deadLettered!(deadAfterOk, 'aggregation error');
    obs.jobSaved!(deadAfterOk, true, { witnessMs: 1, vectorMs: 1, proveMs: 1 });
    for (const j of [ok, retried, dead, deadAfterOk]) listener.saved!(meta(j), true);
    listener.retried!('save', new Error('x'), 1, 10);

    const s = parsePrometheusText(await registry.metrics());
    const r0 = { aggregation_round: '0', circuit_id: '1', protocol_version: 'v24.0' };
    const r1 = { aggregation_round: '1', circuit_id: '3', protocol_version: 'v24.0' };
    expect(sum(s, 'zkp_jobs_picked_total', r0)).to.equal(2);
    expect(sum(s, 'zkp_jobs_succeeded_total', r0)).to.equal(1);
    expect(sum(s, 'zkp_jobs_failed_total', r0)).to.equal(1);
    expect(sum(s, 'zkp_jobs_retried_total', r0)).to.equal(1);
    expect(sum(s, 'zkp_jobs_succeeded_total', r1)).to.equal(0);
    expect(sum(s, 'zkp_jobs_failed_total', r1)).to.equal(1);
    expect(sum(s, 'zkp_jobs_retried_total', r1)).to.equal(0);
    expect(sum(s, 'zkp_jobs_dead_lettered_total', r1)).to.equal(2);
    expect(sum(s, 'zkp_jobs_in_flight')).to.equal(0);
    expect(sum(s, 'zkp_proving_duration_seconds_count', { aggregation_round: '0' })).to.equal(1);
    expect(sum(s, 'zkp_proving_duration_seconds_sum', { aggregation_round: '0' })).to.be.closeTo(0.003, 1e-9);
    expect(sum(s, 'zkp_hop_latency_seconds_count')).to.equal(4);
    expect(sum(s, 'zkp_runner_retries_total', { stage: 'save' })).to.equal(1);
    expect(seen).to.deep.equal([ok.job_id, retried.job_id, dead.job_id, deadAfterOk.job_id]);
  });

  it('split deployment: the generator times witness and vector steps, the prover only proving; the split hooks reach the inner observer', async () => {
    const registry = createMetricsRegistry({ component: 'test', processMetrics: false });
    const m = new ProverMetrics(registry);
    const handOffs: string[] = [];
    const obs = m.stageObserver({ vectorHandedOff: (h) => handOffs.push(`made ${h.job_id}`), handOffStarted: (h, topic) => handOffs.push(`proving ${h.job_id} from ${topic}`) });
    const j = job(0, 1, 0);
    const handOff = { ...j, zone: 'a', vector_key: 'k', generator: 'g', handed_off_at_ms: 0 };
    obs.vectorHandedOff!(handOff, { witnessMs: 4, vectorMs: 6 });
    obs.handOffStarted!(handOff, 'topic-a');
    obs.jobSaved!(j, true, { witnessMs: null, vectorMs: null, proveMs: 8 });

    const s = parsePrometheusText(await registry.metrics());
    const round0 = { aggregation_round: '0' };
    expect(sum(s, 'zkp_witness_generation_duration_seconds_count', round0), 'once, by the generator').to.equal(1);
    expect(sum(s, 'zkp_witness_generation_duration_seconds_sum', round0)).to.be.closeTo(0.004, 1e-9);
    expect(sum(s, 'zkp_witness_vector_generation_duration_seconds_count', round0)).to.equal(1);
    expect(sum(s, 'zkp_proving_duration_seconds_count', round0)).to.equal(1);
    expect(sum(s, 'zkp_jobs_succeeded_total')).to.equal(1);
    expect(handOffs).to.deep.equal([`made ${j.job_id}`, `proving ${j.job_id} from topic-a`]);
  });

  it('counts dead letters by error_kind once their transaction commits, and reads committer totals', async () => {
    const registry = createMetricsRegistry({ component: 'test', processMetrics: false });
    const m = new ProverMetrics(registry);
    let fail = false;
    const fake = {
      stats: { transactions: 7, records: 30, aborted: 1 },
      submit: () => (fail ? Promise.reject(new Error('aborted')) : Promise.resolve()),
    };
    const committer = fake as unknown as TransactionalCommitter;
    m.watchCommitter(committer);
    const letter = (kind: string): Buffer =>
      encode('DeadLetter', {
        protocol_version: version,
        batch_number: 1,
        job_id: 'x',
        original_topic: 'zkp.v24.0.r0.c1',
        original_partition: 0,
        original_offset: 0,
        original_key: null,
        original_value: Buffer.alloc(0),
        reason: 'r',
        error_kind: kind,
        failed_stage: 'prover r0',
        attempts: 1,
        dead_at_ms: 0,
      } as DeadLetter);
    await committer.submit([{ topic: 'zkp.v24.0.dlt', key: 'a', value: letter('max-attempts') }, { topic: 'zkp.v24.0.r1.c3', key: 'b', value: Buffer.from('x') }], []);
    await committer.submit([{ topic: 'zkp.v24.0.dlt', key: 'c', value: letter('proof-rejected') }], []);
    fail = true;
    await committer.submit([{ topic: 'zkp.v24.0.dlt', key: 'd', value: letter('max-attempts') }], []).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    const s = parsePrometheusText(await registry.metrics());
    expect(sum(s, 'zkp_dead_letters_total', { error_kind: 'max-attempts' })).to.equal(1);
    expect(sum(s, 'zkp_dead_letters_total', { error_kind: 'proof-rejected' })).to.equal(1);
    expect(sum(s, 'zkp_committer_transactions_total')).to.equal(7);
    expect(sum(s, 'zkp_committer_aborted_transactions_total')).to.equal(1);
    expect(sum(s, 'zkp_committer_records_total')).to.equal(30);
  });

  it('computes lag per topic: uncommitted partitions from the log start, one trailing marker off on transactional topics', async () => {
    const admin = {
      fetchTopicOffsets: async (topic: string) => {
        if (topic === 'zkp.v24.0.r0.c1') {
          return [
            { partition: 0, offset: '11', high: '11', low: '0' }, // drained: committed 10, one marker
            { partition: 1, offset: '25', high: '25', low: '0' }, // committed 20: 4 records + marker
            { partition: 2, offset: '9', high: '9', low: '3' }, // never committed: 5 records + marker
            { partition: 3, offset: '0', high: '0', low: '0' }, // empty
          ];
        }
        if (topic === 'zkp.v24.0.batches') return [{ partition: 0, offset: '5', high: '5', low: '0' }];
        throw Object.assign(new Error('unknown'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
      },
      fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) =>
        topics.map((topic) => ({
          topic,
          partitions:
            groupId === 'zkp.v24.0.batches.workers'
              ? [{ partition: 0, offset: '3', metadata: null }]
              : [
                  { partition: 0, offset: '10', metadata: null },
                  { partition: 1, offset: '20', metadata: null },
                  { partition: 2, offset: '-1', metadata: null },
                  { partition: 3, offset: '-1', metadata: null },
                ],
        })),
    } as unknown as Admin;
    const [pair, batches] = await fetchConsumerLag(admin, [
      { groupId: 'zkp.v24.0.r0.c1.workers', topics: ['zkp.v24.0.r0.c1', 'zkp.v24.0.r0.c1.retry'], transactional: true },
      { groupId: 'zkp.v24.0.batches.workers', topics: ['zkp.v24.0.batches'], transactional: false },
    ]);
    expect(pair.topics[0]).to.deep.equal({ topic: 'zkp.v24.0.r0.c1', totalLag: 9, offsetLag: 12, partitions: 4, partitionsWithLag: 2 });
    expect(pair.topics[1]).to.deep.equal({ topic: 'zkp.v24.0.r0.c1.retry', totalLag: 0, offsetLag: 0, partitions: 0, partitionsWithLag: 0 });
    expect(batches.totalLag).to.equal(2);
    expect(batches.offsetLag).to.equal(2);
    const rec = recommendationFor(pair, { lagThreshold: 4 });
    expect(rec.perTopic[0].recommendation.replicas).to.equal(3);
    expect(rec.replicas).to.equal(3);
  });
});
