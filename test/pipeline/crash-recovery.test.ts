// Prover processes are killed with SIGKILL at random moments and at the exact points between
// saving a proof and committing its offset, then restarted under the same instance name. Every
// batch must still complete, and every proof must be the one a run without kills makes.
import { expect } from 'chai';
import { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaClient, pairsFor } from '../../cli/local-pipeline';
import { RunningCore, startCore } from '../../core/main';
import { decodeBatchInput } from '../../lib/batch-execution';
import { CrashPointName } from '../../lib/fault-injection';
import { formatVersion } from '../../lib/protocol-version';
import { DigestPayload } from '../../payload/digest';
import { CoreClient } from '../../producers/core-client';
import { RunningGateway, startGateway } from '../../producers/gateway';
import { createObjectStore } from '../../storage';
import { ensureTopics } from '../../topics/admin';
import { proveBatchWithDigest } from '../core/prove-batch-with-digest';
import { dropVersion, readTopic, uniqueVersion } from '../support/kafka-helpers';
import Redis from 'ioredis';
import { AggregationCounters, batchRunKey } from '../../aggregation';
import { endpoints } from '../../lib/endpoints';
import { decode } from '../../schemas';
import { dltTopic } from '../../topics/naming';
import { spawnCli } from '../support/spawn-cli';

const CIRCUITS = [1, 3, 5, 6, 7, 9, 10, 11];
const LEAF_ARITY = 4;
const NODE_ARITY = 3;

describe('pipeline under SIGKILL (crash and restart of prover processes)', function () {
  this.timeout(660_000);
  const version = uniqueVersion();
  const kafka = kafkaClient('crash-test');
  const storeDir = mkdtempSync(join(tmpdir(), 'zkp-crash-'));
  const store = createObjectStore(`file://${storeDir}`);
  let core: RunningCore;
  let gateway: RunningGateway;
  const children = new Map<string, ChildProcess>();
  let kills = 0;

  function startProver(instance: string, crash?: { point: CrashPointName; after: number }): void {
    const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'warn', ZKP_LEAF_ARITY: String(LEAF_ARITY), ZKP_NODE_ARITY: String(NODE_ARITY) };
    env.ZKP_CRASH_POINT = '';
    if (crash) {
      env.ZKP_CRASH_POINT = crash.point;
      env.ZKP_CRASH_AFTER = String(crash.after);
    }
    const child = spawnCli(
      ['prover', '--instance', instance, '--version', `${version.minor}.${version.patch}`, '--store', `file://${storeDir}`,
        '--circuit-ids', CIRCUITS.join(','), '--session-timeout-ms', '6000', '--concurrency', '4'],
      env,
    );
    children.set(instance, child);
  }

  function kill(instance: string): void {
    const child = children.get(instance);
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      kills++;
    }
  }

  /** Where the batches stand, for a failure message: waiting counter groups and dead letters. */
  async function diagnose(): Promise<string> {
    const redis = new Redis(endpoints.redisUrl);
    try {
      const counters = new AggregationCounters(redis);
      const lines: string[] = [];
      for (const b of [1, 2]) {
        const p = await counters.progress(batchRunKey(version, b, 0));
        lines.push(`batch ${b}: ${p ? `${p.triggered}/${p.total} groups triggered; waiting ${JSON.stringify(p.waiting.slice(0, 5).map((g) => [g.parent, g.landed, g.expected, g.idleMs]))}` : 'no plan'}`);
      }
      const letters = await readTopic(kafka, dltTopic(version), () => false, 3000);
      lines.push(`dead letters: ${letters.map((v) => decode('DeadLetter', v).reason).slice(0, 5).join(' | ') || 'none'}`);
      lines.push(`processes: ${[...children].map(([n, c]) => `${n}:${c.exitCode ?? c.signalCode ?? 'running'}`).join(' ')}`);
      return lines.join('\n');
    } finally {
      redis.disconnect();
    }
  }

  before(async () => {
    await ensureTopics(kafka, version, { pairs: pairsFor(CIRCUITS) });
    const payload = new DigestPayload();
    core = await startCore({ port: 0, store: `file://${mkdtempSync(join(tmpdir(), 'zkp-crash-core-'))}`, seed: 'crash', batches: 2, basicJobs: 160, circuitIds: CIRCUITS, version, payload, leaseMs: 15 * 60_000 });
    gateway = await startGateway({ kafka, store, core: new CoreClient(core.url, 'crash-gateway'), payload, version, instanceId: `crash-${version.minor}-gw`, pollIntervalMs: 200 });
  });

  after(async () => {
    for (const name of children.keys()) kill(name);
    await gateway?.stop();
    await core?.close();
    await dropVersion(kafka, version);
  });

  it('completes every batch with the same proofs as a run without kills', async () => {
    const name = (i: number) => `crash-${version.minor}-p${i}`;
    // p0 dies at each window between saving a proof and committing its offset, in turn, while it
    // is the only prover (so the work cannot finish without it: every window is hit, however
    // fast the machine); then p1 joins and is killed at random moments.
    const windows: CrashPointName[] = ['after-proof-saved', 'after-landed', 'before-commit', 'after-commit'];
    startProver(name(0), { point: windows[0], after: 5 });
    const client = new CoreClient(core.url, 'crash-test');
    let window = 1;
    const deadline = Date.now() + 540_000;
    let nextRandomKill = Infinity;
    let randomKills = 0;
    for (;;) {
      const states = await Promise.all([1, 2].map((b) => client.batchStatus(b).then((s) => s.state)));
      if (states.every((s) => s === 'proven')) break;
      if (Date.now() > deadline) throw new Error(`batches not proven in time: ${states.join(', ')}\n${await diagnose()}`);
      const p0 = children.get(name(0))!;
      if (p0.exitCode !== null || p0.signalCode !== null) {
        // It crashed at its point: bring it back with the next window armed (then none).
        const armed = window < windows.length;
        startProver(name(0), armed ? { point: windows[window++], after: 3 } : undefined);
        kills++;
        if (!armed && !children.has(name(1))) {
          startProver(name(1));
          nextRandomKill = Date.now() + 1000 + Math.random() * 2000;
        }
      }
      if (randomKills < 3 && Date.now() > nextRandomKill) {
        kill(name(1));
        randomKills++;
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
        startProver(name(1));
        nextRandomKill = Date.now() + 5000 + Math.random() * 5000;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(kills, 'processes were killed').to.be.at.least(windows.length);

    for (const batch of [1, 2]) {
      const input = decodeBatchInput(await core.store.get(`batches/${batch}/input`));
      const reference = await proveBatchWithDigest(input, { leafArity: LEAF_ARITY, nodeArity: NODE_ARITY });
      const prefix = `${formatVersion(version)}/b${batch}/run0/proof/`;
      const keys = await store.list(prefix);
      expect(keys.length, `proofs of batch ${batch}`).to.equal(reference.proofs.size);
      for (const key of keys) {
        const expected = reference.proofs.get(key.slice(prefix.length));
        expect(expected, key).to.not.equal(undefined);
        expect((await store.get(key)).equals(expected!), `${key} differs from the run without kills`).to.equal(true);
      }
    }
  });
});
