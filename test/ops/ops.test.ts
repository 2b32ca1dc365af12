// The operator commands against a running pipeline on the real Kafka, Redis and object store:
// status, topics, groups, dead-letters, requeue, stuck and replay, each through the CLI entry
// point with --json (the output must parse) and checked against what the pipeline did.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPipeline, startLocalPipeline } from '../../cli/local-pipeline';
import { OpsOutput, opsMain } from '../../cli/ops';
import { BatchProgress, batchRunKey } from '../../aggregation';
import { PlanCache } from '../../consumers/batch-plan';
import { jobId, objectKeys } from '../../consumers/job-identity';
import { jobRecord, proverJobFor } from '../../consumers/prover-stage';
import { AggregationRound, leafIdForBasic } from '../../topics/catalog';
import { childrenOf } from '../../topics/geometry';
import { deleteVersionTopics, ensureTopics } from '../../topics/admin';
import { pairTopic } from '../../topics/naming';
import { scanBatchRuns } from '../../ops/batch-runs';

const GEOMETRY = { leafArity: 4, nodeArity: 2, tipCapacity: 20 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

/** The counters of a batch-run without the fields that move with the clock. */
function frozen(p: BatchProgress | null) {
  return p && { total: p.total, triggered: p.triggered, groups: p.groups.map(({ idleMs: _idle, ...rest }) => rest) };
}

describe('operator commands (Kafka + Redis + object store)', function () {
  this.timeout(300_000);
  const version = { minor: 4000 + Math.floor(Math.random() * 50_000), patch: 0 };
  const storeDir = mkdtempSync(join(tmpdir(), 'zkp-ops-'));
  let pipeline: LocalPipeline;
  const submitted: Array<{ batch: number; status: string }> = [];
  const saves: Array<{ jobId: string; ok: boolean; attempt: number }> = [];

  /** Runs an operator command as the CLI does, with --json; returns its exit status and parsed output. */
  async function ops(args: string[], json = true): Promise<{ code: number; out: any; text: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: OpsOutput = { out: (t) => out.push(t), err: (t) => err.push(t) };
    const code = await opsMain([...args, '--version', `${version.minor}.${version.patch}`, '--store', `file://${storeDir}`, ...(json ? ['--json'] : [])], io);
    const text = out.join('\n');
    return { code, out: json && text ? JSON.parse(text) : null, text, err: err.join('\n') };
  }

  before(async () => {
    pipeline = await startLocalPipeline({
      version,
      batches: 2,
      basicJobsPerBatch: 60,
      circuitIds: [1, 5, 7],
      geometry: GEOMETRY,
      seed: 'ops',
      storeUrl: `file://${storeDir}`,
      instancePrefix: `ops-${version.minor}`,
      concurrency: 4,
      stageObserver: { jobSaved: (job, ok) => saves.push({ jobId: job.job_id, ok, attempt: job.attempt }) },
      gatewayObserver: { finalProofSubmitted: (batch, r) => submitted.push({ batch, status: r.status }) },
    });
    await pipeline.waitForProven([1, 2], 180_000);
  });

  after(async () => {
    if (pipeline) {
      for (const r of await scanBatchRuns(pipeline.redis, { version })) await pipeline.counters.clear(r.key);
      const reservations = await pipeline.redis.keys(`ops:replay:{v${version.minor}.${version.patch}:*`);
      if (reservations.length) await pipeline.redis.del(...reservations);
      await pipeline.stop();
      await deleteVersionTopics(pipeline.kafka, version).catch(() => undefined);
    }
    rmSync(storeDir, { recursive: true, force: true });
  });

  it('status: a proven batch is done in every round, nothing waits, and the core accepted it', async () => {
    const { code, out } = await ops(['status', '--batch', '1', '--core-url', pipeline.core.url]);
    expect(code).to.equal(0);
    expect(out.registered).to.equal(true);
    expect(out.rounds).to.have.length(6);
    for (const r of out.rounds) expect(r.done, r.name).to.equal(r.total);
    expect(out.rounds[0].total).to.be.at.least(50);
    expect(out.waiting).to.deep.equal([]);
    expect(out.finalProof.exists).to.equal(true);
    expect(out.complete).to.equal(true);
    expect(out.core).to.include({ state: 'proven', accepted: true });
    const human = await ops(['status', '--batch', '1'], false);
    expect(human.text).to.match(/5 Compression\s+1\s+1\s+1/).and.to.match(/complete: every round proven/);
    expect((await ops(['status'])).code, 'missing --batch is a usage error').to.equal(2);
  });

  it('topics: every consumed topic has lag 0 once the batches are proven', async () => {
    const out = await until('lag 0', 30_000, async () => {
      const r = await ops(['topics']);
      expect(r.code).to.equal(0);
      return r.out.topics.filter((t: any) => t.group).every((t: any) => t.lag === 0 && t.exact) ? r.out : null;
    });
    const pair = out.topics.find((t: any) => t.topic === pairTopic(version, { round: 0, circuitId: 1 }));
    expect(pair).to.include({ kind: 'pair', pair: '(1,0)', group: `${pair.topic}.workers`, lag: 0 });
    expect(pair.end).to.be.greaterThan(0);
    expect(pair.members).to.be.at.least(1);
    const human = await ops(['topics'], false);
    expect(human.text).to.include(pair.topic).and.to.include('nothing waiting');
  });

  it('groups: prover groups with their pairs and the members of each pair consumer group', async () => {
    const { code, out } = await ops(['groups']);
    expect(code).to.equal(0);
    const g1 = out.groups.find((g: any) => g.id === 1);
    expect(g1.consumers.map((c: any) => c.pair)).to.deep.equal(['(1,0)']);
    expect(g1.consumers[0].members.length).to.be.at.least(1);
    expect(Object.keys(g1.consumers[0].members[0].assignment)).to.include(pairTopic(version, { round: 0, circuitId: 1 }));
    expect(out.groups.find((g: any) => g.id === 0).basicWitnessGeneration).to.equal(true);
    expect(out.gateway.members.length).to.equal(1);
    expect((await ops(['groups', '--group', '99'])).code).to.equal(1);
  });

  it('dead-letters: lists a malformed message with its reason', async () => {
    const producer = pipeline.kafka.producer();
    await producer.connect();
    await producer.send({ topic: pairTopic(version, { round: 0, circuitId: 1 }), messages: [{ key: 'ops-garbage', value: Buffer.from('not avro') }] });
    await producer.disconnect();
    const row = await until('the dead letter', 30_000, async () => {
      const { code, out } = await ops(['dead-letters', '--limit', '10']);
      expect(code).to.equal(0);
      return out.rows.find((r: any) => r.originalKey === 'ops-garbage');
    });
    expect(row).to.include({ kind: 'malformed', batch: null, jobId: null, originalTopic: pairTopic(version, { round: 0, circuitId: 1 }) });
    expect(row.reason).to.be.a('string').and.not.equal('');
    expect(new Date(row.time).getTime()).to.be.closeTo(Date.now(), 120_000);
  });

  it('requeue: a job dead-lettered for a corrupt child proof is proven again once the proof is repaired', async () => {
    const run = { protocolVersion: version, batchNumber: 2, runId: 0 };
    const plan = await new PlanCache(pipeline.store).get(run);
    const leaf = { round: AggregationRound.LeafAggregation, circuitId: leafIdForBasic(plan.circuits[0].basicCircuitId), depth: 0, seq: 0 };
    const children = childrenOf(plan, leaf);
    const childKey = objectKeys.proof(run, children[0]);
    const good = await pipeline.store.get(childKey);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    await pipeline.store.put(childKey, bad);
    const id = jobId(run, leaf);
    const producer = pipeline.kafka.producer();
    await producer.connect();
    const record = jobRecord(version, proverJobFor(run, plan, leaf, children.map((c) => objectKeys.proof(run, c)), null));
    await producer.send({ topic: record.topic, messages: [{ key: record.key, value: record.value }] });
    await producer.disconnect();
    const letter = await until('the job dead-lettered', 60_000, async () => (await ops(['dead-letters', '--batch', '2'])).out.rows.find((r: any) => r.jobId === id));
    expect(letter.kind).to.equal('proof-rejected');

    // The operator repairs the proof, then requeues.
    await pipeline.store.put(childKey, good);
    const dry = await ops(['requeue', '--batch', '2', '--dry-run']);
    expect(dry.out.requeued.map((j: any) => j.jobId)).to.deep.equal([id]);
    const okBefore = saves.filter((s) => s.jobId === id && s.ok).length;
    const { code, out } = await ops(['requeue', '--batch', '2']);
    expect(code).to.equal(0);
    expect(out.dryRun).to.equal(false);
    expect(out.requeued).to.have.length(1);
    expect(out.requeued[0]).to.include({ jobId: id, message: 'ProverJob', topic: pairTopic(version, { round: 1, circuitId: leaf.circuitId }) });
    await until('the requeued job proven', 60_000, async () => saves.filter((s) => s.jobId === id && s.ok && s.attempt === 0).length > okBefore);
    expect((await pipeline.counters.progress(batchRunKey(version, 2, 0)))!.waiting).to.deep.equal([]);
  });

  it('stuck: reports an incomplete idle group and a consumer group with lag and no members, not the complete ones', async () => {
    const key = batchRunKey(version, 900, 0);
    await pipeline.counters.registerPlan(key, [
      { parent: 'r1:c3:d0:s0', expected: 4 },
      { parent: 'r1:c3:d0:s1', expected: 2 },
    ]);
    await pipeline.counters.landMany(key, [
      { parent: 'r1:c3:d0:s0', member: 0 },
      { parent: 'r1:c3:d0:s0', member: 1 },
      { parent: 'r1:c3:d0:s1', member: 0 },
      { parent: 'r1:c3:d0:s1', member: 1 },
    ]);
    await pipeline.counters.markEmitted(key, ['r1:c3:d0:s1']);
    // A pair topic nobody consumes, with a record on it.
    await ensureTopics(pipeline.kafka, version, { pairs: [{ round: 0, circuitId: 2 }] });
    const producer = pipeline.kafka.producer();
    await producer.connect();
    await producer.send({ topic: pairTopic(version, { round: 0, circuitId: 2 }), messages: [{ key: 'orphan', value: Buffer.from('x') }] });
    await producer.disconnect();
    await sleep(50);
    try {
      const { code, out } = await ops(['stuck', '--older-than-s', '0']);
      expect(code, 'exit status 3 when something is stuck').to.equal(3);
      expect(out.ok).to.equal(false);
      expect(out.batchRuns).to.be.at.least(3);
      const mine = out.stuckGroups.filter((g: any) => g.batchRunKey === key);
      expect(mine).to.have.length(1);
      expect(mine[0]).to.deep.include({ parent: 'r1:c3:d0:s0', state: 'incomplete', landed: 2, expected: 4, missing: [2, 3] });
      expect(out.stuckGroups.filter((g: any) => g.batchRunKey !== key), 'the proven batch-runs have nothing stuck').to.deep.equal([]);
      expect(out.missingFinalProofs).to.deep.equal([]);
      expect(out.stalledConsumerGroups.map((g: any) => g.group)).to.deep.equal([`${pairTopic(version, { round: 0, circuitId: 2 })}.workers`]);
      expect(out.stalledConsumerGroups[0].lag).to.equal(1);

      const patient = await ops(['stuck', '--older-than-s', '3600', '--no-consumer-groups']);
      expect(patient.code).to.equal(0);
      expect(patient.out.stuckGroups).to.deep.equal([]);
      const human = await ops(['stuck', '--older-than-s', '0'], false);
      expect(human.text).to.include('r1:c3:d0:s0').and.to.include('member 2');
    } finally {
      await pipeline.counters.clear(key);
    }
  });

  it('replay (whole batch): a new run proves the batch again to the same final proof; the core answers already_proven', async () => {
    // A replay that cannot start (no such batch) fails and keeps no run reserved.
    const none = await ops(['replay', '--batch', '77']);
    expect(none.code).to.equal(1);
    expect(none.err).to.match(/no BatchJob of batch 77/);
    expect((await ops(['replay', '--batch', '77', '--from-round', '2'])).err).to.match(/no plan in the store/);
    expect(await pipeline.redis.exists(`ops:replay:{${batchRunKey(version, 77, 1)}}`)).to.equal(0);

    const old = frozen(await pipeline.counters.progress(batchRunKey(version, 1, 0)));
    const { code, out } = await ops(['replay', '--batch', '1', '--wait-s', '120', '--core-url', pipeline.core.url]);
    expect(code, JSON.stringify(out)).to.equal(0);
    expect(out).to.include({ newRun: 1, fromRound: 0, sourceRun: 0, batchJobSource: 'batches-topic' });
    expect(out.produced).to.deep.equal([{ jobId: `v${version.minor}.${version.patch}:b1:run1:batch`, topic: `zkp.v${version.minor}.${version.patch}.batches` }]);
    expect(out.outcome).to.include({ finalProofExists: true, sameAsSource: true });
    await until('the gateway to submit run 1', 30_000, async () => submitted.some((s) => s.batch === 1 && s.status === 'already_proven'));
    const status = await ops(['status', '--batch', '1', '--run', '1']);
    expect(status.out.complete).to.equal(true);
    expect(status.out.runs).to.include.members([0, 1]);
    expect(frozen(await pipeline.counters.progress(batchRunKey(version, 1, 0))), 'run 0 untouched').to.deep.equal(old);
  });

  it('replay --from-round 2: reuses the proofs below round 2, proves the rest under a new run, same final proof', async () => {
    const old = frozen(await pipeline.counters.progress(batchRunKey(version, 1, 0)));
    const plan = await new PlanCache(pipeline.store).get({ protocolVersion: version, batchNumber: 1, runId: 0 });
    const { code, out } = await ops(['replay', '--batch', '1', '--from-round', '2', '--wait-s', '120']);
    expect(code, JSON.stringify(out)).to.equal(0);
    expect(out).to.include({ newRun: 2, fromRound: 2, copied: plan.jobsPerRound[0] + plan.jobsPerRound[1], landed: plan.jobsPerRound[0] + plan.jobsPerRound[1] });
    // The jobs produced are the depth-0 node jobs, one per leaf group of nodeArity leaves.
    expect(out.produced.length).to.equal(plan.circuits.reduce((a, c) => a + c.nodeLevels[0], 0));
    expect(out.produced.every((p: any) => /:run2:r2:c\d+:d0:s\d+$/.test(p.jobId))).to.equal(true);
    expect(out.outcome).to.include({ finalProofExists: true, sameAsSource: true });
    const run2 = await pipeline.counters.progress(batchRunKey(version, 1, 2));
    expect(run2!.waiting).to.deep.equal([]);
    expect(run2!.triggered).to.equal(run2!.total);
    expect(run2!.groups.every((g) => g.emitted)).to.equal(true);
    expect(frozen(await pipeline.counters.progress(batchRunKey(version, 1, 0))), 'run 0 untouched').to.deep.equal(old);
    // Finishing it again is harmless: everything is landed and emitted, nothing is produced.
    const again = await ops(['replay', '--batch', '1', '--from-round', '2', '--to-run', '2']);
    expect(again.code).to.equal(0);
    expect(again.out.produced).to.deep.equal([]);
    expect((await ops(['replay', '--batch', '1', '--from-round', '3', '--to-run', '2'])).code, 'a run reserved by another replay').to.equal(1);
  });
});
