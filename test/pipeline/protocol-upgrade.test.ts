// A protocol upgrade with both versions running side by side: the core accepts the old and the
// new version; batches 1..2 are sealed under the old one, then the core switches and seals
// batches 3..4 under the new one. Each version has its own topics, its own gateway and its own
// prover process (`--version`); every batch is accepted, each version's jobs run only on that
// version's processes, and a new-version job put on an old-version topic is refused.
import { expect } from 'chai';
import { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer } from 'kafkajs';
import { kafkaClient, pairsFor } from '../../cli/local-pipeline';
import { BatchRecord } from '../../core/batch-registry';
import { RunningCore, startCore } from '../../core/main';
import { ProtocolVersion, formatVersion, sameVersion } from '../../lib/protocol-version';
import { DigestPayload } from '../../payload/digest';
import { CoreClient } from '../../producers/core-client';
import { ProofLanded, ProverJob, decode, encode } from '../../schemas';
import { ensureTopics } from '../../topics/admin';
import { batchesTopic, dltTopic, pairTopic, proofsLandedTopic } from '../../topics/naming';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { spawnCli } from '../support/spawn-cli';

// Seed "upgrade" with these ids: 80 basic instances per batch over MainVM and Keccak.
const CIRCUITS = [1, 5];
const SEED = 'upgrade';
const BASIC_JOBS = 80;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const arg = (v: ProtocolVersion) => `${v.minor}.${v.patch}`;

/** Collects every committed message of a topic, decoded, from the beginning. */
class Collector<T> {
  readonly values: T[] = [];
  private consumer: Consumer | null = null;
  constructor(
    private readonly kafka: ReturnType<typeof kafkaClient>,
    private readonly topic: string,
    private readonly decodeValue: (v: Buffer) => T,
  ) {}
  async start(): Promise<void> {
    this.consumer = this.kafka.consumer({ groupId: `upgrade-test-${this.topic}-${Date.now()}-${Math.random()}`, readUncommitted: false });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({ eachMessage: async ({ message }) => void this.values.push(this.decodeValue(message.value!)) });
  }
  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

describe('protocol upgrade: two versions side by side', function () {
  this.timeout(480_000);
  const oldV = uniqueVersion();
  const newV: ProtocolVersion = { minor: oldV.minor + 1, patch: 0 };
  const kafka = kafkaClient('upgrade-test');
  const storeDir = mkdtempSync(join(tmpdir(), 'zkp-upgrade-'));
  const name = (suffix: string) => `upgrade-${oldV.minor}-${suffix}`;
  const instances = {
    old: { gateway: name('gw-old'), prover: name('prover-old') },
    new: { gateway: name('gw-new'), prover: name('prover-new') },
  };
  const children = new Map<string, { child: ChildProcess; output: string[] }>();
  const collectors: Array<{ start(): Promise<void>; stop(): Promise<void> }> = [];
  let core: RunningCore;
  let client: CoreClient;

  function spawnRole(instance: string, args: string[]): void {
    const output: string[] = [];
    const child = spawnCli([...args, '--instance', instance, '--store', `file://${storeDir}`, '--core-url', core.url, '--metrics-port', 'off'], { LOG_LEVEL: 'warn', ZKP_LEAF_ARITY: '4', ZKP_NODE_ARITY: '2' }, output);
    children.set(instance, { child, output });
  }

  function processes(): string {
    return [...children].map(([n, { child, output }]) => `${n}: ${child.exitCode ?? child.signalCode ?? 'running'} ${output.join('').slice(-600)}`).join('\n');
  }

  const record = async (batch: number) => (await client.batchStatus(batch)) as unknown as BatchRecord;

  async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await probe();
      if (got) return got;
      const exited = [...children].filter(([, { child }]) => child.exitCode !== null || child.signalCode !== null);
      if (exited.length > 0) throw new Error(`${what}: ${exited.map(([n]) => n).join(', ')} exited\n${processes()}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${processes()}`);
      await sleep(250);
    }
  }

  function collect<T>(topic: string, decodeValue: (v: Buffer) => T): Collector<T> {
    const c = new Collector<T>(kafka, topic, decodeValue);
    collectors.push(c);
    return c;
  }

  before(async () => {
    await Promise.all([oldV, newV].map((v) => ensureTopics(kafka, v, { pairs: pairsFor(CIRCUITS) })));
    core = await startCore({
      port: 0,
      store: `file://${mkdtempSync(join(tmpdir(), 'zkp-upgrade-core-'))}`,
      seed: SEED,
      batches: 2,
      basicJobs: BASIC_JOBS,
      circuitIds: CIRCUITS,
      version: oldV,
      acceptedVersions: [oldV, newV],
      payload: new DigestPayload(),
      leaseMs: 15 * 60_000,
    });
    client = new CoreClient(core.url, 'upgrade-test');
  });

  after(async () => {
    for (const { child } of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(collectors.map((c) => c.stop()));
    await core?.close();
    await Promise.all([oldV, newV].map((v) => dropVersion(kafka, v)));
  });

  it('proves old-version and new-version batches on their own components, and refuses a job on the wrong version', async () => {
    const landedOld = collect(proofsLandedTopic(oldV), (v) => decode('ProofLanded', v));
    const landedNew = collect(proofsLandedTopic(newV), (v) => decode('ProofLanded', v));
    const batchesOld = collect(batchesTopic(oldV), (v) => decode('BatchJob', v));
    const batchesNew = collect(batchesTopic(newV), (v) => decode('BatchJob', v));
    const lettersOld = collect(dltTopic(oldV), (v) => decode('DeadLetter', v));
    await Promise.all(collectors.map((c) => c.start()));

    // Each version's gateway and prover (all pairs of the batches' circuit ids), side by side.
    for (const [key, v] of [['old', oldV], ['new', newV]] as const) {
      spawnRole(instances[key].gateway, ['gateway', '--version', arg(v)]);
      spawnRole(instances[key].prover, ['prover', '--version', arg(v), '--circuit-ids', CIRCUITS.join(','), '--session-timeout-ms', '6000', '--concurrency', '4']);
    }

    // The upgrade: from batch 3 on, the core seals under the new version.
    expect(core.source.version).to.deep.equal(oldV);
    core.source.useVersion(newV);
    await core.source.sealUpTo(4);
    expect(core.source.version).to.deep.equal(newV);

    for (const batch of [1, 2, 3, 4]) {
      await waitFor(`batch ${batch} proven`, async () => (await record(batch)).state === 'proven', 300_000);
    }
    for (const batch of [1, 2, 3, 4]) {
      const rec = await record(batch);
      expect(rec.protocol_version, `batch ${batch} sealed under`).to.deep.equal(batch <= 2 ? oldV : newV);
      expect(rec.state).to.equal('proven');
      expect(rec.rejections, `batch ${batch} rejections`).to.deep.equal([]);
    }

    // Each gateway took only its own version's batches; each version's jobs ran only on its own prover.
    await waitFor('batch jobs seen', async () => batchesOld.values.length >= 2 && batchesNew.values.length >= 2, 30_000);
    expect(new Set(batchesOld.values.map((j) => j.batch_number))).to.deep.equal(new Set([1, 2]));
    expect(new Set(batchesNew.values.map((j) => j.batch_number))).to.deep.equal(new Set([3, 4]));
    const compressed = (events: ProofLanded[], batches: number[]) => batches.every((b) => events.some((e) => e.batch_number === b && e.aggregation_round === 5));
    await waitFor('every final landing seen', async () => compressed(landedOld.values, [1, 2]) && compressed(landedNew.values, [3, 4]), 30_000);
    for (const [events, v, batches, worker] of [
      [landedOld.values, oldV, [1, 2], instances.old.prover],
      [landedNew.values, newV, [3, 4], instances.new.prover],
    ] as const) {
      expect(events.length, `landings of ${formatVersion(v)}`).to.be.greaterThan(0);
      expect(new Set(events.map((e) => e.worker)), `workers on ${proofsLandedTopic(v)}`).to.deep.equal(new Set([worker]));
      expect(events.every((e) => sameVersion(e.protocol_version, v)), `only ${formatVersion(v)} jobs on its topic`).to.equal(true);
      expect(new Set(events.map((e) => e.batch_number))).to.deep.equal(new Set(batches));
    }

    // A new-version job on an old-version pair topic: the old prover refuses it (dead letter).
    const jobId = `${formatVersion(newV)}:b3:run0:r0:c1:d0:s0`;
    const stray: ProverJob = {
      protocol_version: newV,
      batch_number: 3,
      job_id: jobId,
      run_id: 0,
      aggregation_round: 0,
      circuit_id: 1,
      depth: 0,
      sequence_number: 0,
      level_size: 1,
      input_keys: [`${formatVersion(newV)}/b3/run0/witness/c1/s0`],
      attempt: 0,
      triggered_at_ms: Date.now(),
      not_before_ms: 0,
      zone: null,
    };
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic: pairTopic(oldV, { round: 0, circuitId: 1 }), acks: -1, messages: [{ key: jobId, value: encode('ProverJob', stray) }] });
    } finally {
      await producer.disconnect();
    }
    const letter = await waitFor('the stray job dead-lettered', async () => lettersOld.values.find((l) => l.job_id === jobId), 120_000);
    expect(letter.error_kind).to.equal('version-mismatch');
    expect(letter.protocol_version).to.deep.equal(newV);
    expect(letter.original_topic).to.equal(pairTopic(oldV, { round: 0, circuitId: 1 }));
    expect(letter.reason).to.include(formatVersion(oldV));
    // It landed nowhere, and the new-version batch 3 stays proven by its own proof.
    await sleep(1000);
    expect(landedOld.values.some((e) => e.job_id === jobId), 'the refused job did not land on the old version').to.equal(false);
    expect((await record(3)).state).to.equal('proven');
    for (const { child } of children.values()) expect(child.exitCode, processes()).to.equal(null);
  });
});
