// The `digest` payload: every job's output is a hash commitment over its public inputs and its
// children, which the next level recomputes and checks. No zero knowledge; the structure
// (chaining of instances, one final proof per type, batch commitment) is the same as the real
// prover's, so the pipeline and the core exercise every check they do with real proofs.
import { createHash } from 'node:crypto';
import {
  applyOps,
  batchCommitment,
  decodeInstanceWitness,
  initialState,
  tipCommitment,
} from '../lib/batch-execution';
import { sha256 } from '../lib/hash';
import { ProtocolVersion } from '../lib/protocol-version';
import { AggregationRound, basicIdForLeaf } from '../topics/catalog';
import { ChildProof, JobCoordinates, ProofPayload, ProofRejectedError, VerifyResult, WitnessInput } from './payload';
import { assertChildPlacement, describeCoordinates, sameCoordinates } from './coordinates';

const MAGIC = Buffer.from('ZKPD');
const ZERO = Buffer.alloc(32);
/** magic, minor, patch, batch, round, circuit, depth, seq, count, stateIn, stateOut, extra */
const BODY_BYTES = 4 + 4 + 4 + 8 + 1 + 2 + 2 + 4 + 4 + 32 + 32 + 32;
export const DIGEST_PROOF_BYTES = BODY_BYTES + 32;

/** Public inputs of one digest proof. */
export interface DigestStatement extends JobCoordinates {
  /** Basic instances covered by this proof. */
  count: number;
  stateIn: Buffer;
  stateOut: Buffer;
  /** Level-specific: children root (leaf/node), tip commitment (tip), batch commitment (scheduler, compression). */
  extra: Buffer;
}

export function encodeStatement(s: DigestStatement): Buffer {
  const b = Buffer.alloc(BODY_BYTES);
  let o = MAGIC.copy(b, 0);
  o = b.writeUInt32BE(s.protocolVersion.minor, o);
  o = b.writeUInt32BE(s.protocolVersion.patch, o);
  o = b.writeBigUInt64BE(BigInt(s.batchNumber), o);
  o = b.writeUInt8(s.round, o);
  o = b.writeUInt16BE(s.circuitId, o);
  o = b.writeUInt16BE(s.depth, o);
  o = b.writeUInt32BE(s.sequence, o);
  o = b.writeUInt32BE(s.count, o);
  o += s.stateIn.copy(b, o);
  o += s.stateOut.copy(b, o);
  s.extra.copy(b, o);
  return b;
}

export function decodeStatement(body: Buffer): DigestStatement {
  if (body.length < BODY_BYTES || !body.subarray(0, 4).equals(MAGIC)) {
    throw new ProofRejectedError('not a digest proof: bad magic or length');
  }
  return {
    protocolVersion: { minor: body.readUInt32BE(4), patch: body.readUInt32BE(8) },
    batchNumber: Number(body.readBigUInt64BE(12)),
    round: body.readUInt8(20),
    circuitId: body.readUInt16BE(21),
    depth: body.readUInt16BE(23),
    sequence: body.readUInt32BE(25),
    count: body.readUInt32BE(29),
    stateIn: body.subarray(33, 65),
    stateOut: body.subarray(65, 97),
    extra: body.subarray(97, 129),
  };
}



export class DigestPayload implements ProofPayload {
  readonly name = 'digest';
  private readonly keys = new Map<string, Buffer>();

  /** The "verification key" of a level: a per-version, per-round secret-free domain separator. */
  private key(v: ProtocolVersion, round: number): Buffer {
    const id = `${v.minor}.${v.patch}.${round}`;
    let k = this.keys.get(id);
    if (!k) this.keys.set(id, (k = sha256('zkp/digest-vk', v.minor, v.patch, round)));
    return k;
  }

  async prepare(): Promise<void> {
    // Digest keys are hashes, made on first use.
  }

  verificationKeysHash(v: ProtocolVersion): string {
    const all = [0, 1, 2, 3, 4, 5].map((r) => this.key(v, r));
    return sha256('zkp/digest-vks', ...all).toString('hex');
  }

  async generateWitness(job: JobCoordinates, input: WitnessInput): Promise<Buffer> {
    return encodeStatement(this.statementFor(job, input));
  }

  async generateWitnessVector(job: JobCoordinates, witness: Buffer): Promise<Buffer> {
    const s = decodeStatement(witness);
    if (!sameCoordinates(s, job)) throw new ProofRejectedError(`witness is for ${describeCoordinates(s)}, not ${describeCoordinates(job)}`);
    return witness;
  }

  async prove(job: JobCoordinates, witnessVector: Buffer): Promise<Buffer> {
    const digest = sha256(this.key(job.protocolVersion, job.round), witnessVector);
    return Buffer.concat([witnessVector, digest]);
  }

  async verify(job: JobCoordinates, proof: Buffer): Promise<VerifyResult> {
    try {
      this.check(job, proof);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
  }

  finalCommitment(proof: Buffer): Buffer {
    return Buffer.from(decodeStatement(proof).extra);
  }

  proofDigest(proof: Buffer): string {
    return createHash('sha256').update(proof).digest('hex').slice(0, 32);
  }

  /** Checks a proof's digest under its level's key and that it was made for `job`; returns its statement. */
  private check(job: JobCoordinates, proof: Buffer): DigestStatement {
    if (proof.length !== DIGEST_PROOF_BYTES) throw new ProofRejectedError(`proof has ${proof.length} bytes, expected ${DIGEST_PROOF_BYTES}`);
    const s = decodeStatement(proof);
    if (!sameCoordinates(s, job)) throw new ProofRejectedError(`proof is for ${describeCoordinates(s)}, expected ${describeCoordinates(job)}`);
    const body = proof.subarray(0, BODY_BYTES);
    const expected = sha256(this.key(job.protocolVersion, job.round), body);
    if (!expected.equals(proof.subarray(BODY_BYTES))) throw new ProofRejectedError(`proof for ${describeCoordinates(job)} does not verify`);
    return s;
  }

  private statementFor(job: JobCoordinates, input: WitnessInput): DigestStatement {
    if (job.round === AggregationRound.BasicCircuits) {
      if (input.kind !== 'basic') throw new ProofRejectedError('a basic job takes a circuit witness');
      const w = decodeInstanceWitness(input.witness);
      if (w.circuitId !== job.circuitId || w.sequence !== job.sequence) {
        throw new ProofRejectedError(`witness is for c${w.circuitId} s${w.sequence}, not ${describeCoordinates(job)}`);
      }
      const stateOut = applyOps(w.stateIn, w.ops);
      return { ...job, count: 1, stateIn: w.stateIn, stateOut, extra: ZERO };
    }
    if (input.kind !== 'aggregate' || input.children.length === 0) {
      throw new ProofRejectedError(`an aggregation job (${describeCoordinates(job)}) takes at least one child proof`);
    }
    const children = input.children.map((c) => this.checkChild(job, c));
    const root = sha256('zkp/children', ...input.children.map((c) => c.proof.subarray(BODY_BYTES)));
    switch (job.round) {
      case AggregationRound.LeafAggregation:
      case AggregationRound.NodeAggregation:
        return this.chain(job, children, root);
      case AggregationRound.RecursionTip: {
        const types = children.map((c) => {
          const basicId = basicIdForLeaf(c.circuitId);
          if (!c.stateIn.equals(initialState(job.protocolVersion, job.batchNumber, basicId))) {
            throw new ProofRejectedError(`final node proof of c${c.circuitId} does not start at the type's initial state`);
          }
          return { circuitId: basicId, instances: c.count, finalState: c.stateOut };
        });
        if (new Set(types.map((t) => t.circuitId)).size !== types.length) throw new ProofRejectedError('recursion tip got two proofs of one type');
        const count = children.reduce((a, c) => a + c.count, 0);
        return { ...job, count, stateIn: ZERO, stateOut: ZERO, extra: tipCommitment(types) };
      }
      case AggregationRound.Scheduler: {
        const [tip] = this.single(job, children);
        const commitment = batchCommitment(job.protocolVersion, job.batchNumber, tip.extra);
        return { ...job, count: tip.count, stateIn: ZERO, stateOut: ZERO, extra: commitment };
      }
      case AggregationRound.Compression: {
        const [scheduler] = this.single(job, children);
        return { ...job, count: scheduler.count, stateIn: ZERO, stateOut: ZERO, extra: Buffer.from(scheduler.extra) };
      }
      default:
        throw new ProofRejectedError(`unknown aggregation round ${job.round}`);
    }
  }

  private single(job: JobCoordinates, children: DigestStatement[]): DigestStatement[] {
    if (children.length !== 1) throw new ProofRejectedError(`${describeCoordinates(job)} takes exactly one child, got ${children.length}`);
    return children;
  }

  /** Leaf and node: children of one type, consecutive, each starting where the previous ended. */
  private chain(job: JobCoordinates, children: DigestStatement[], root: Buffer): DigestStatement {
    for (let i = 1; i < children.length; i++) {
      if (children[i].sequence !== children[i - 1].sequence + 1) throw new ProofRejectedError(`children of ${describeCoordinates(job)} are not consecutive`);
      if (!children[i].stateIn.equals(children[i - 1].stateOut)) {
        throw new ProofRejectedError(`children of ${describeCoordinates(job)} do not chain at s${children[i].sequence}`);
      }
    }
    const count = children.reduce((a, c) => a + c.count, 0);
    return { ...job, count, stateIn: children[0].stateIn, stateOut: children[children.length - 1].stateOut, extra: root };
  }

  /** A child must verify, be made for its expected place, and be of the level this job aggregates. */
  private checkChild(job: JobCoordinates, child: ChildProof): DigestStatement {
    const c = child.coordinates;
    assertChildPlacement(job, c);
    return this.check(c, child.proof);
  }
}
