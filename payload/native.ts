// The `native` payload: real recursive proofs (plonky2, in the native-prover addon), with the
// same structure as the `digest` payload. Round 0 proves a basic circuit instance, leaf and node
// verify their children in-circuit and check their chaining, the recursion tip verifies one
// final node proof per type, the scheduler binds the batch, compression re-proves the scheduler
// proof into a smaller final proof. What the circuits prove and what is checked outside them is
// in docs/native-prover.md.
import { createHash } from 'node:crypto';
import {
  BatchFormatError,
  batchCommitment,
  decodeInstanceWitness,
  initialState,
  tipCommitment,
} from '../lib/batch-execution';
import { sha256 } from '../lib/hash';
import { ProtocolVersion, formatVersion } from '../lib/protocol-version';
import { CircuitParams, NativeProverAddon, VerificationKey, loadNativeProver } from '../native-prover/binding';
import {
  AggregationRound,
  basicCircuitIds,
  basicIdForLeaf,
  isLeafCircuitId,
  leafIdForBasic,
} from '../topics/catalog';
import { DEFAULT_GEOMETRY } from '../topics/geometry';
import { ChildProof, JobCoordinates, ProofPayload, ProofRejectedError, VerifyResult, WitnessInput } from './payload';
import { assertChildPlacement, describeCoordinates, sameCoordinates } from './coordinates';

export interface NativePayloadOptions {
  /** Basic proofs per leaf job; must be the pipeline's geometry (default 32). */
  leafArity?: number;
  /** Proofs per node job (default 32). */
  nodeArity?: number;
  /** Circuit types the recursion tip takes (default 20). */
  tipCapacity?: number;
  /** Operations per basic instance the basic circuits take (default 8). */
  instanceCapacity?: number;
  /** Bytes per operation the basic circuits take (default 64). */
  maxOpBytes?: number;
  /** The addon (default: native-prover/index.node). */
  addon?: NativeProverAddon;
}

// ---------------------------------------------------------------------------------------------
// Formats (mirrored in native-prover/src/prover.rs)

const WITNESS_MAGIC = Buffer.from('ZKNW');
const VECTOR_MAGIC = Buffer.from('ZKNV');
const PROOF_MAGIC = Buffer.from('ZKNP');
const PROOF_FORMAT = 1;
const WITNESS_HEADER = 4 + 1 + 4 + 4 + 8 + 4 + 4 + 4;

/** Public input layout (native-prover/src/circuits.rs). */
export const PI = {
  minor: 0,
  patch: 1,
  batch: 2,
  round: 3,
  circuit: 4,
  depth: 5,
  seq: 6,
  count: 7,
  stateIn: 8,
  stateOut: 16,
  trace: 24,
  numTypes: 8,
  slots: 9,
  slotLength: 18,
} as const;

export type NativeWitnessBody =
  | { kind: 'basic'; stateIn: Buffer; stateOut: Buffer; ops: Buffer[] }
  | { kind: 'aggregate'; children: Buffer[] };

function writeHeader(magic: Buffer, job: JobCoordinates): Buffer {
  const h = Buffer.alloc(WITNESS_HEADER);
  let o = magic.copy(h, 0);
  o = h.writeUInt8(job.round, o);
  o = h.writeUInt32BE(job.protocolVersion.minor, o);
  o = h.writeUInt32BE(job.protocolVersion.patch, o);
  o = h.writeBigUInt64BE(BigInt(job.batchNumber), o);
  o = h.writeUInt32BE(job.circuitId, o);
  o = h.writeUInt32BE(job.depth, o);
  h.writeUInt32BE(job.sequence, o);
  return h;
}

/** The job witness the addon's witness vector generation reads. */
export function encodeNativeWitness(job: JobCoordinates, body: NativeWitnessBody): Buffer {
  const parts = [writeHeader(WITNESS_MAGIC, job)];
  if (body.kind === 'basic') {
    const n = Buffer.alloc(2);
    n.writeUInt16BE(body.ops.length, 0);
    parts.push(body.stateIn, body.stateOut, n);
    for (const op of body.ops) {
      const l = Buffer.alloc(2);
      l.writeUInt16BE(op.length, 0);
      parts.push(l, op);
    }
  } else {
    const n = Buffer.alloc(2);
    n.writeUInt16BE(body.children.length, 0);
    parts.push(n);
    for (const c of body.children) {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(c.length, 0);
      parts.push(l, c);
    }
  }
  return Buffer.concat(parts);
}

function witnessCoordinates(witness: Buffer): JobCoordinates {
  if (witness.length < WITNESS_HEADER || !witness.subarray(0, 4).equals(WITNESS_MAGIC)) {
    throw new ProofRejectedError('not a native witness: bad magic or length');
  }
  return {
    round: witness.readUInt8(4),
    protocolVersion: { minor: witness.readUInt32BE(5), patch: witness.readUInt32BE(9) },
    batchNumber: Number(witness.readBigUInt64BE(13)),
    circuitId: witness.readUInt32BE(21),
    depth: witness.readUInt32BE(25),
    sequence: witness.readUInt32BE(29),
  };
}

export interface NativeProofHeader {
  round: number;
  circuitId: number;
  publicInputs: bigint[];
}

/** Reads a proof's header and public inputs (no verification). */
export function readProofHeader(proof: Buffer): NativeProofHeader {
  if (proof.length < 12 || !proof.subarray(0, 4).equals(PROOF_MAGIC) || proof.readUInt8(4) !== PROOF_FORMAT) {
    throw new ProofRejectedError('not a native proof: bad magic, format or length');
  }
  const round = proof.readUInt8(5);
  const circuitId = proof.readUInt32BE(6);
  const n = proof.readUInt16BE(10);
  if (proof.length < 12 + 8 * n) throw new ProofRejectedError('native proof truncated in its public inputs');
  const publicInputs: bigint[] = [];
  for (let i = 0; i < n; i++) publicInputs.push(proof.readBigUInt64BE(12 + 8 * i));
  return { round, circuitId, publicInputs };
}

/** The statement of a basic, leaf or node proof. */
export interface ChainStatement extends JobCoordinates {
  count: number;
  stateIn: Buffer;
  stateOut: Buffer;
  /** Poseidon commitment to every operation covered, 32 bytes. */
  trace: Buffer;
}

export interface TypeSlot {
  leafCircuitId: number;
  basicCircuitId: number;
  instances: number;
  initialState: Buffer;
  finalState: Buffer;
}

/** The statement of a tip, scheduler or compression proof. */
export interface TopStatement extends JobCoordinates {
  count: number;
  types: TypeSlot[];
  /** Poseidon commitments, 32 bytes each (the batch one is zeros in a tip proof). */
  nativeTipCommitment: Buffer;
  nativeBatchCommitment: Buffer;
}

function num(pis: bigint[], i: number): number {
  const v = pis[i];
  if (v === undefined) throw new ProofRejectedError(`native proof has no public input ${i}`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProofRejectedError(`public input ${i} out of range`);
  return Number(v);
}

function words(pis: bigint[], at: number, n: number, bits: number): Buffer {
  const b = Buffer.alloc((n * bits) / 8);
  for (let i = 0; i < n; i++) {
    const v = pis[at + i];
    if (v === undefined || v >= 1n << BigInt(bits)) throw new ProofRejectedError(`public input ${at + i} is not a ${bits}-bit word`);
    if (bits === 32) b.writeUInt32BE(Number(v), 4 * i);
    else b.writeBigUInt64BE(v, 8 * i);
  }
  return b;
}

function coordinatesOf(pis: bigint[]): JobCoordinates {
  return {
    protocolVersion: { minor: num(pis, PI.minor), patch: num(pis, PI.patch) },
    batchNumber: num(pis, PI.batch),
    round: num(pis, PI.round),
    circuitId: num(pis, PI.circuit),
    depth: num(pis, PI.depth),
    sequence: num(pis, PI.seq),
  };
}

export function chainStatement(proof: Buffer): ChainStatement {
  const { publicInputs: pis } = readProofHeader(proof);
  if (pis.length < 28) throw new ProofRejectedError('not a basic, leaf or node proof');
  return {
    ...coordinatesOf(pis),
    count: num(pis, PI.count),
    stateIn: words(pis, PI.stateIn, 8, 32),
    stateOut: words(pis, PI.stateOut, 8, 32),
    trace: words(pis, PI.trace, 4, 64),
  };
}

export function topStatement(proof: Buffer): TopStatement {
  const { publicInputs: pis } = readProofHeader(proof);
  const capacity = (pis.length - PI.slots - 8) / PI.slotLength;
  if (!Number.isInteger(capacity) || capacity < 1) throw new ProofRejectedError('not a tip, scheduler or compression proof');
  const numTypes = num(pis, PI.numTypes);
  if (numTypes < 1 || numTypes > capacity) throw new ProofRejectedError(`proof claims ${numTypes} circuit types`);
  const types: TypeSlot[] = [];
  for (let i = 0; i < numTypes; i++) {
    const at = PI.slots + i * PI.slotLength;
    const leafCircuitId = num(pis, at);
    if (!isLeafCircuitId(leafCircuitId)) throw new ProofRejectedError(`proof names unknown leaf circuit ${leafCircuitId}`);
    types.push({
      leafCircuitId,
      basicCircuitId: basicIdForLeaf(leafCircuitId),
      instances: num(pis, at + 1),
      initialState: words(pis, at + 2, 8, 32),
      finalState: words(pis, at + 10, 8, 32),
    });
  }
  const end = PI.slots + capacity * PI.slotLength;
  return {
    ...coordinatesOf(pis),
    count: num(pis, PI.count),
    types,
    nativeTipCommitment: words(pis, end, 4, 64),
    nativeBatchCommitment: words(pis, end + 4, 4, 64),
  };
}



// ---------------------------------------------------------------------------------------------

export class NativePayload implements ProofPayload {
  readonly name = 'native';
  private readonly addon: NativeProverAddon;
  private readonly geometry: Omit<CircuitParams, 'minor' | 'patch'>;
  private readonly keyHashes = new Map<string, string>();

  constructor(options: NativePayloadOptions = {}) {
    this.addon = options.addon ?? loadNativeProver();
    this.geometry = {
      leafArity: options.leafArity ?? DEFAULT_GEOMETRY.leafArity,
      nodeArity: options.nodeArity ?? DEFAULT_GEOMETRY.nodeArity,
      tipCapacity: options.tipCapacity ?? DEFAULT_GEOMETRY.tipCapacity,
      instanceCapacity: options.instanceCapacity ?? 8,
      maxOpBytes: options.maxOpBytes ?? 64,
    };
  }

  /** The circuit set used for protocol version `v`. */
  params(v: ProtocolVersion): CircuitParams {
    return { minor: v.minor, patch: v.patch, ...this.geometry };
  }

  /** Builds every circuit of version `v` off the event loop (otherwise each is built on first use). */
  async prepare(v: ProtocolVersion): Promise<VerificationKey[]> {
    const keys = await this.addon.verificationKeys(this.params(v));
    this.rememberKeys(v, keys);
    return keys;
  }

  /** Blocks while building the circuits the first time for `v`; call `prepare(v)` first to avoid that. */
  verificationKeysHash(v: ProtocolVersion): string {
    return this.keyHashes.get(formatVersion(v)) ?? this.rememberKeys(v, this.addon.verificationKeysSync(this.params(v)));
  }

  private rememberKeys(v: ProtocolVersion, keys: VerificationKey[]): string {
    const h = sha256('zkp/native-vks', JSON.stringify(this.params(v)), ...keys.map((k) => `${k.level}=${k.digest}`)).toString('hex');
    this.keyHashes.set(formatVersion(v), h);
    return h;
  }

  async generateWitness(job: JobCoordinates, input: WitnessInput): Promise<Buffer> {
    if (job.round === AggregationRound.BasicCircuits) {
      if (input.kind !== 'basic') throw new ProofRejectedError('a basic job takes a circuit witness');
      let w;
      try {
        w = decodeInstanceWitness(input.witness);
      } catch (e) {
        if (e instanceof BatchFormatError) throw new ProofRejectedError(e.message);
        throw e;
      }
      if (w.circuitId !== job.circuitId || w.sequence !== job.sequence) {
        throw new ProofRejectedError(`witness is for c${w.circuitId} s${w.sequence}, not ${describeCoordinates(job)}`);
      }
      if (w.ops.length > this.geometry.instanceCapacity) {
        throw new ProofRejectedError(`instance has ${w.ops.length} operations, the basic circuits take ${this.geometry.instanceCapacity}`);
      }
      const long = w.ops.find((op) => op.length > this.geometry.maxOpBytes);
      if (long) throw new ProofRejectedError(`operation of ${long.length} bytes, the basic circuits take ${this.geometry.maxOpBytes}`);
      // stateOut is the SHA-256 chain of lib/batch-execution, computed here (outside the circuit).
      return encodeNativeWitness(job, { kind: 'basic', stateIn: w.stateIn, stateOut: w.stateOut, ops: w.ops });
    }
    if (input.kind !== 'aggregate' || input.children.length === 0) {
      throw new ProofRejectedError(`an aggregation job (${describeCoordinates(job)}) takes at least one child proof`);
    }
    for (const child of input.children) await this.checkChild(job, child);
    if (job.round === AggregationRound.LeafAggregation || job.round === AggregationRound.NodeAggregation) {
      const s = input.children.map((c) => chainStatement(c.proof));
      for (let i = 1; i < s.length; i++) {
        if (s[i].sequence !== s[i - 1].sequence + 1) throw new ProofRejectedError(`children of ${describeCoordinates(job)} are not consecutive`);
        if (!s[i].stateIn.equals(s[i - 1].stateOut)) throw new ProofRejectedError(`children of ${describeCoordinates(job)} do not chain at s${s[i].sequence}`);
      }
    }
    if (job.round === AggregationRound.RecursionTip) {
      const ids = input.children.map((c) => c.coordinates.circuitId);
      for (let i = 1; i < ids.length; i++) {
        if (ids[i] <= ids[i - 1]) throw new ProofRejectedError('recursion tip takes one final node proof per type, in ascending leaf id order');
      }
      for (const c of input.children) {
        const s = chainStatement(c.proof);
        if (!s.stateIn.equals(initialState(job.protocolVersion, job.batchNumber, basicIdForLeaf(s.circuitId)))) {
          throw new ProofRejectedError(`final node proof of c${s.circuitId} does not start at the type's initial state`);
        }
      }
    }
    if ((job.round === AggregationRound.Scheduler || job.round === AggregationRound.Compression) && input.children.length !== 1) {
      throw new ProofRejectedError(`${describeCoordinates(job)} takes exactly one child, got ${input.children.length}`);
    }
    return encodeNativeWitness(job, { kind: 'aggregate', children: input.children.map((c) => c.proof) });
  }

  async generateWitnessVector(job: JobCoordinates, witness: Buffer): Promise<Buffer> {
    const c = witnessCoordinates(witness);
    if (!sameCoordinates(c, job)) throw new ProofRejectedError(`witness is for ${describeCoordinates(c)}, not ${describeCoordinates(job)}`);
    try {
      return await this.addon.witnessVector(this.params(job.protocolVersion), witness);
    } catch (e) {
      throw new ProofRejectedError(`${describeCoordinates(job)}: ${(e as Error).message}`);
    }
  }

  async prove(job: JobCoordinates, witnessVector: Buffer): Promise<Buffer> {
    if (witnessVector.length < 5 || !witnessVector.subarray(0, 4).equals(VECTOR_MAGIC) || witnessVector.readUInt8(4) !== job.round) {
      throw new ProofRejectedError(`not a witness vector of round ${job.round}`);
    }
    return this.addon.prove(this.params(job.protocolVersion), witnessVector);
  }

  async verify(job: JobCoordinates, proof: Buffer): Promise<VerifyResult> {
    try {
      await this.check(job, proof);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
  }

  /** The batch commitment of lib/batch-execution, from the final proof's public inputs. */
  finalCommitment(proof: Buffer): Buffer {
    const s = topStatement(proof);
    const types = s.types.map((t) => ({ circuitId: t.basicCircuitId, instances: t.instances, finalState: t.finalState }));
    return batchCommitment(s.protocolVersion, s.batchNumber, tipCommitment(types));
  }

  /** The Poseidon batch commitment the scheduler circuit computes (docs/native-prover.md). */
  nativeCommitment(proof: Buffer): Buffer {
    return topStatement(proof).nativeBatchCommitment;
  }

  /**
   * Names the proven statement (round, circuit, public inputs), not the bytes: proving the same
   * job again gives the same statement but may give other bytes, because plonky2's
   * proof-of-work search runs in parallel and may settle on another nonce. Bytes that are not a
   * native proof are digested as they are.
   */
  proofDigest(proof: Buffer): string {
    let statement: Buffer;
    try {
      const h = readProofHeader(proof);
      statement = proof.subarray(0, 12 + 8 * h.publicInputs.length);
    } catch {
      statement = proof;
    }
    return createHash('sha256').update(statement).digest('hex').slice(0, 32);
  }

  /** Verifies `proof` for the place `job`: plonky2's verifier, the statement's coordinates, and the outside-circuit checks. */
  private async check(job: JobCoordinates, proof: Buffer): Promise<void> {
    const header = readProofHeader(proof);
    if (header.round !== job.round) throw new ProofRejectedError(`proof of round ${header.round}, expected ${describeCoordinates(job)}`);
    const claimed = coordinatesOf(header.publicInputs);
    if (!sameCoordinates(claimed, job)) throw new ProofRejectedError(`proof is for ${describeCoordinates(claimed)}, expected ${describeCoordinates(job)}`);
    const reason = await this.addon.verify(this.params(job.protocolVersion), job.round, job.circuitId, proof);
    if (reason !== null) throw new ProofRejectedError(`proof for ${describeCoordinates(job)} does not verify: ${reason}`);
    if (job.round >= AggregationRound.RecursionTip) {
      const s = topStatement(proof);
      for (const t of s.types) {
        if (!t.initialState.equals(initialState(job.protocolVersion, job.batchNumber, t.basicCircuitId))) {
          throw new ProofRejectedError(`proof for ${describeCoordinates(job)}: type c${t.basicCircuitId} does not start at its initial state`);
        }
      }
    }
  }

  /** A child must be made for its expected place, be of the level this job aggregates, and verify. */
  private async checkChild(job: JobCoordinates, child: ChildProof): Promise<void> {
    const c = child.coordinates;
    assertChildPlacement(job, c);
    await this.check(c, child.proof);
  }
}

/** Ids the TypeScript catalog and the circuits must agree on (checked by the tests). */
export function catalogPairs(): number[][] {
  return basicCircuitIds().map((b) => [b, leafIdForBasic(b)]);
}
