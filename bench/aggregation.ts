// Landing throughput of the aggregation counters: 100,000 members over groups of 32,
// landed one at a time (one round trip each), as concurrent single landings, as a
// pipeline of single-landing scripts, and with landMany (land_proofs_batch.lua).
//
//   npx tsx bench/aggregation.ts [--members 100000] [--group 32] [--chunk 1000]
//                                [--concurrency 64] [--only <mode index, 0..3>]
//
// Also prints the Redis server's CPU time per landing (INFO cpu: used_cpu_user +
// used_cpu_sys of the server process, so meaningful only when nothing else uses that
// server), which depends much less than wall time on how loaded the machine is: 1e6 / that
// is what one Redis core could sustain.
//
// Uses endpoints.redisUrl (REDIS_URL). Registers a throwaway batch-run per mode and
// clears it afterwards.

import Redis from 'ioredis';
import { endpoints } from '../lib/endpoints';
import { AggregationCounters, isLandFailure, type LandOutcome } from '../aggregation/counters';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const MEMBERS = arg('members', 100_000);
const GROUP = arg('group', 32);
const CHUNK = arg('chunk', 1000);
const CONCURRENCY = arg('concurrency', 64);
const ONLY = arg('only', -1);

/** CPU seconds (user + system) the Redis server process has used so far, from INFO cpu. */
async function serverCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

interface Mode {
  name: string;
  run(counters: AggregationCounters, b: string, landings: { parent: string; member: number }[]): Promise<LandOutcome[]>;
}

const modes: Mode[] = [
  {
    name: 'land, one at a time (await each)',
    async run(c, b, landings) {
      const out: LandOutcome[] = [];
      for (const l of landings) out.push(await c.land(b, l.parent, l.member));
      return out;
    },
  },
  {
    name: `land, ${CONCURRENCY} in flight`,
    async run(c, b, landings) {
      const out: LandOutcome[] = new Array(landings.length);
      let next = 0;
      await Promise.all(
        [...Array(CONCURRENCY)].map(async () => {
          while (next < landings.length) {
            const i = next++;
            out[i] = await c.land(b, landings[i].parent, landings[i].member);
          }
        }),
      );
      return out;
    },
  },
  {
    name: `landManyPipelined, ${CHUNK} per pipeline`,
    async run(c, b, landings) {
      const out: LandOutcome[] = [];
      for (let i = 0; i < landings.length; i += CHUNK) {
        out.push(...(await c.landManyPipelined(landings.slice(i, i + CHUNK).map((l) => ({ batchRunKey: b, ...l })))));
      }
      return out;
    },
  },
  {
    name: `landMany, ${CHUNK} per call`,
    async run(c, b, landings) {
      const out: LandOutcome[] = [];
      for (let i = 0; i < landings.length; i += CHUNK) out.push(...(await c.landMany(b, landings.slice(i, i + CHUNK))));
      return out;
    },
  },
];

async function main(): Promise<void> {
  const redis = new Redis(endpoints.redisUrl);
  const counters = new AggregationCounters(redis, { ttlSeconds: 3600 });
  const groups = Math.ceil(MEMBERS / GROUP);
  const plan = [...Array(groups).keys()].map((s) => ({
    parent: `r1:c3:d0:s${s}`,
    expected: Math.min(GROUP, MEMBERS - s * GROUP),
  }));
  // Interleave the groups (member 0 of every group, then member 1, ...), as landings of a
  // busy round arrive: every group stays open until the end.
  const landings: { parent: string; member: number }[] = [];
  for (let m = 0; m < GROUP; m++) {
    for (const g of plan) if (m < g.expected) landings.push({ parent: g.parent, member: m });
  }

  console.log(`redis ${endpoints.redisUrl}: ${MEMBERS} landings over ${groups} groups of ${GROUP}`);
  for (const [index, mode] of modes.entries()) {
    if (ONLY >= 0 && index !== ONLY) continue;
    const b = `v0.0:b${Date.now()}:run${process.pid}`;
    await counters.registerPlan(b, plan);
    const c0 = await serverCpuSeconds(redis);
    const t0 = process.hrtime.bigint();
    const outcomes = await mode.run(counters, b, landings);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const serverUsPerLanding = ((await serverCpuSeconds(redis)) - c0) * 1e6 / MEMBERS;
    const triggers = outcomes.filter((o) => o.status === 'TRIGGER').length;
    const failures = outcomes.filter(isLandFailure).length;
    await counters.clear(b);
    if (triggers !== groups || failures !== 0) {
      throw new Error(`${mode.name}: ${triggers} triggers for ${groups} groups, ${failures} failures`);
    }
    console.log(
      `${mode.name.padEnd(40)} ${(MEMBERS / seconds).toFixed(0).padStart(9)} landings/s  (${seconds.toFixed(2)} s)` +
        `  Redis CPU ${serverUsPerLanding.toFixed(1)} µs/landing (${(1e6 / serverUsPerLanding).toFixed(0)}/s per Redis core)`,
    );
  }
  redis.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
