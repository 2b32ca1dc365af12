// The proof payload: what one job's witness generation, witness vector generation and proving
// actually compute. The pipeline moves bytes between these steps and never looks inside them;
// a payload is chosen per run (`digest` for orchestration tests and benchmarks, the native
// prover for real proofs).
import { ProtocolVersion } from '../lib/protocol-version';

/** Where a job sits in a batch's proof tree. */
export interface JobCoordinates {
  protocolVersion: ProtocolVersion;
  batchNumber: number;
  round: number;
  circuitId: number;
  depth: number;
  sequence: number;
}

export interface ChildProof {
  /** Where the child must sit; the payload checks the proof was made for exactly this place. */
  coordinates: JobCoordinates;
  proof: Buffer;
}

export type WitnessInput =
  | { kind: 'basic'; witness: Buffer }
  | { kind: 'aggregate'; children: ChildProof[] };

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export class ProofRejectedError extends Error {
  override name = 'ProofRejectedError';
}

export interface ProofPayload {
  readonly name: string;
  /** Makes whatever version `v` needs ready (circuits, keys) off the event loop; cheap when done already. */
  prepare(v: ProtocolVersion): Promise<unknown>;
  /** Hash of the verification keys of every level for a protocol version. */
  verificationKeysHash(v: ProtocolVersion): string;
  /** Round 0: from the circuit instance's witness. Aggregation rounds: verifies every child. Throws ProofRejectedError on a bad child. */
  generateWitness(job: JobCoordinates, input: WitnessInput): Promise<Buffer>;
  generateWitnessVector(job: JobCoordinates, witness: Buffer): Promise<Buffer>;
  prove(job: JobCoordinates, witnessVector: Buffer): Promise<Buffer>;
  /** Verifies a proof of any level outside a circuit, for the place `job`. */
  verify(job: JobCoordinates, proof: Buffer): Promise<VerifyResult>;
  /** The batch commitment a final (compression) proof binds; the core compares it with its own. */
  finalCommitment(proof: Buffer): Buffer;
  /** A short digest of a proof, carried in proof-landed events. */
  proofDigest(proof: Buffer): string;
}
