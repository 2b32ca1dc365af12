// Shared helpers of the aggregation tests: a Redis client on endpoints.redisUrl, unique
// batch-run keys, raw script calls, and cleanup of the batch-runs a test created.

import { randomBytes, randomInt } from 'node:crypto';
import Redis from 'ioredis';
import { endpoints } from '../../lib/endpoints';
import { aggregationKeys } from '../../aggregation/keys';
import { scriptSource, type ScriptName } from '../../aggregation/scripts';

export function connect(): Redis {
  return new Redis(endpoints.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 });
}

let seq = 0;
/** A batch-run key no other test run uses: a random protocol minor and patch, a counter. */
export function uniqueBatchRun(): string {
  seq += 1;
  return `v${randomInt(1000, 1_000_000)}.${randomBytes(3).readUIntBE(0, 3)}:b${seq}:run${Date.now()}`;
}

/** Runs one script file on its own (EVAL of its text), outside AggregationCounters. */
export function evalScript(
  redis: Redis,
  name: ScriptName,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  return redis.eval(scriptSource(name), keys.length, ...keys, ...args);
}

/** The six fixed keys of a batch-run, in script order. */
export function fixedKeys(batchRun: string): string[] {
  const k = aggregationKeys(batchRun);
  return [k.plan, k.meta, k.owner, k.emitted, k.first, k.last];
}

/** Every key that exists for a batch-run (SCAN on its hash-tagged prefix). */
export async function keysOf(redis: Redis, batchRun: string): Promise<string[]> {
  const { base } = aggregationKeys(batchRun);
  const pattern = base.replace(/[*?[\]\\]/g, (c) => `\\${c}`) + '*';
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

export function shuffle<T>(items: T[]): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export async function expectRejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a result');
}
