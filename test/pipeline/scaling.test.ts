// Prover groups and scaling: two prover processes of the same group share that group's pair
// topic (one consumer group, its partitions split between them) and both prove its jobs; when
// one is killed with SIGKILL, the other takes over all of the topic's partitions once the
// session timeout has passed, and the next batch still completes. A third process serves every
// other pair (`--exclude-group 1`), so group 1's pair is consumed only by group 1's processes.
import { expect } from 'chai';
import { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssignerProtocol, Consumer } from 'kafkajs';
import { kafkaClient, pairsFor } from '../../cli/local-pipeline';
import { BatchRecord } from '../../core/batch-registry';
import { RunningCore, startCore } from '../../core/main';
import { DigestPayload } from '../../payload/digest';
import { CoreClient } from '../../producers/core-client';
import { RunningGateway, startGateway } from '../../producers/gateway';
import { ProofLanded, decode } from '../../schemas';
import { createObjectStore } from '../../storage';
import { ensureTopics } from '../../topics/admin';
import { Pair, pairKey } from '../../topics/catalog';
import { consumerGroup, pairTopic, proofsLandedTopic } from '../../topics/naming';
import { groupOfPair, pairsForGroup } from '../../topics/prover-groups';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { spawnCli } from '../support/spawn-cli';

// Seed "groups" with these ids: batch 1 has 83 MainVM instances (of 99), batch 2 has 15.
const CIRCUITS = [1, 5, 7];
const SEED = 'groups';
const BASIC_JOBS = 100;
const GROUP = 1;
const MAIN_VM: Pair = { round: 0, circuitId: 1 };

interface GroupView {
  state: string;
  /** member client id -> partitions of the pair topic assigned to it */
  members: Array<{ clientId: string; partitions: number[] }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('prover groups: scaling a group and failover', function () {
  this.timeout(420_000);
  const version = uniqueVersion();
  const v = `${version.minor}.${version.patch}`;
  const kafka = kafkaClient('scaling-test');
  const admin = kafka.admin();
  const storeDir = mkdtempSync(join(tmpdir(), 'zkp-scaling-'));
  const topic = pairTopic(version, MAIN_VM);
  const group = consumerGroup(topic);
  const name = (suffix: string) => `scale-${version.minor}-${suffix}`;
  const children = new Map<string, { child: ChildProcess; output: string[] }>();
  const landed: ProofLanded[] = [];
  let landedConsumer: Consumer | null = null;
  let core: RunningCore;
  let gateway: RunningGateway;
  let client: CoreClient;

  function startProver(instance: string, groupArgs: string[]): void {
    const output: string[] = [];
    const child = spawnCli(
      ['prover', '--instance', instance, ...groupArgs, '--version', v, '--store', `file://${storeDir}`, '--circuit-ids', CIRCUITS.join(','),
        '--session-timeout-ms', '6000', '--concurrency', '4', '--metrics-port', 'off'],
      { LOG_LEVEL: 'warn', ZKP_LEAF_ARITY: '4', ZKP_NODE_ARITY: '2' },
      output,
    );
    children.set(instance, { child, output });
  }

  function alive(instance: string): boolean {
    const c = children.get(instance)?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  function processes(): string {
    return [...children].map(([n, { child, output }]) => `${n}: ${child.exitCode ?? child.signalCode ?? 'running'} ${output.join('').slice(-600)}`).join('\n');
  }

  async function describeGroup(): Promise<GroupView> {
    const { groups } = await admin.describeGroups([group]);
    const g = groups[0];
    return {
      state: g.state,
      members: g.members.map((m) => {
        const assignment = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        return { clientId: m.clientId, partitions: [...(assignment?.assignment[topic] ?? [])].sort((a, b) => a - b) };
      }),
    };
  }

  async function waitForGroup(what: string, ok: (view: GroupView) => boolean, timeoutMs: number): Promise<GroupView> {
    const deadline = Date.now() + timeoutMs;
    let view: GroupView | null = null;
    for (;;) {
      view = await describeGroup();
      if (view.state === 'Stable' && ok(view)) return view;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; group ${group} is ${JSON.stringify(view)}\n${processes()}`);
      await sleep(500);
    }
  }

  const record = async (batch: number) => (await client.batchStatus(batch)) as unknown as BatchRecord;

  async function waitProven(batch: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await client.batchStatus(batch)).state !== 'proven') {
      if (Date.now() > deadline) throw new Error(`batch ${batch} not proven within ${timeoutMs} ms\n${processes()}`);
      await sleep(250);
    }
  }

  /** The MainVM basic jobs of `batch` that landed, by job id (a redelivered job may land twice: same id). */
  async function mainVmLandings(batch: number, expected: number, timeoutMs = 60_000): Promise<ProofLanded[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = landed.filter((e) => e.batch_number === batch && e.aggregation_round === 0 && e.circuit_id === MAIN_VM.circuitId);
      if (new Set(events.map((e) => e.job_id)).size >= expected) return events;
      if (Date.now() > deadline) throw new Error(`only ${events.length} of ${expected} MainVM landings of batch ${batch} seen`);
      await sleep(250);
    }
  }

  before(async () => {
    expect(groupOfPair(MAIN_VM), 'MainVM basic proofs are prover group 1').to.equal(GROUP);
    expect(pairsForGroup(GROUP).map(pairKey)).to.deep.equal([pairKey(MAIN_VM)]);
    await admin.connect();
    await ensureTopics(kafka, version, { pairs: pairsFor(CIRCUITS) });
    const payload = new DigestPayload();
    core = await startCore({ port: 0, store: `file://${mkdtempSync(join(tmpdir(), 'zkp-scaling-core-'))}`, seed: SEED, batches: 1, basicJobs: BASIC_JOBS, circuitIds: CIRCUITS, version, payload, leaseMs: 15 * 60_000 });
    client = new CoreClient(core.url, 'scaling-test');
    gateway = await startGateway({ kafka, store: createObjectStore(`file://${storeDir}`), core: new CoreClient(core.url, 'scaling-gateway'), payload, version, instanceId: name('gw'), pollIntervalMs: 200 });
    landedConsumer = kafka.consumer({ groupId: `scaling-test-landed-${version.minor}-${Date.now()}`, readUncommitted: false });
    await landedConsumer.connect();
    await landedConsumer.subscribe({ topic: proofsLandedTopic(version), fromBeginning: true });
    await landedConsumer.run({ eachMessage: async ({ message }) => void landed.push(decode('ProofLanded', message.value!)) });
  });

  after(async () => {
    for (const { child } of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await landedConsumer?.disconnect().catch(() => undefined);
    await gateway?.stop();
    await core?.close();
    await admin.disconnect().catch(() => undefined);
    await dropVersion(kafka, version);
  });

  it('shares a pair topic between the processes of a group and fails over to the survivor', async () => {
    const [a, b, rest] = [name('g1-a'), name('g1-b'), name('rest')];
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    expect(partitions, `${topic} has several partitions (topics/partitions.json)`).to.be.at.least(2);
    const batch1MainVm = (await record(1)).instances['1'] ?? 0;
    expect(batch1MainVm, 'MainVM instances in batch 1').to.be.at.least(20);

    // Two processes of group 1, then one for every other pair (and basic witness generation).
    startProver(a, ['--group', String(GROUP)]);
    startProver(b, ['--group', String(GROUP)]);
    const shared = await waitForGroup(
      'both group-1 processes hold partitions of the MainVM topic',
      (g) => g.members.length === 2 && g.members.every((m) => m.partitions.length > 0),
      180_000,
    );
    expect(shared.members.map((m) => m.clientId).sort()).to.deep.equal([`prover-${a}`, `prover-${b}`].sort());
    const union = shared.members.flatMap((m) => m.partitions).sort((x, y) => x - y);
    expect(union, 'the two members split the partitions, each partition to one of them').to.deep.equal([...Array(partitions).keys()]);
    startProver(rest, ['--exclude-group', String(GROUP)]);

    await waitProven(1, 240_000);
    const first = await mainVmLandings(1, batch1MainVm);
    const workers = new Set(first.map((e) => e.worker));
    expect([...workers].sort(), 'both group-1 processes proved MainVM jobs of batch 1').to.deep.equal([a, b].sort());
    // Group 1's processes prove only group 1's pair, and only they prove it.
    const byGroup1 = landed.filter((e) => e.worker === a || e.worker === b);
    expect(byGroup1.every((e) => e.aggregation_round === 0 && e.circuit_id === MAIN_VM.circuitId), 'group 1 proved only (1,0)').to.equal(true);
    const others = landed.filter((e) => e.batch_number === 1 && !(e.aggregation_round === 0 && e.circuit_id === MAIN_VM.circuitId));
    expect(others.length, 'the other pairs of batch 1 were proven').to.be.greaterThan(0);
    expect(new Set(others.map((e) => e.worker)), 'by the process serving the other groups').to.deep.equal(new Set([rest]));

    // SIGKILL one of the pair's two processes: after the session timeout the survivor owns every partition.
    const [victim, survivor] = [b, a];
    children.get(victim)!.child.kill('SIGKILL');
    const killedAt = Date.now();
    const alone = await waitForGroup(
      'the survivor owns every partition of the MainVM topic',
      (g) => g.members.length === 1 && g.members[0].partitions.length === partitions,
      120_000,
    );
    expect(alone.members[0].clientId).to.equal(`prover-${survivor}`);
    expect(alive(survivor), 'the survivor is still running').to.equal(true);
    const takeoverMs = Date.now() - killedAt;

    // The next batch completes on the survivor alone.
    await core.source.sealNext();
    const batch2MainVm = (await record(2)).instances['1'] ?? 0;
    expect(batch2MainVm, 'MainVM instances in batch 2').to.be.at.least(1);
    await waitProven(2, 240_000);
    const second = await mainVmLandings(2, batch2MainVm);
    expect(new Set(second.map((e) => e.worker)), 'batch 2 MainVM jobs proved by the survivor').to.deep.equal(new Set([survivor]));
    expect((await client.batchStatus(1)).state).to.equal('proven');
    // For the record (no timing assertion: the machine may be loaded).
    console.log(`      takeover of ${partitions} partitions ${takeoverMs} ms after SIGKILL (session timeout 6000 ms)`);
  });
});
