// Batch records of the core, persisted in the core's store (batches/<n>/record.json) and
// mirrored in memory. Every change is written to the store before it is applied in memory, and
// all changes go through one in-process mutex, so a batch is never handed out to two callers at
// once and a restarted core reloads exactly what was acknowledged.
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { Mutex } from './mutex';
import { CoreStore, batchKeys } from './store';

export type BatchState = 'sealed' | 'picked' | 'proven';

export interface Lease {
  picked_by: string;
  /** ISO-8601 times. */
  picked_at: string;
  lease_until: string;
}

export interface Rejection {
  reason: string;
  at: string;
  prover_id: string | null;
  proof_digest: string | null;
}

export interface BatchRecord {
  batch_number: number;
  protocol_version: ProtocolVersion;
  state: BatchState;
  /** Hex batch commitment (commitmentOfBatch of the sealed input). */
  commitment: string;
  sealed_at: string;
  seed: string;
  input_key: string;
  input_bytes: number;
  /** Basic circuit instances per basic circuit id present in the batch. */
  instances: Record<string, number>;
  /** The current or last lease; null while never picked or after a rejection released it. */
  lease: Lease | null;
  /** How many times the batch was handed out. */
  picks: number;
  proven_at: string | null;
  proven_by: string | null;
  proof_digest: string | null;
  proof_key: string | null;
  rejections: Rejection[];
}

export type NewBatch = Pick<
  BatchRecord,
  'batch_number' | 'protocol_version' | 'commitment' | 'seed' | 'input_key' | 'input_bytes' | 'instances'
>;

export interface PickRequest {
  proverId: string;
  /** Only batches of these versions; undefined means any version the registry serves. */
  versions?: ProtocolVersion[];
}

export type ProvenOutcome =
  | { outcome: 'accepted'; record: BatchRecord }
  | { outcome: 'already_proven'; record: BatchRecord }
  | { outcome: 'conflict'; record: BatchRecord };

export interface RegistrySummary {
  total: number;
  counts: Record<BatchState, number>;
  /** Picked batches whose lease has run out (counted under `picked`). */
  expired_leases: number;
  oldest_unproven: number | null;
  newest: number | null;
}

export class UnknownBatchError extends Error {
  override name = 'UnknownBatchError';
  constructor(readonly batchNumber: number) {
    super(`unknown batch ${batchNumber}`);
  }
}

export class RegistryCorruptError extends Error {
  override name = 'RegistryCorruptError';
}

export interface RegistryOptions {
  leaseMs: number;
  /** Versions the core hands out and accepts proofs of; batches of other versions stay put. */
  servedVersions: ProtocolVersion[];
  now?: () => number;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class BatchRegistry {
  private readonly records = new Map<number, BatchRecord>();
  private readonly mutex = new Mutex();
  readonly leaseMs: number;
  readonly servedVersions: ProtocolVersion[];
  private readonly now: () => number;

  private constructor(
    private readonly store: CoreStore,
    options: RegistryOptions,
  ) {
    if (!Number.isFinite(options.leaseMs) || options.leaseMs <= 0) throw new Error(`lease must be > 0 ms, got ${options.leaseMs}`);
    if (options.servedVersions.length === 0) throw new Error('the registry needs at least one served protocol version');
    this.leaseMs = options.leaseMs;
    this.servedVersions = options.servedVersions.map((v) => ({ minor: v.minor, patch: v.patch }));
    this.now = options.now ?? Date.now;
  }

  /** Opens the registry on `store`, reloading every batch record found there. */
  static async open(store: CoreStore, options: RegistryOptions): Promise<BatchRegistry> {
    const r = new BatchRegistry(store, options);
    await r.reload();
    return r;
  }

  private async reload(): Promise<void> {
    const keys = (await this.store.list(batchKeys.prefix)).filter((k) => /^batches\/\d+\/record\.json$/.test(k));
    for (const key of keys) {
      const n = Number(key.split('/')[1]);
      let rec: BatchRecord;
      try {
        rec = JSON.parse((await this.store.get(key)).toString('utf8')) as BatchRecord;
      } catch (e) {
        throw new RegistryCorruptError(`cannot read batch record ${key}: ${(e as Error).message}`);
      }
      if (rec.batch_number !== n || !['sealed', 'picked', 'proven'].includes(rec.state) || typeof rec.commitment !== 'string') {
        throw new RegistryCorruptError(`batch record ${key} is not a record of batch ${n}`);
      }
      this.records.set(n, rec);
    }
  }

  private async write(rec: BatchRecord): Promise<void> {
    await this.store.put(batchKeys.record(rec.batch_number), Buffer.from(JSON.stringify(rec, null, 2) + '\n'));
    this.records.set(rec.batch_number, rec);
  }

  private iso(ms: number = this.now()): string {
    return new Date(ms).toISOString();
  }

  serves(v: ProtocolVersion): boolean {
    return this.servedVersions.some((s) => sameVersion(s, v));
  }

  /** A picked batch whose lease has run out is free to hand out again. */
  leaseExpired(rec: BatchRecord, now: number = this.now()): boolean {
    return rec.state === 'picked' && (rec.lease === null || Date.parse(rec.lease.lease_until) <= now);
  }

  /** Copy of the record, or undefined. */
  get(n: number): BatchRecord | undefined {
    const r = this.records.get(n);
    return r && clone(r);
  }

  has(n: number): boolean {
    return this.records.has(n);
  }

  /** Copies of all records, ascending by batch number. */
  list(): BatchRecord[] {
    return this.numbers().map((n) => clone(this.records.get(n)!));
  }

  private numbers(): number[] {
    return [...this.records.keys()].sort((a, b) => a - b);
  }

  /** Highest batch number recorded, 0 when none. */
  highest(): number {
    let max = 0;
    for (const n of this.records.keys()) if (n > max) max = n;
    return max;
  }

  summary(): RegistrySummary {
    const now = this.now();
    const counts: Record<BatchState, number> = { sealed: 0, picked: 0, proven: 0 };
    let expired = 0;
    let oldest: number | null = null;
    let newest: number | null = null;
    for (const n of this.numbers()) {
      const r = this.records.get(n)!;
      counts[r.state]++;
      if (this.leaseExpired(r, now)) expired++;
      if (r.state !== 'proven' && oldest === null) oldest = n;
      newest = n;
    }
    return { total: this.records.size, counts, expired_leases: expired, oldest_unproven: oldest, newest };
  }

  /** Records a newly sealed batch. Its input must already be in the store. */
  addSealed(b: NewBatch): Promise<BatchRecord> {
    return this.mutex.runExclusive(async () => {
      if (this.records.has(b.batch_number)) throw new Error(`batch ${b.batch_number} is already recorded`);
      const rec: BatchRecord = {
        batch_number: b.batch_number,
        protocol_version: { minor: b.protocol_version.minor, patch: b.protocol_version.patch },
        state: 'sealed',
        commitment: b.commitment,
        sealed_at: this.iso(),
        seed: b.seed,
        input_key: b.input_key,
        input_bytes: b.input_bytes,
        instances: { ...b.instances },
        lease: null,
        picks: 0,
        proven_at: null,
        proven_by: null,
        proof_digest: null,
        proof_key: null,
        rejections: [],
      };
      await this.write(rec);
      return clone(rec);
    });
  }

  /**
   * Locks and returns the next batch to prove: the lowest-numbered batch that is sealed, or
   * picked with an expired lease, of a version the registry serves (and, when given, one of
   * `versions`). Returns null when there is none. Never hands one batch to two callers: the
   * whole choose-and-lock runs under the registry's mutex.
   */
  pickNext(req: PickRequest): Promise<BatchRecord | null> {
    return this.mutex.runExclusive(async () => {
      const now = this.now();
      for (const n of this.numbers()) {
        const r = this.records.get(n)!;
        if (r.state === 'proven') continue;
        if (r.state === 'picked' && !this.leaseExpired(r, now)) continue;
        if (!this.serves(r.protocol_version)) continue;
        if (req.versions && !req.versions.some((v) => sameVersion(v, r.protocol_version))) continue;
        const next: BatchRecord = {
          ...clone(r),
          state: 'picked',
          lease: { picked_by: req.proverId, picked_at: this.iso(now), lease_until: this.iso(now + this.leaseMs) },
          picks: r.picks + 1,
        };
        await this.write(next);
        return clone(next);
      }
      return null;
    });
  }

  /** Gives a picked batch back at once (e.g. the core could not load its input). */
  release(n: number, proverId: string): Promise<void> {
    return this.mutex.runExclusive(async () => {
      const r = this.records.get(n);
      if (!r || r.state !== 'picked' || r.lease?.picked_by !== proverId) return;
      await this.write({ ...clone(r), state: 'sealed', lease: null });
    });
  }

  /**
   * Records a rejected proof. An unproven batch goes back to `sealed` (its lease is dropped), so
   * it is handed out again at once; a proven batch keeps its state.
   */
  recordRejection(n: number, reason: string, proverId: string | null, proofDigest: string | null): Promise<BatchRecord> {
    return this.mutex.runExclusive(async () => {
      const r = this.records.get(n);
      if (!r) throw new UnknownBatchError(n);
      const next = clone(r);
      next.rejections.push({ reason, at: this.iso(), prover_id: proverId, proof_digest: proofDigest });
      if (next.state !== 'proven') {
        next.state = 'sealed';
        next.lease = null;
      }
      await this.write(next);
      return clone(next);
    });
  }

  /**
   * Marks the batch proven by a proof already checked. `saveProof` stores the proof and returns
   * its key; it runs under the mutex, only when the batch is not proven yet, so a stored proof
   * always matches the record. A second call with the same proof digest is `already_proven`;
   * with another digest, `conflict` (nothing is written in either case).
   */
  markProven(n: number, proofDigest: string, proverId: string | null, saveProof: () => Promise<string>): Promise<ProvenOutcome> {
    return this.mutex.runExclusive(async (): Promise<ProvenOutcome> => {
      const r = this.records.get(n);
      if (!r) throw new UnknownBatchError(n);
      if (r.state === 'proven') {
        return { outcome: r.proof_digest === proofDigest ? 'already_proven' : 'conflict', record: clone(r) };
      }
      const proofKey = await saveProof();
      const next: BatchRecord = {
        ...clone(r),
        state: 'proven',
        proven_at: this.iso(),
        proven_by: proverId,
        proof_digest: proofDigest,
        proof_key: proofKey,
      };
      await this.write(next);
      return { outcome: 'accepted', record: clone(next) };
    });
  }

  describe(r: BatchRecord): string {
    return `batch ${r.batch_number} (${formatVersion(r.protocol_version)})`;
  }
}
