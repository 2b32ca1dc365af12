// Redis aggregation counters: a parent job is triggered exactly when the last of its
// children's proofs lands. See docs/aggregation.md for the key layout, the scripts and the
// crash-safety argument.

import type { ChainableCommander, Redis } from 'ioredis';
import { aggregationKeys, assertBatchRunKey } from './keys';
import { scriptSource, type ScriptName } from './scripts';

/** One parent group of a plan: the parent job and how many children it waits for. */
export interface GroupSpec {
  /** The parent job's id within the batch-run, e.g. `r1:c3:d0:s5` (opaque here). */
  parent: string;
  /** Number of children; members are 0 .. expected-1. */
  expected: number;
}

export interface RegisterResult {
  status: 'REGISTERED' | 'ALREADY_REGISTERED';
  groups: number;
}

export type LandStatus = 'WAITING' | 'TRIGGER' | 'ALREADY_TRIGGERED';

export interface LandResult {
  /**
   * WAITING: the group is not complete. TRIGGER: this member completed the group and owns
   * its trigger (a redelivery of it answers TRIGGER again): produce the parent job.
   * ALREADY_TRIGGERED: complete, and another member owns the trigger or the parent job is
   * already marked emitted (markEmitted): produce nothing.
   */
  status: LandStatus;
  landed: number;
  expected: number;
  /** The member that owns the trigger; null while WAITING. */
  owner: number | null;
}

export type AggregationErrorCode =
  | 'UNREGISTERED_BATCH'
  | 'UNREGISTERED_GROUP'
  | 'BAD_MEMBER'
  | 'MEMBER_OUT_OF_RANGE'
  | 'BAD_PLAN'
  | 'PLAN_CONFLICT'
  | 'NOT_TRIGGERED'
  | 'BAD_CALL'
  | 'NOT_REPLICATED';

/** A landing that was rejected inside a landMany call; the others are unaffected. */
export interface LandFailure {
  status: 'ERROR';
  code: AggregationErrorCode;
  message: string;
}

export type LandOutcome = LandResult | LandFailure;

/** One landing, addressed to its batch-run. */
export interface Landing {
  batchRunKey: string;
  parent: string;
  member: number;
}

export interface GroupProgress {
  parent: string;
  expected: number;
  landed: number;
  /** Complete and triggered are the same thing: the owner is set by the completing landing. */
  triggered: boolean;
  /** The member that completed the group, or null. */
  owner: number | null;
  /** The parent job is marked durably emitted (markEmitted). */
  emitted: boolean;
  /** Redis-clock ms of the first landing, or null when nothing landed. */
  firstLandingAt: number | null;
  /** Redis-clock ms of the last landing of a new member, or null. */
  lastLandingAt: number | null;
  /** now - (lastLandingAt ?? registeredAt): how long the group has made no progress. */
  idleMs: number;
  /** Members not landed yet; only when asked for, and only for incomplete groups. */
  missing?: number[];
}

export interface BatchProgress {
  batchRunKey: string;
  /** The Redis clock when the snapshot was taken (ms). */
  now: number;
  registeredAt: number;
  /** Remaining lifetime of the plan (ms). */
  ttlMs: number;
  total: number;
  triggered: number;
  /** Every group, sorted by parent id. */
  groups: GroupProgress[];
  /** The incomplete groups, sorted by parent id. */
  waiting: GroupProgress[];
}

export interface AggregationCountersOptions {
  /** Lifetime of a registered plan and all its counters. Default 7 days. */
  ttlSeconds?: number;
  /** Most landings per land_proofs_batch call in landMany. Default 500. */
  batchSize?: number;
  /**
   * When set, every land/landMany waits (WAIT) until that many replicas acknowledged the
   * writes, and fails with NOT_REPLICATED otherwise, so a failover cannot lose a landing
   * the caller then commits past.
   */
  durability?: { replicas: number; timeoutMs: number };
}

export class AggregationError extends Error {
  constructor(
    readonly code: AggregationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AggregationError';
  }
}

export const DEFAULT_TTL_SECONDS = 7 * 24 * 60 * 60;
const DEFAULT_BATCH_SIZE = 500;
const MAX_COUNT = 999_999_999; // the scripts accept at most 9 digits

const ERROR_CODES: readonly AggregationErrorCode[] = [
  'UNREGISTERED_BATCH',
  'UNREGISTERED_GROUP',
  'BAD_MEMBER',
  'MEMBER_OUT_OF_RANGE',
  'BAD_PLAN',
  'PLAN_CONFLICT',
  'NOT_TRIGGERED',
  'BAD_CALL',
  'NOT_REPLICATED',
];

/** The ioredis command name each script is defined under, and its fixed key count. */
const COMMANDS: Record<ScriptName, { command: string; numberOfKeys?: number }> = {
  register_plan: { command: 'aggRegisterPlan', numberOfKeys: 2 },
  land_proof: { command: 'aggLandProof', numberOfKeys: 7 },
  land_proofs_batch: { command: 'aggLandProofsBatch' }, // key count passed per call
  batch_progress: { command: 'aggBatchProgress', numberOfKeys: 6 },
  clear_batch: { command: 'aggClearBatch', numberOfKeys: 6 },
  mark_emitted: { command: 'aggMarkEmitted', numberOfKeys: 3 },
};

type Arg = string | number;
type ScriptCall<R> = (...args: Arg[]) => R;
interface ScriptCommands<R> {
  aggRegisterPlan: ScriptCall<R>;
  aggLandProof: ScriptCall<R>;
  aggLandProofsBatch: ScriptCall<R>;
  aggBatchProgress: ScriptCall<R>;
  aggClearBatch: ScriptCall<R>;
  aggMarkEmitted: ScriptCall<R>;
}

/** Clients whose commands are already defined (one definition per client, whatever the number of instances). */
const defined = new WeakSet<Redis>();

function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  for (const [name, { command, numberOfKeys }] of Object.entries(COMMANDS) as [
    ScriptName,
    (typeof COMMANDS)[ScriptName],
  ][]) {
    redis.defineCommand(command, { lua: scriptSource(name), numberOfKeys });
  }
  defined.add(redis);
}

/** Turns a script's error reply into an AggregationError when it carries one of our codes. */
function toAggregationError(err: unknown): unknown {
  if (err instanceof Error) {
    const code = err.message.split(' ', 1)[0] as AggregationErrorCode;
    if (ERROR_CODES.includes(code)) return new AggregationError(code, err.message);
  }
  return err;
}

function failure(message: string): LandFailure {
  const code = message.split(' ', 1)[0] as AggregationErrorCode;
  return { status: 'ERROR', code: ERROR_CODES.includes(code) ? code : 'BAD_CALL', message };
}

function toLandResult(status: string, landed: unknown, expected: unknown, owner: unknown): LandResult {
  if (status !== 'WAITING' && status !== 'TRIGGER' && status !== 'ALREADY_TRIGGERED') {
    throw new Error(`unexpected land status ${JSON.stringify(status)}`);
  }
  return {
    status,
    landed: Number(landed),
    expected: Number(expected),
    owner: owner === '' || owner == null ? null : Number(owner),
  };
}

function optionalNumber(v: unknown): number | null {
  return v === '' || v == null ? null : Number(v);
}

function memberArg(member: number): string {
  // Sent as written; the script rejects anything but a canonical integer (BAD_MEMBER).
  return String(member);
}

export function isLandFailure(o: LandOutcome): o is LandFailure {
  return o.status === 'ERROR';
}

export class AggregationCounters {
  private readonly redis: Redis;
  private readonly scripts: ScriptCommands<Promise<unknown>>;
  private readonly ttlMs: number;
  private readonly batchSize: number;
  private readonly durability?: { replicas: number; timeoutMs: number };

  constructor(redis: Redis, options: AggregationCountersOptions = {}) {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) {
      throw new RangeError(`ttlSeconds must be positive, got ${ttlSeconds}`);
    }
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (redis.options.keyPrefix) {
      // The scripts name group keys from the plan key, so a prefix would be applied to
      // some keys and not others.
      throw new RangeError('AggregationCounters needs a client without keyPrefix');
    }
    this.redis = redis;
    this.ttlMs = Math.round(ttlSeconds * 1000);
    this.batchSize = batchSize;
    this.durability = options.durability;
    defineScripts(redis);
    this.scripts = redis as unknown as ScriptCommands<Promise<unknown>>;
  }

  /**
   * Registers every parent group of one batch-run with its expected child count.
   * The same plan again is a no-op (ALREADY_REGISTERED); a different one throws PLAN_CONFLICT.
   */
  async registerPlan(
    batchRunKey: string,
    groups: readonly GroupSpec[],
    options: { ttlSeconds?: number } = {},
  ): Promise<RegisterResult> {
    const k = aggregationKeys(batchRunKey);
    if (groups.length === 0) throw new AggregationError('BAD_PLAN', 'BAD_PLAN a plan has at least one group');
    const args: Arg[] = [];
    for (const { parent, expected } of groups) {
      if (typeof parent !== 'string' || parent.length === 0) {
        throw new AggregationError('BAD_PLAN', `BAD_PLAN empty or non-string parent id ${JSON.stringify(parent)}`);
      }
      if (!Number.isSafeInteger(expected) || expected < 1 || expected > MAX_COUNT) {
        throw new AggregationError('BAD_PLAN', `BAD_PLAN group ${parent} expects ${expected} children`);
      }
      args.push(parent, String(expected));
    }
    const ttlMs = options.ttlSeconds === undefined ? this.ttlMs : Math.round(options.ttlSeconds * 1000);
    if (!(ttlMs > 0)) throw new RangeError(`ttlSeconds must be positive, got ${options.ttlSeconds}`);
    try {
      const [status, n] = (await this.scripts.aggRegisterPlan(k.plan, k.meta, String(ttlMs), ...args)) as [
        RegisterResult['status'],
        number,
      ];
      return { status, groups: Number(n) };
    } catch (err) {
      throw toAggregationError(err);
    }
  }

  /**
   * Records that the parent jobs of `parents` are durably emitted: a later redelivery of a
   * group's trigger owner then answers ALREADY_TRIGGERED. Call it only after the transaction
   * that produced the parent jobs committed. Returns how many were newly marked. Throws
   * UNREGISTERED_BATCH, UNREGISTERED_GROUP, or NOT_TRIGGERED for a group not complete.
   */
  async markEmitted(batchRunKey: string, parents: readonly string[]): Promise<number> {
    if (parents.length === 0) return 0;
    const k = aggregationKeys(batchRunKey);
    try {
      return Number(await this.scripts.aggMarkEmitted(k.plan, k.owner, k.emitted, ...parents));
    } catch (err) {
      throw toAggregationError(err);
    }
  }

  /** Records that child `member` of group `parent` landed. Throws AggregationError on a rejected landing. */
  async land(batchRunKey: string, parent: string, member: number): Promise<LandResult> {
    const k = aggregationKeys(batchRunKey);
    let reply: unknown[];
    try {
      reply = (await this.scripts.aggLandProof(
        k.plan, k.meta, k.owner, k.emitted, k.first, k.last, k.group(parent),
        parent, memberArg(member),
      )) as unknown[];
    } catch (err) {
      throw toAggregationError(err);
    }
    await this.awaitReplicas();
    return toLandResult(String(reply[0]), reply[1], reply[2], reply[3]);
  }

  /**
   * Lands many children in one round trip: one land_proofs_batch call per batch-run and
   * per `batchSize` landings, all in one pipeline. Outcomes come back in input order; a
   * rejected landing is a LandFailure in its slot and does not affect the others.
   */
  landMany(landings: readonly Landing[]): Promise<LandOutcome[]>;
  landMany(batchRunKey: string, landings: readonly { parent: string; member: number }[]): Promise<LandOutcome[]>;
  async landMany(
    a: string | readonly Landing[],
    b?: readonly { parent: string; member: number }[],
  ): Promise<LandOutcome[]> {
    const landings: readonly Landing[] =
      typeof a === 'string' ? (b ?? []).map((l) => ({ batchRunKey: a, parent: l.parent, member: l.member })) : a;
    if (landings.length === 0) return [];

    // Indices of the landings per batch-run, in input order.
    const byBatch = new Map<string, number[]>();
    for (let i = 0; i < landings.length; i++) {
      const key = landings[i].batchRunKey;
      assertBatchRunKey(key);
      let list = byBatch.get(key);
      if (!list) byBatch.set(key, (list = []));
      list.push(i);
    }

    const pipeline = this.redis.pipeline();
    const calls = pipeline as unknown as ScriptCommands<ChainableCommander>;
    const chunks: number[][] = [];
    for (const [batchRun, indices] of byBatch) {
      const k = aggregationKeys(batchRun);
      for (let from = 0; from < indices.length; from += this.batchSize) {
        const chunk = indices.slice(from, from + this.batchSize);
        const keys: Arg[] = [k.plan, k.meta, k.owner, k.emitted, k.first, k.last];
        const argv: Arg[] = [];
        for (const i of chunk) {
          keys.push(k.group(landings[i].parent));
          argv.push(landings[i].parent, memberArg(landings[i].member));
        }
        calls.aggLandProofsBatch(keys.length, ...keys, ...argv);
        chunks.push(chunk);
      }
    }
    if (this.durability) pipeline.wait(this.durability.replicas, this.durability.timeoutMs);
    const replies = (await pipeline.exec()) ?? [];

    const out: LandOutcome[] = new Array(landings.length);
    chunks.forEach((chunk, c) => {
      const [err, reply] = replies[c] ?? [new Error('no reply')];
      if (err) throw toAggregationError(err);
      const flat = reply as unknown[];
      chunk.forEach((i, j) => {
        const status = String(flat[4 * j]);
        out[i] =
          status === 'ERROR'
            ? failure(String(flat[4 * j + 3]))
            : toLandResult(status, flat[4 * j + 1], flat[4 * j + 2], flat[4 * j + 3]);
      });
    });
    if (this.durability) this.checkReplicas(replies[chunks.length]);
    return out;
  }

  /**
   * The same as landMany, but as a pipeline of single land_proof calls (one script call
   * per landing). Kept for comparison in bench/aggregation.ts and for callers that want
   * every landing as its own script run.
   */
  async landManyPipelined(landings: readonly Landing[]): Promise<LandOutcome[]> {
    if (landings.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const calls = pipeline as unknown as ScriptCommands<ChainableCommander>;
    for (const { batchRunKey, parent, member } of landings) {
      const k = aggregationKeys(batchRunKey);
      calls.aggLandProof(k.plan, k.meta, k.owner, k.emitted, k.first, k.last, k.group(parent), parent, memberArg(member));
    }
    if (this.durability) pipeline.wait(this.durability.replicas, this.durability.timeoutMs);
    const replies = (await pipeline.exec()) ?? [];
    const out = landings.map((_, i): LandOutcome => {
      const [err, reply] = replies[i] ?? [new Error('no reply')];
      if (err) {
        const e = toAggregationError(err);
        if (e instanceof AggregationError) return failure(e.message);
        throw e;
      }
      const r = reply as unknown[];
      return toLandResult(String(r[0]), r[1], r[2], r[3]);
    });
    if (this.durability) this.checkReplicas(replies[landings.length]);
    return out;
  }

  /**
   * A consistent snapshot of a batch-run's groups, or null when no plan is registered.
   * With `missing`, each incomplete group also lists the members not landed yet.
   */
  async progress(batchRunKey: string, options: { missing?: boolean } = {}): Promise<BatchProgress | null> {
    const k = aggregationKeys(batchRunKey);
    const r = (await this.scripts.aggBatchProgress(
      k.plan, k.meta, k.owner, k.emitted, k.first, k.last,
      options.missing ? '1' : '0',
    )) as unknown[];
    const now = Number(r[0]);
    if (Number(r[1]) === -2) return null;
    const registeredAt = Number(r[2]);
    const groups: GroupProgress[] = [];
    for (let i = 5; i < r.length; i += 8) {
      const expected = Number(r[i + 1]);
      const landed = Number(r[i + 2]);
      const lastLandingAt = optionalNumber(r[i + 6]);
      const g: GroupProgress = {
        parent: String(r[i]),
        expected,
        landed,
        triggered: r[i + 3] !== '' && r[i + 3] != null,
        owner: optionalNumber(r[i + 3]),
        emitted: Number(r[i + 4]) === 1,
        firstLandingAt: optionalNumber(r[i + 5]),
        lastLandingAt,
        idleMs: now - (lastLandingAt ?? registeredAt),
      };
      if (options.missing && landed < expected) {
        const list = String(r[i + 7]);
        g.missing = list === '' ? [] : list.split(',').map(Number);
      }
      groups.push(g);
    }
    groups.sort((x, y) => (x.parent < y.parent ? -1 : x.parent > y.parent ? 1 : 0));
    return {
      batchRunKey,
      now,
      registeredAt,
      ttlMs: Number(r[1]),
      total: groups.length,
      triggered: groups.filter((g) => g.triggered).length,
      groups,
      waiting: groups.filter((g) => !g.triggered),
    };
  }

  /** Deletes every key of the batch-run (replays, tests). Returns the number of keys deleted. */
  async clear(batchRunKey: string): Promise<number> {
    const k = aggregationKeys(batchRunKey);
    return Number(await this.scripts.aggClearBatch(k.plan, k.meta, k.owner, k.emitted, k.first, k.last));
  }

  private async awaitReplicas(): Promise<void> {
    if (!this.durability) return;
    this.checkReplicas([null, await this.redis.wait(this.durability.replicas, this.durability.timeoutMs)]);
  }

  private checkReplicas(reply: [Error | null, unknown] | undefined): void {
    if (!this.durability) return;
    const [err, acked] = reply ?? [new Error('no reply to WAIT')];
    if (err) throw err;
    if (Number(acked) < this.durability.replicas) {
      throw new AggregationError(
        'NOT_REPLICATED',
        `NOT_REPLICATED ${acked} of ${this.durability.replicas} replicas acknowledged within ${this.durability.timeoutMs} ms`,
      );
    }
  }
}
