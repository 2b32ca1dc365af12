// Seals batches: deterministic from (seed, batch number), so a run can be reproduced and a
// prover's result checked against an independent computation. Each sealed batch's input goes
// to the core's store (batches/<n>/input) and its commitment into the batch record.
import {
  BatchInput,
  BatchShape,
  batchCommitment,
  cutIntoInstances,
  encodeBatchInput,
  generateBatch,
  summarize,
  tipCommitment,
} from '../lib/batch-execution';
import { Logger, loggerFor } from '../lib/logger';
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { basicCircuitIds, isBasicCircuitId } from '../topics/catalog';
import { BatchRecord, BatchRegistry } from './batch-registry';
import { Mutex } from './mutex';
import { CoreStore, batchKeys } from './store';

export interface BatchSourceOptions {
  seed: string;
  /** Version new batches are sealed under (`useVersion` switches it; `sealNext`/`sealUpTo` can override it per call). */
  version: ProtocolVersion;
  /** Approximate basic circuit instances per batch. */
  basicJobs: number;
  /** Basic circuit ids a batch may use. Default: every basic circuit id of the catalog. */
  circuitIds?: number[];
  /** Operations per basic instance (default of generateBatch when unset). */
  instanceCapacity?: number;
  logger?: Logger;
}

/** The batch that (seed, number) seals to, without storing anything. */
export function sealBatchInput(o: Pick<BatchSourceOptions, 'seed' | 'version' | 'basicJobs' | 'circuitIds' | 'instanceCapacity'>, n: number): BatchInput {
  const shape: BatchShape = { basicJobs: o.basicJobs, circuitIds: o.circuitIds ?? basicCircuitIds() };
  if (o.instanceCapacity !== undefined) shape.instanceCapacity = o.instanceCapacity;
  return generateBatch(o.version, n, o.seed, shape);
}

export interface SealOptions {
  /** Seal under this version instead of the current sealing version; the registry must serve it. */
  version?: ProtocolVersion;
}

export class BatchSource {
  private readonly mutex = new Mutex();
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  private current: ProtocolVersion;
  readonly circuitIds: number[];

  constructor(
    private readonly store: CoreStore,
    private readonly registry: BatchRegistry,
    private readonly options: BatchSourceOptions,
  ) {
    if (!Number.isInteger(options.basicJobs) || options.basicJobs < 1) throw new Error(`basic jobs per batch must be >= 1, got ${options.basicJobs}`);
    this.circuitIds = options.circuitIds ?? basicCircuitIds();
    if (this.circuitIds.length === 0) throw new Error('a batch needs at least one basic circuit id');
    const unknown = this.circuitIds.filter((id) => !isBasicCircuitId(id));
    if (unknown.length > 0) throw new Error(`unknown basic circuit id(s) ${unknown.join(', ')}`);
    if (new Set(this.circuitIds).size !== this.circuitIds.length) throw new Error('basic circuit ids repeat');
    this.log = options.logger ?? loggerFor('core.batch-source');
    this.current = { minor: options.version.minor, patch: options.version.patch };
  }

  /** The version new batches are sealed under. */
  get version(): ProtocolVersion {
    return { ...this.current };
  }

  /**
   * Switches the version later batches (including the periodic ones) are sealed under: the
   * moment of a protocol upgrade. Batches already sealed keep their version. The registry must
   * serve `version`, or no prover could be handed the new batches.
   */
  useVersion(version: ProtocolVersion): void {
    this.checkServed(version);
    if (!sameVersion(version, this.current)) this.log.info({ from: formatVersion(this.current), to: formatVersion(version) }, 'sealing version switched');
    this.current = { minor: version.minor, patch: version.patch };
  }

  /** Seals the batch after the highest recorded one; returns its record. */
  sealNext(options: SealOptions = {}): Promise<BatchRecord> {
    const version = this.versionFor(options);
    return this.mutex.runExclusive(() => this.seal(this.registry.highest() + 1, version));
  }

  /** Seals batches until batch `count` exists (no-op when it does: a restart does not reseal). */
  sealUpTo(count: number, options: SealOptions = {}): Promise<BatchRecord[]> {
    const version = this.versionFor(options);
    return this.mutex.runExclusive(async () => {
      const out: BatchRecord[] = [];
      for (let n = this.registry.highest() + 1; n <= count; n++) out.push(await this.seal(n, version));
      return out;
    });
  }

  /** Seals one batch every `everyMs`, up to batch `max` when given. */
  start(everyMs: number, max?: number): void {
    if (this.timer) return;
    if (!(everyMs > 0)) throw new Error(`seal interval must be > 0 ms, got ${everyMs}`);
    const reached = () => max !== undefined && this.registry.highest() >= max;
    this.timer = setInterval(() => {
      if (reached()) return this.stop();
      // The limit is checked again under the mutex: ticks can queue up behind a slow seal.
      this.mutex
        .runExclusive(() => (reached() ? null : this.seal(this.registry.highest() + 1, this.current)))
        .catch((e: Error) => this.log.error({ err: e }, 'sealing a batch failed'));
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Waits for a seal under way to finish. */
  async idle(): Promise<void> {
    await this.mutex.runExclusive(() => undefined);
  }

  private versionFor(options: SealOptions): ProtocolVersion {
    if (options.version === undefined) return this.current;
    this.checkServed(options.version);
    return { minor: options.version.minor, patch: options.version.patch };
  }

  private checkServed(version: ProtocolVersion): void {
    if (!this.registry.serves(version)) {
      throw new Error(`cannot seal under ${formatVersion(version)}: the core does not accept it (${this.registry.servedVersions.map(formatVersion).join(', ')})`);
    }
  }

  private async seal(n: number, version: ProtocolVersion): Promise<BatchRecord> {
    const input = sealBatchInput({ ...this.options, version, circuitIds: this.circuitIds }, n);
    const bytes = encodeBatchInput(input);
    const cut = cutIntoInstances(input);
    const instances: Record<string, number> = {};
    for (const [id, list] of cut) instances[String(id)] = list.length;
    // commitmentOfBatch(input), reusing the cut.
    const commitment = batchCommitment(input.protocolVersion, n, tipCommitment(summarize(input, cut)));
    // Input first: a record never points at a missing input. A crash in between leaves an
    // input without a record, which the next seal of `n` overwrites with the same bytes.
    await this.store.put(batchKeys.input(n), bytes);
    const rec = await this.registry.addSealed({
      batch_number: n,
      protocol_version: version,
      commitment: commitment.toString('hex'),
      seed: this.options.seed,
      input_key: batchKeys.input(n),
      input_bytes: bytes.length,
      instances,
    });
    this.log.info(
      { batch: n, version: formatVersion(version), ops: input.ops.length, types: Object.keys(instances).length },
      'sealed batch',
    );
    return rec;
  }
}
