// The dashboard in a real browser against a real pipeline: a local pipeline (digest payload,
// small batches) on Kafka, Redis and the object store, the dashboard served beside it, and the
// page opened once in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
// Everything after the first load arrives over Server-Sent Events: a batch sealed after the page
// opened must show up and reach the core's "proven" state, a dead letter injected into the
// version's dead letter topic must appear, and a backlog produced to an unconsumed pair topic
// must show as lag and as a replica recommendation — all without reloading the page.
import { expect } from 'chai';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';
import { LocalPipeline, pairsFor, startLocalPipeline } from '../../cli/local-pipeline';
import { startPipelineDashboard } from '../../cli/dashboard';
import { DashboardServer } from '../../dashboard';
import { deadLetterRecord } from '../../consumers/dead-letters';
import { recommendedReplicas } from '../../metrics/autoscaling';
import { produceRecords } from '../../ops/produce';
import { formatVersion } from '../../lib/protocol-version';
import { ensureTopics } from '../../topics/admin';
import { Pair, pairKey } from '../../topics/catalog';
import { consumerGroup, pairTopic } from '../../topics/naming';
import { groupOfPair } from '../../topics/prover-groups';
import { defaultPartitionConfig, partitionsForPair } from '../../topics/partitions';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');
const CIRCUIT_IDS = [1, 3];
/** A pair the pipeline does not consume (no batch has its circuit): a backlog there stays. */
const IDLE_PAIR: Pair = { round: 0, circuitId: 5 };
const BACKLOG = 40;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(500);
  }
}

/** Text of the first element matching `selector`, or null when there is none. */
async function textOf(page: Page, selector: string): Promise<string | null> {
  const l = page.locator(selector).first();
  return (await l.count()) > 0 ? l.textContent() : null;
}

describe('dashboard in headless Chromium (real pipeline)', function () {
  this.timeout(420_000);
  const version = uniqueVersion();
  let pipeline: LocalPipeline | undefined;
  let dashboard: DashboardServer | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing (${CHROMIUM}): run infra/bin/install, which installs Debian's chromium package`);
    }
    pipeline = await startLocalPipeline({
      version,
      batches: 1,
      basicJobsPerBatch: 24,
      circuitIds: CIRCUIT_IDS,
      geometry: { leafArity: 4, nodeArity: 2, tipCapacity: 20 },
      seed: 'dashboard',
      instancePrefix: `dash-${version.minor}`,
    });
    await pipeline.waitForProven([1], 240_000);
    dashboard = await startPipelineDashboard(pipeline, version, 0);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(dashboard.url);
    // Marks this document: a reload would lose it.
    await page.evaluate('window.__loadedOnce = true');
  });

  after(async () => {
    if (page) {
      mkdirSync(OUTPUT_DIR, { recursive: true });
      await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard.png'), fullPage: true }).catch(() => undefined);
    }
    await browser?.close();
    await dashboard?.close();
    await pipeline?.stop();
    if (pipeline) await dropVersion(pipeline.kafka, version);
  });

  it('lists every pair topic of the run with its lag, throughput and consumer group', async () => {
    expect(await textOf(page, '#version')).to.equal(formatVersion(version));
    for (const pair of pairsFor(CIRCUIT_IDS)) {
      const row = `#topics-table tr[data-topic="${pairTopic(version, pair)}"]`;
      await until(`the row of ${pairKey(pair)}`, 60_000, async () => (await page.locator(row).count()) === 1);
      expect(await textOf(page, `${row} td:nth-child(2)`), pairKey(pair)).to.not.equal('');
      // Drained by the pipeline: nothing waits, and the group is consuming.
      await until(`lag 0 on ${pairKey(pair)}`, 60_000, async () => (await textOf(page, `${row} td.lag`)) === '0');
      expect(await textOf(page, `${row} td:nth-child(10)`)).to.equal('Stable');
    }
    // Throughput columns carry numbers once two samples exist.
    const basic = `#topics-table tr[data-topic="${pairTopic(version, { round: 0, circuitId: 1 })}"]`;
    await until('a throughput figure', 60_000, async () => /^[0-9.,]+$/.test((await textOf(page, `${basic} td.rate-in`)) ?? ''));
  });

  it('shows a batch sealed after the page opened going through the rounds to proven, by live updates', async () => {
    const firstSequence = Number(await page.locator('body').getAttribute('data-sequence'));
    await pipeline!.core.source.sealNext();
    const batch = '#batch-tree li[data-batch="2"]';
    await until('batch 2 in the tree', 120_000, async () => (await page.locator(batch).count()) === 1);
    await until('batch 2 accepted by the core', 240_000, async () => (await page.locator(`${batch} .core-state`).first().getAttribute('data-accepted')) === 'true');
    expect(await textOf(page, `${batch} .core-state`)).to.contain('proven');
    expect(await page.locator(`${batch}`).getAttribute('data-complete')).to.equal('true');
    // Every round, and every circuit in it, shows all its planned jobs done.
    const rounds = page.locator(`${batch} li[data-round]`);
    expect(await rounds.count()).to.equal(6);
    for (let r = 0; r < 6; r++) {
      const round = rounds.nth(r);
      expect(await round.getAttribute('data-done'), `round ${r}`).to.equal(await round.getAttribute('data-total'));
    }
    const basics = page.locator(`${batch} li[data-round="0"] li[data-circuit]`);
    expect(await basics.count()).to.equal(CIRCUIT_IDS.length);
    const plannedBasic = await Promise.all([0, 1].map(async (i) => Number(await basics.nth(i).getAttribute('data-total'))));
    expect(plannedBasic.reduce((a, b) => a + b, 0)).to.equal(24);
    // The same document all along: the updates came over the event stream.
    expect(await page.evaluate('window.__loadedOnce === true')).to.equal(true);
    expect(Number(await page.locator('body').getAttribute('data-sequence'))).to.be.greaterThan(firstSequence);
  });

  it('keeps a batch the operator opened open across updates', async () => {
    const summary = page.locator('#batch-tree li[data-batch="2"] > details > summary');
    await summary.click();
    await page.locator('#batch-tree li[data-batch="2"] li[data-round="0"] > details > summary').click();
    const seen = Number(await page.locator('body').getAttribute('data-sequence'));
    await until('two more updates', 60_000, async () => Number(await page.locator('body').getAttribute('data-sequence')) >= seen + 2);
    expect(await page.locator('#batch-tree li[data-batch="2"] > details').getAttribute('open')).to.equal('');
    expect(await page.locator('#batch-tree li[data-batch="2"] li[data-round="0"] > details').getAttribute('open')).to.equal('');
    expect(await page.locator('#batch-tree li[data-batch="1"] > details').getAttribute('open')).to.equal(null);
  });

  it('shows a dead letter injected into the version dead letter topic', async () => {
    const jobId = `${formatVersion(version)}:b99:run0:r0:c1:d0:s7`;
    const topic = pairTopic(version, { round: 0, circuitId: 1 });
    const letter = deadLetterRecord(version, { groupId: consumerGroup(topic), topic, partition: 0, offset: '5', key: jobId, value: Buffer.from('not a job'), pickedAtMs: Date.now() }, new Error('injected by the dashboard test'), 'prover r0', 5, { protocolVersion: version, batchNumber: 99, jobId }, 'max-attempts');
    await produceRecords(pipeline!.kafka, [letter]);
    const row = `#dead-letter-table tr[data-job-id="${jobId}"]`;
    await until('the dead letter row', 120_000, async () => (await page.locator(row).count()) === 1);
    const text = (await textOf(page, row)) ?? '';
    expect(text).to.contain('max-attempts');
    expect(text).to.contain('injected by the dashboard test');
    expect(await page.evaluate('window.__loadedOnce === true')).to.equal(true);
  });

  it('shows component health: Kafka, Redis and the core reachable, each consumer group with its state and members', async () => {
    for (const check of ['kafka', 'redis', 'core']) {
      expect(await page.locator(`#checks [data-check="${check}"]`).getAttribute('data-ok'), check).to.equal('true');
    }
    for (const pair of pairsFor(CIRCUIT_IDS)) {
      const row = `#groups-table tr[data-group="${consumerGroup(pairTopic(version, pair))}"]`;
      expect(await page.locator(row).getAttribute('data-state'), pairKey(pair)).to.equal('Stable');
      expect(await textOf(page, `${row} td:nth-child(5)`)).to.equal('1');
      expect(await textOf(page, `${row} td:nth-child(6)`)).to.contain(`dash-${version.minor}`);
    }
  });

  it('shows the replica recommendation of the KEDA rule for a backlog on an unconsumed pair', async () => {
    await ensureTopics(pipeline!.kafka, version, { pairs: [IDLE_PAIR] });
    const topic = pairTopic(version, IDLE_PAIR);
    // One transaction, as the pipeline writes pair topics: the lag discounts its commit markers.
    const producer = pipeline!.kafka.producer({ transactionalId: `dash-test-${version.minor}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const tx = await producer.transaction();
      await tx.send({ topic, messages: Array.from({ length: BACKLOG }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`backlog ${i}`) })) });
      await tx.commit();
    } finally {
      await producer.disconnect();
    }
    const partitions = partitionsForPair(defaultPartitionConfig(), IDLE_PAIR);
    const expected = recommendedReplicas({ totalLag: BACKLOG, partitions }).replicas;
    expect(expected).to.be.greaterThan(1); // 40 records at 16 per replica
    const row = `#topics-table tr[data-topic="${topic}"]`;
    await until('the backlog in the topics table', 120_000, async () => (await textOf(page, `${row} td.lag`)) === String(BACKLOG));
    expect(await textOf(page, `${row} td.replicas`)).to.equal(String(expected));
    const scaling = `#scaling-table tr[data-prover-group="${groupOfPair(IDLE_PAIR)}"]`;
    await until('the prover group recommendation', 60_000, async () => (await page.locator(scaling).getAttribute('data-replicas')) === String(expected));
    expect(await textOf(page, `${scaling} td.replicas`)).to.equal(String(expected));
    // Nobody consumes it: its group shows up with no members.
    const group = `#groups-table tr[data-group="${consumerGroup(topic)}"]`;
    await until('the unconsumed group in health', 60_000, async () => (await page.locator(group).count()) === 1);
    expect(await textOf(page, `${group} td:nth-child(5)`)).to.equal('0');
  });
});
