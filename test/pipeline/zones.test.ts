// Zones, split deployment, on the real Kafka, Redis and object store: two zones (a, b), each with
// a witness vector generator and a prover. The generators share the pair topics; each hands its
// vectors to its own zone's hand-off topics, and each zone's prover consumes only those. Every
// proving happens in the zone that made its vector, both zones work, and the core accepts every
// batch. Failure paths: a malformed hand-off message and a vector of another zone are
// dead-lettered while the batches complete; a zone's prover stopped while its zone keeps making
// vectors picks them up when it comes back; a failing proving is retried on its zone's hand-off
// retry topic until it is dead-lettered, and an operator's requeue puts it back in its zone.
import { expect } from 'chai';
import Redis from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaClient, pairsFor } from '../../cli/local-pipeline';
import { RunningCore, startCore } from '../../core/main';
import { endpoints } from '../../lib/endpoints';
import { ProtocolVersion } from '../../lib/protocol-version';
import { DigestPayload } from '../../payload/digest';
import { CoreClient } from '../../producers/core-client';
import { RunningGateway, startGateway } from '../../producers/gateway';
import { RunningProverProcess, ProverRole, startProverProcess } from '../../consumers/prover-process';
import { ProverMetrics } from '../../metrics/prover-metrics';
import { createMetricsRegistry } from '../../metrics/registry';
import { StageObserver } from '../../consumers/prover-stage';
import { DeadLetter, ProofLanded, WitnessVectorJob, decode, encode } from '../../schemas';
import { createObjectStore } from '../../storage';
import { ensureTopics } from '../../topics/admin';
import { Pair } from '../../topics/catalog';
import { requeueBatch } from '../../ops/dead-letters';
import { topicLags } from '../../ops/lag';
import { consumerGroup, dltTopic, handOffRetryTopic, handOffTopic, pairTopic, parseTopic, proofsLandedTopic } from '../../topics/naming';
import { dropVersion, readTopic, uniqueVersion } from '../support/kafka-helpers';

const ZONES = ['a', 'b'] as const;
type Zone = (typeof ZONES)[number];
const CIRCUITS = [1, 5];
const GEOMETRY = { leafArity: 4, nodeArity: 2, tipCapacity: 20 };
const MAIN_VM: Pair = { round: 0, circuitId: 1 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proving {
  prover: Zone;
  topic: string;
  handOff: WitnessVectorJob;
}

describe('zones: witness vectors are proven in the zone that made them', function () {
  this.timeout(600_000);
  const version: ProtocolVersion = uniqueVersion();
  const pairs = pairsFor(CIRCUITS);
  const kafka = kafkaClient('zones-test');
  const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 3 });
  const store = createObjectStore(`file://${mkdtempSync(join(tmpdir(), 'zkp-zones-'))}`);
  const payload = new DigestPayload();
  const name = (role: string, zone: Zone) => `zones-${version.minor}-${role}-${zone}`;
  const running = new Map<string, RunningProverProcess>();
  /** The job metrics of zone a's split prover. */
  const proverAMetrics = new ProverMetrics(createMetricsRegistry({ component: 'prover', processMetrics: false }));
  /** Hand-off jobs made, by the generator's zone. */
  const made = new Map<Zone, WitnessVectorJob[]>(ZONES.map((z) => [z, []]));
  const provings: Proving[] = [];
  let core: RunningCore;
  let client: CoreClient;
  let gateway: RunningGateway | null = null;
  let fatal: Error | null = null;
  const strayId = `v${version.minor}.${version.patch}:b999:run0:r0:c1:d0:s0`;

  function observerFor(role: ProverRole, zone: Zone): StageObserver {
    if (role === 'witness-vector-generator') return { vectorHandedOff: (h) => made.get(zone)!.push(h) };
    return { handOffStarted: (h, topic) => provings.push({ prover: zone, topic, handOff: h }) };
  }

  async function start(role: Exclude<ProverRole, 'combined'>, zone: Zone): Promise<void> {
    const instance = name(role === 'prover' ? 'prover' : 'wvg', zone);
    running.set(
      instance,
      await startProverProcess({
        // A client per process: its id names the process among a consumer group's members.
        kafka: kafkaClient(instance),
        redis,
        store,
        payload,
        version,
        pairs,
        role,
        zone,
        // Basic witness generation is witness generation: zone a's generator runs it.
        basicWitnessGeneration: role === 'witness-vector-generator' && zone === 'a',
        geometry: GEOMETRY,
        instanceId: instance,
        concurrency: 4,
        sessionTimeoutMs: 6000,
        retryBackoffMs: 200,
        observer: observerFor(role, zone),
        metrics: role === 'prover' && zone === 'a' ? proverAMetrics : undefined,
        onFatal: (e) => {
          fatal ??= e;
        },
      }),
    );
  }

  async function stop(instance: string): Promise<void> {
    await running.get(instance)?.stop();
    running.delete(instance);
  }

  /** Consumer group id -> client ids of its members. */
  async function members(groupIds: string[]): Promise<Map<string, string[]>> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups(groupIds);
      return new Map(groups.map((g) => [g.groupId, g.members.map((m) => m.clientId)]));
    } finally {
      await admin.disconnect();
    }
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (fatal) throw new Error(`${what}: a process could not commit: ${fatal.message}`);
      const got = await probe();
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  const proven = async (batch: number) => (await client.batchStatus(batch)).state === 'proven';

  before(async () => {
    await ensureTopics(kafka, version, { pairs, zones: [...ZONES] });
    core = await startCore({
      port: 0,
      store: `file://${mkdtempSync(join(tmpdir(), 'zkp-zones-core-'))}`,
      seed: 'zones',
      batches: 2,
      basicJobs: 24,
      circuitIds: CIRCUITS,
      version,
      payload,
      leaseMs: 15 * 60_000,
    });
    client = new CoreClient(core.url, 'zones-test');
  });

  after(async () => {
    await gateway?.stop();
    for (const instance of [...running.keys()]) await stop(instance).catch(() => undefined);
    await core?.close();
    redis.disconnect();
    await dropVersion(kafka, version);
  });

  it('proves every job in the zone that made its vector, with both zones working, and the core accepts every batch', async () => {
    for (const zone of ZONES) {
      await start('witness-vector-generator', zone);
      await start('prover', zone);
    }
    // Every generator in each pair's group and each prover in its zone's groups before the
    // first batch: both zones get partitions of the busy basic pair topics.
    const pairGroups = pairs.map((p) => consumerGroup(pairTopic(version, p)));
    const handOffGroups = ZONES.flatMap((z) => pairs.map((p) => consumerGroup(handOffTopic(version, p, z))));
    await waitFor(
      'every consumer group joined',
      async () => {
        const m = await members([...pairGroups, ...handOffGroups]);
        return pairGroups.every((g) => m.get(g)?.length === 2) && handOffGroups.every((g) => m.get(g)?.length === 1);
      },
      180_000,
    );

    // Failure paths on the hand-off topics, put there before the batches flow.
    const producer = kafka.producer();
    await producer.connect();
    const stray: WitnessVectorJob = {
      protocol_version: version,
      batch_number: 999,
      job_id: strayId,
      run_id: 0,
      aggregation_round: 0,
      circuit_id: 1,
      depth: 0,
      sequence_number: 0,
      level_size: 1,
      zone: 'a',
      vector_key: `v${version.minor}.${version.patch}/b999/run0/vector/a/r0/c1/d0/s0`,
      generator: 'elsewhere',
      attempt: 0,
      triggered_at_ms: Date.now(),
      handed_off_at_ms: Date.now(),
      not_before_ms: 0,
    };
    try {
      await producer.send({ topic: handOffTopic(version, MAIN_VM, 'a'), acks: -1, messages: [{ key: 'garbage', value: Buffer.from('not a witness vector job') }] });
      // A zone-a vector on zone b's topic: zone b's prover must refuse it, not prove it.
      await producer.send({ topic: handOffTopic(version, MAIN_VM, 'b'), acks: -1, messages: [{ key: strayId, value: encode('WitnessVectorJob', stray) }] });
    } finally {
      await producer.disconnect();
    }

    gateway = await startGateway({ kafka, store, core: client, payload, version, instanceId: `zones-${version.minor}-gateway`, pollIntervalMs: 200 });
    await waitFor('batches 1 and 2 proven', async () => (await proven(1)) && (await proven(2)), 300_000);
    for (const batch of [1, 2]) {
      const status = await client.batchStatus(batch);
      expect(status.state).to.equal('proven');
    }

    // Every proving took a vector of its own zone from its own zone's hand-off topics, and that
    // zone's generator made it.
    const real = provings.filter((p) => p.handOff.batch_number !== 999);
    expect(real.length).to.be.greaterThan(0);
    for (const p of real) {
      const parsed = parseTopic(p.topic);
      expect(parsed.kind === 'handoff' || parsed.kind === 'handoff-retry', p.topic).to.equal(true);
      expect('zone' in parsed && parsed.zone, `${p.prover} prover consumed ${p.topic}`).to.equal(p.prover);
      expect(p.handOff.zone, p.handOff.job_id).to.equal(p.prover);
      expect(p.handOff.vector_key).to.include(`/vector/${p.prover}/`);
      expect(made.get(p.prover)!.some((h) => h.job_id === p.handOff.job_id), `${p.handOff.job_id}'s vector made in zone ${p.prover}`).to.equal(true);
    }
    // Both zones made vectors and proved them.
    for (const zone of ZONES) {
      expect(made.get(zone)!.length, `vectors made in zone ${zone}`).to.be.greaterThan(0);
      expect(real.filter((p) => p.prover === zone).length, `provings in zone ${zone}`).to.be.greaterThan(0);
    }
    // Every job of both batches was proven (a job can be proven twice after a rebalance, each time in its vector's zone).
    const jobsProven = new Set(real.map((p) => p.handOff.job_id));
    const jobsMade = new Set(ZONES.flatMap((z) => made.get(z)!.map((h) => h.job_id)));
    expect(jobsProven).to.deep.equal(jobsMade);

    // The proof-landed events say where each proof was made: a zone whose generator made that job's vector.
    const landed = (await readTopic(kafka, proofsLandedTopic(version), (vs) => vs.length >= real.length, 60_000)).map((v) => decode('ProofLanded', v) as ProofLanded);
    expect(landed.length).to.be.at.least(jobsProven.size);
    for (const e of landed) {
      expect(e.zone, e.job_id).to.be.oneOf([...ZONES]);
      expect(made.get(e.zone as Zone)!.some((h) => h.job_id === e.job_id), `${e.job_id} landed in zone ${e.zone}`).to.equal(true);
      expect(e.worker).to.equal(name('prover', e.zone as Zone));
    }

    // The operator's lag view names each hand-off topic's consumer group.
    const lags = await topicLags(kafka, version, { probeLimit: 0 });
    for (const zone of ZONES) {
      const row = lags.find((l) => l.topic === handOffRetryTopic(version, MAIN_VM, zone));
      expect(row?.group, `lag row of zone ${zone}'s retry topic`).to.equal(consumerGroup(handOffTopic(version, MAIN_VM, zone)));
    }

    // The hand-off consumer groups: each zone's holds only that zone's prover.
    const m = await members(handOffGroups);
    for (const zone of ZONES) {
      for (const p of pairs) expect(m.get(consumerGroup(handOffTopic(version, p, zone)))).to.deep.equal([name('prover', zone)]);
    }

    // The malformed message and the other zone's vector went to the dead letter topic, with their reasons.
    const letters = (await readTopic(kafka, dltTopic(version), (vs) => vs.length >= 2, 60_000)).map((v) => decode('DeadLetter', v) as DeadLetter);
    const garbage = letters.find((l) => l.original_topic === handOffTopic(version, MAIN_VM, 'a'));
    expect(garbage, JSON.stringify(letters.map((l) => l.reason))).to.not.equal(undefined);
    expect(garbage!.error_kind).to.equal('malformed');
    expect(garbage!.failed_stage).to.equal('prover r0 zone a');
    const wrongZone = letters.find((l) => l.job_id === strayId);
    expect(wrongZone, JSON.stringify(letters.map((l) => l.reason))).to.not.equal(undefined);
    expect(wrongZone!.error_kind).to.equal('zone-mismatch');
    expect(wrongZone!.original_topic).to.equal(handOffTopic(version, MAIN_VM, 'b'));
    expect(wrongZone!.reason).to.include('zone a').and.include('zone b');
    expect(landed.some((e) => e.job_id === strayId), 'the refused vector was not proven').to.equal(false);
    expect(letters.filter((l) => l.job_id !== strayId && l.original_topic !== garbage!.original_topic), 'no other dead letters').to.deep.equal([]);

    // A vector is deleted once its proof is committed.
    for (const batch of [1, 2]) {
      const prefix = `v${version.minor}.${version.patch}/b${batch}/run0/vector/`;
      await waitFor(`batch ${batch}'s vectors deleted`, async () => (await store.list(prefix)).length === 0, 30_000);
    }
    // A hand-off delivered again after that (as after a rebalance) finds the proof and changes nothing.
    const again = made.get('a')!.find((h) => h.batch_number === 1 && h.aggregation_round === 0)!;
    const producer2 = kafka.producer();
    await producer2.connect();
    try {
      await producer2.send({ topic: handOffTopic(version, { round: 0, circuitId: again.circuit_id }, 'a'), acks: -1, messages: [{ key: again.job_id, value: encode('WitnessVectorJob', again) }] });
    } finally {
      await producer2.disconnect();
    }
    await waitFor('the repeated hand-off landed again', async () => {
      const events = (await readTopic(kafka, proofsLandedTopic(version), () => false, 3000)).map((v) => decode('ProofLanded', v) as ProofLanded);
      return events.filter((e) => e.job_id === again.job_id).length >= 2;
    }, 60_000);
    const lettersAfter = (await readTopic(kafka, dltTopic(version), () => false, 3000)).map((v) => decode('DeadLetter', v) as DeadLetter);
    expect(lettersAfter.filter((l) => l.job_id === again.job_id), 'the repeated hand-off is not dead-lettered').to.deep.equal([]);
    expect((await client.batchStatus(1)).state).to.equal('proven');

    // The split prover's job metrics count what it proved in its zone.
    const total = async (metric: string) => {
      const values = (await proverAMetrics.registry.getSingleMetric(metric)!.get()).values as Array<{ value: number; metricName?: string }>;
      const counts = values.filter((v) => v.metricName?.endsWith('_count')); // a histogram: its observation counts
      return (counts.length > 0 ? counts : values).reduce((a, v) => a + v.value, 0);
    };
    const provedInA = new Set(real.filter((p) => p.prover === 'a').map((p) => p.handOff.job_id)).size;
    expect(await total('zkp_jobs_picked_total'), 'jobs picked by zone a').to.be.at.least(provedInA);
    expect(await total('zkp_jobs_succeeded_total'), 'jobs succeeded in zone a').to.be.at.least(provedInA);
    expect(await total('zkp_save_duration_seconds'), 'saves timed in zone a').to.be.at.least(provedInA);
  });

  it("keeps a zone's vectors for its prover while it is stopped, and the prover proves them when it comes back", async () => {
    const proverA = name('prover', 'a');
    await stop(proverA);
    const before = provings.length;
    await core.source.sealUpTo(3);
    // Zone a's generator goes on making vectors for batch 3; nobody proves them meanwhile.
    await waitFor('a zone-a vector of batch 3', async () => made.get('a')!.some((h) => h.batch_number === 3), 180_000);
    expect(provings.slice(before).some((p) => p.prover === 'a'), 'no zone-a proving while its prover is stopped').to.equal(false);
    // No other zone took them: they wait in zone a's hand-off topics.
    expect(provings.slice(before).every((p) => p.handOff.zone === 'b')).to.equal(true);

    await start('prover', 'a');
    await waitFor('batch 3 proven', () => proven(3), 300_000);
    const waiting = made.get('a')!.filter((h) => h.batch_number === 3).map((h) => h.job_id);
    const provedByA = new Set(provings.slice(before).filter((p) => p.prover === 'a').map((p) => p.handOff.job_id));
    for (const id of waiting) expect(provedByA.has(id), `${id} proven by zone a's restarted prover`).to.equal(true);
    // Nothing of batch 3 was proven in a zone other than its vector's.
    for (const p of provings.slice(before)) expect(p.handOff.zone).to.equal(p.prover);
    expect(fatal).to.equal(null);
  });

  it("retries a failing proving on its zone's hand-off retry topic until it is dead-lettered; a requeue puts a hand-off back in its zone", async () => {
    // The operator requeues the other-zone vector of the first test: it goes back to the zone it names, a.
    const result = await requeueBatch({ kafka, version }, 999);
    expect(result.requeued.map((j) => [j.jobId, j.message, j.topic])).to.deep.equal([[strayId, 'WitnessVectorJob', handOffTopic(version, MAIN_VM, 'a')]]);
    // Zone a's prover takes it; its vector was never stored, so every attempt fails and is retried on
    // zone a's retry topic, until the attempts are used up.
    const isGivenUp = (v: Buffer) => {
      const l = decode('DeadLetter', v) as DeadLetter;
      return l.job_id === strayId && l.error_kind === 'max-attempts';
    };
    const letters = await readTopic(kafka, dltTopic(version), (vs) => vs.some(isGivenUp), 180_000);
    const given = letters.find(isGivenUp);
    expect(given, 'the failing hand-off dead-lettered after its attempts').to.not.equal(undefined);
    const letter = decode('DeadLetter', given!) as DeadLetter;
    expect(letter.original_topic).to.equal(handOffRetryTopic(version, MAIN_VM, 'a'));
    expect(letter.attempts).to.equal(5);
    expect(letter.failed_stage).to.equal('prover r0 zone a');
    const attempts = provings.filter((p) => p.handOff.job_id === strayId && p.prover === 'a');
    expect(attempts.map((p) => p.handOff.attempt)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(attempts[0].topic).to.equal(handOffTopic(version, MAIN_VM, 'a'));
    for (const p of attempts.slice(1)) expect(p.topic).to.equal(handOffRetryTopic(version, MAIN_VM, 'a'));
    // Zone b saw it only once, in the first test, and refused it.
    expect(provings.filter((p) => p.handOff.job_id === strayId && p.prover === 'b').length).to.equal(1);
    expect(fatal).to.equal(null);
  });
});
