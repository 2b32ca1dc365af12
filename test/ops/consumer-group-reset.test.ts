// Kafka's own consumer-group tool (infra/bin/kafka-consumer-groups) resets a pair's group back to
// the earliest offset after its batch was proven, as docs/operations.md describes: the pair's
// jobs are proven again, to the same bytes, and no parent job is triggered a second time.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalPipeline, pairsFor, startLocalPipeline } from '../../cli/local-pipeline';
import { startProverProcess } from '../../consumers/prover-process';
import { formatVersion } from '../../lib/protocol-version';
import { DigestPayload } from '../../payload/digest';
import { consumerGroup, pairTopic } from '../../topics/naming';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { ROOT } from '../support/spawn-cli';

const run = promisify(execFile);
const GEOMETRY = { leafArity: 4, nodeArity: 2, tipCapacity: 20 };
const CIRCUITS = [1, 3];

describe("consumer group reset with Kafka's own tool (Kafka + Redis + object store)", function () {
  this.timeout(600_000);
  const version = uniqueVersion();
  const pair = { round: 0, circuitId: 1 };
  const topic = pairTopic(version, pair);
  const group = consumerGroup(topic);
  let pipeline: LocalPipeline;
  let phase: 'first' | 'replay' = 'first';
  const saved = { first: new Set<string>(), replay: [] as string[] };
  const triggered = { first: 0, replay: 0 };

  const tool = (...args: string[]) => run(join(ROOT, 'infra/bin/kafka-consumer-groups'), args, { cwd: ROOT, env: process.env, maxBuffer: 16 << 20 });

  async function committed(): Promise<number> {
    const admin = pipeline.kafka.admin();
    await admin.connect();
    try {
      const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return entry.partitions.reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
    } finally {
      await admin.disconnect();
    }
  }

  before(async () => {
    pipeline = await startLocalPipeline({
      version,
      batches: 1,
      basicJobsPerBatch: 24,
      circuitIds: CIRCUITS,
      geometry: GEOMETRY,
      seed: 'reset',
      instancePrefix: `reset-${version.minor}`,
      stageObserver: {
        jobSaved: (job, ok) => {
          if (!ok) return;
          if (phase === 'first') saved.first.add(job.job_id);
          else saved.replay.push(job.job_id);
        },
        parentTriggered: () => triggered[phase]++,
      },
    });
  });

  after(async () => {
    await pipeline?.stop();
    if (pipeline) await dropVersion(pipeline.kafka, version);
  });

  it('reprocesses the pair after --reset-offsets --to-earliest, with the same proofs and no parent triggered again', async () => {
    await pipeline.waitForProven([1], 240_000);
    const prefix = `${formatVersion(version)}/b1/run0/proof/`;
    const before = new Map<string, Buffer>();
    for (const key of await pipeline.store.list(prefix)) before.set(key, await pipeline.store.get(key));
    const consumedBefore = await committed();
    expect(consumedBefore, 'the pair consumed its jobs').to.be.greaterThan(0);

    // 1. Stop the group's consumers (Kafka resets only an empty group).
    await Promise.all(pipeline.provers.map((p) => p.stop()));
    // 2. Kafka's tool: dry run, then execute.
    const dry = await tool('--reset-offsets', '--to-earliest', '--group', group, '--topic', topic, '--dry-run');
    expect(dry.stdout).to.include(topic);
    expect(await committed(), 'a dry run changes nothing').to.equal(consumedBefore);
    await tool('--reset-offsets', '--to-earliest', '--group', group, '--topic', topic, '--execute');
    expect(await committed(), 'offsets back at the start').to.equal(0);

    // 3. Start a prover again: it proves the pair's jobs again.
    phase = 'replay';
    const prover = await startProverProcess({
      kafka: pipeline.kafka,
      redis: pipeline.redis,
      store: pipeline.store,
      payload: new DigestPayload(),
      version,
      pairs: pairsFor(CIRCUITS),
      basicWitnessGeneration: false,
      geometry: GEOMETRY,
      instanceId: `reset-${version.minor}-replayer`,
      sessionTimeoutMs: 6000,
      observer: {
        jobSaved: (job, ok) => {
          if (ok) saved.replay.push(job.job_id);
        },
        parentTriggered: () => triggered.replay++,
      },
    });
    try {
      const pairJobs = [...saved.first].filter((id) => id.includes(':r0:c1:'));
      const deadline = Date.now() + 180_000;
      while (!pairJobs.every((id) => saved.replay.includes(id))) {
        if (Date.now() > deadline) throw new Error(`replayed ${saved.replay.length} of ${pairJobs.length} jobs`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await committed(), 'the group caught up again').to.be.at.least(consumedBefore);
    } finally {
      await prover.stop();
    }

    expect(saved.replay.every((id) => id.includes(':r0:c1:')), 'only the reset pair reprocessed').to.equal(true);
    expect(triggered.replay, 'no parent triggered again').to.equal(0);
    expect(triggered.first).to.be.greaterThan(0);
    const after = await pipeline.store.list(prefix);
    expect(after.sort()).to.deep.equal([...before.keys()].sort());
    for (const key of after) expect((await pipeline.store.get(key)).equals(before.get(key)!), key).to.equal(true);
    expect((await pipeline.coreClient.batchStatus(1)).state).to.equal('proven');
  });
});
