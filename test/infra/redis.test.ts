// The project Redis (infra/bin/services up redis) answers over its protocol and runs Lua.
// These tests fail, not skip, when Redis is down.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { endpoints } from '../../lib/endpoints';

describe('infra: Redis', () => {
  let redis: Redis;
  const prefix = `infra-test:${Date.now().toString(36)}:${randomBytes(4).toString('hex')}`;

  before(async () => {
    redis = new Redis(endpoints.redisUrl, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null, // a down server is an error, never a wait
    });
    let lastError: unknown;
    redis.on('error', (err) => (lastError = err));
    try {
      await redis.connect();
    } catch (err) {
      throw new Error(
        `Redis at ${endpoints.redisUrl} is not reachable (${String(lastError ?? err)}); start it with: bash infra/bin/services up redis`,
      );
    }
  });

  after(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}:*`).catch(() => [] as string[]);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('connects to the configured endpoint and answers PING', async () => {
    expect(await redis.ping()).to.equal('PONG');
    const port = Number(new URL(endpoints.redisUrl).port || 6379);
    const info = await redis.info('server');
    expect(info).to.match(new RegExp(`tcp_port:${port}\\b`));
  });

  it('is Redis 7 or newer', async () => {
    const info = await redis.info('server');
    const m = /redis_version:(\d+)\./.exec(info);
    expect(m, 'redis_version in INFO server').to.not.equal(null);
    expect(Number(m![1])).to.be.at.least(7);
  });

  it('stores and reads keys', async () => {
    await redis.set(`${prefix}:k`, 'v', 'EX', 60);
    expect(await redis.get(`${prefix}:k`)).to.equal('v');
  });

  it('runs Lua with EVAL, atomically over several keys', async () => {
    const script = `
      local a = redis.call('INCRBY', KEYS[1], ARGV[1])
      local b = redis.call('HINCRBY', KEYS[2], 'n', ARGV[1])
      return {a, b, redis.call('TYPE', KEYS[2])['ok']}`;
    const first = (await redis.eval(script, 2, `${prefix}:counter`, `${prefix}:hash`, 5)) as unknown[];
    expect(first).to.deep.equal([5, 5, 'hash']);
    const second = (await redis.eval(script, 2, `${prefix}:counter`, `${prefix}:hash`, 2)) as unknown[];
    expect(second).to.deep.equal([7, 7, 'hash']);
  });

  it('caches scripts (SCRIPT LOAD + EVALSHA) and reports Lua errors', async () => {
    const sha = (await redis.script('LOAD', 'return ARGV[1] .. KEYS[1]')) as string;
    expect(sha).to.match(/^[0-9a-f]{40}$/);
    expect(await redis.evalsha(sha, 1, 'k', 'v-')).to.equal('v-k');
    let error: unknown;
    try {
      await redis.eval("return redis.call('NOSUCHCOMMAND')", 0);
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/unknown command|Unknown Redis command/i);
  });
});
