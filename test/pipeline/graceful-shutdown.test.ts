// SIGTERM to a prover process mid-batch: it stops picking, finishes and commits what is in
// flight, and exits 0 within its grace period; a new process finishes the batch.
import { expect } from 'chai';
import { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaClient, pairsFor } from '../../cli/local-pipeline';
import { RunningCore, startCore } from '../../core/main';
import { DigestPayload } from '../../payload/digest';
import { CoreClient } from '../../producers/core-client';
import { RunningGateway, startGateway } from '../../producers/gateway';
import { createObjectStore } from '../../storage';
import { ensureTopics } from '../../topics/admin';
import { dropVersion, uniqueVersion } from '../support/kafka-helpers';
import { spawnCli } from '../support/spawn-cli';

const CIRCUITS = [1, 5, 7];

describe('prover process shutdown on SIGTERM', function () {
  this.timeout(300_000);
  const version = uniqueVersion();
  const kafka = kafkaClient('graceful-test');
  const storeDir = mkdtempSync(join(tmpdir(), 'zkp-graceful-'));
  let core: RunningCore;
  let gateway: RunningGateway;
  const children: ChildProcess[] = [];

  function startProver(instance: string): { child: ChildProcess; stderr: string[] } {
    const stderr: string[] = [];
    const child = spawnCli(
      ['prover', '--instance', instance, '--version', `${version.minor}.${version.patch}`, '--store', `file://${storeDir}`, '--circuit-ids', CIRCUITS.join(','), '--session-timeout-ms', '6000'],
      { LOG_LEVEL: 'info', NODE_ENV: 'production', ZKP_LEAF_ARITY: '4', ZKP_NODE_ARITY: '2' },
      stderr,
    );
    children.push(child);
    return { child, stderr };
  }

  before(async () => {
    await ensureTopics(kafka, version, { pairs: pairsFor(CIRCUITS) });
    const payload = new DigestPayload();
    core = await startCore({ port: 0, store: `file://${mkdtempSync(join(tmpdir(), 'zkp-graceful-core-'))}`, seed: 'graceful', batches: 1, basicJobs: 400, circuitIds: CIRCUITS, version, payload, leaseMs: 15 * 60_000 });
    gateway = await startGateway({ kafka, store: createObjectStore(`file://${storeDir}`), core: new CoreClient(core.url, 'graceful-gateway'), payload, version, instanceId: `graceful-${version.minor}-gw`, pollIntervalMs: 200 });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await gateway?.stop();
    await core?.close();
    await dropVersion(kafka, version);
  });

  it('drains in-flight jobs, commits them and exits 0; the batch then completes on another process', async () => {
    const first = startProver(`graceful-${version.minor}-a`);
    // Wait until it is proving.
    const deadline = Date.now() + 120_000;
    while (!first.stderr.join('').includes('batch cut into basic jobs') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(first.stderr.join(''), 'the prover started working').to.include('batch cut into basic jobs');
    await new Promise((r) => setTimeout(r, 500));
    const sentAt = Date.now();
    first.child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => first.child.once('exit', (c) => r(c)));
    expect(code, first.stderr.join('').slice(-2000)).to.equal(0);
    expect(Date.now() - sentAt, 'within the grace period').to.be.below(35_000);
    expect(first.stderr.join('')).to.include('"msg":"stopped"');

    startProver(`graceful-${version.minor}-b`);
    const client = new CoreClient(core.url, 'graceful-test');
    while ((await client.batchStatus(1)).state !== 'proven') {
      if (Date.now() > deadline + 120_000) throw new Error('batch not proven after the restart');
      await new Promise((r) => setTimeout(r, 250));
    }
  });
});
