// The stuck-work watchdog on the real Redis: an idle incomplete group is reported once (a warning
// and the gauge), not again while it stays stuck, and reported as moved on when it completes.
import { expect } from 'chai';
import Redis from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import { batchRunKey } from '../../aggregation';
import { kafkaClient } from '../../cli/local-pipeline';
import { endpoints } from '../../lib/endpoints';
import { formatVersion } from '../../lib/protocol-version';
import { OpsContext, opsContext } from '../../ops/context';
import { StuckWatch, watchStuckWork } from '../../ops/stuck-watch';
import { createObjectStore } from '../../storage';
import { uniqueVersion } from '../support/kafka-helpers';

describe('ops/stuck-watch: the stuck-work watchdog (Redis)', function () {
  this.timeout(60_000);
  const version = uniqueVersion();
  const key = batchRunKey(version, 5, 0);
  const logs: Array<{ level: number; msg: string; stuck?: string; kind?: string; landed?: number }> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
        done();
      },
    }),
  );
  let redis: Redis;
  let ctx: OpsContext;
  let watch: StuckWatch;
  const registry = new Registry();

  before(async () => {
    redis = new Redis(endpoints.redisUrl);
    ctx = opsContext({ kafka: kafkaClient('stuck-watch-test'), redis, store: createObjectStore(`file://${mkdtempSync(join(tmpdir(), 'zkp-stuck-'))}`), version });
    await ctx.counters.registerPlan(key, [
      { parent: 'r1:c3:d0:s0', expected: 4 },
      { parent: 'r2:c3:d0:s0', expected: 1 },
    ]);
    await ctx.counters.landMany(key, [
      { parent: 'r1:c3:d0:s0', member: 0 },
      { parent: 'r1:c3:d0:s0', member: 1 },
    ]);
    // Checks only when asked (the timer's interval is far beyond the test).
    watch = watchStuckWork(ctx, { olderThanMs: 0, intervalMs: 3_600_000, consumerGroups: false, registry, logger });
  });

  after(async () => {
    await watch?.stop();
    await ctx?.counters.clear(key);
    redis?.disconnect();
  });

  const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.protocol_version === formatVersion(version))?.value;
  const warnings = () => logs.filter((l) => l.msg === 'work is stuck' && l.stuck?.includes(key));

  it('reports an idle incomplete group once, with what it waits for, and counts it in the gauge', async () => {
    const report = await watch.check();
    expect(report.stuckGroups.filter((g) => g.batchRunKey === key).map((g) => g.parent)).to.include('r1:c3:d0:s0');
    expect(warnings().map((l) => [l.kind, l.landed])).to.deep.include(['group', 2]);
    expect(await gauge('zkp_stuck_groups')).to.be.at.least(1);
    expect(watch.last).to.equal(report);

    const before = warnings().length;
    await watch.check();
    expect(warnings().length, 'no second warning while it stays stuck').to.equal(before);
  });

  it('says the group moved on once it completes and its job is emitted', async () => {
    await ctx.counters.landMany(key, [
      { parent: 'r1:c3:d0:s0', member: 2 },
      { parent: 'r1:c3:d0:s0', member: 3 },
    ]);
    await ctx.counters.markEmitted(key, ['r1:c3:d0:s0']);
    const report = await watch.check();
    expect(report.stuckGroups.filter((g) => g.batchRunKey === key && g.parent === 'r1:c3:d0:s0')).to.deep.equal([]);
    expect(logs.some((l) => l.msg === 'stuck work moved on' && l.stuck === `group ${key} r1:c3:d0:s0`)).to.equal(true);
  });
});
