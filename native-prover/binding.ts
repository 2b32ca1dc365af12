// Loads the native prover addon (native-prover/index.node, built from source by
// native-prover/build.sh) and gives it types. Every function that returns a Promise runs on
// libuv's thread pool, off the event loop.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** A circuit set: the protocol version and the geometry its circuits are built for. */
export interface CircuitParams {
  minor: number;
  patch: number;
  leafArity: number;
  nodeArity: number;
  tipCapacity: number;
  /** Operations per basic circuit instance, at most. */
  instanceCapacity: number;
  /** Bytes per operation, at most. */
  maxOpBytes: number;
}

export interface VerificationKey {
  /** "basic/<id>", "leaf", "node", "tip", "scheduler" or "compression". */
  level: string;
  /** The circuit digest, hex. */
  digest: string;
  degreeBits: number;
}

/** plonky2 called directly from Rust at the sizes of a set's basic and leaf circuits (bench/prover.ts). */
export interface ReferenceTimes {
  basicProveS: number;
  recursionProveS: number;
  /** basic + recursion */
  referenceProveS: number;
  /** CPU seconds (all threads) per proof, medians: comparable on a shared machine. */
  basicCpuS: number;
  recursionCpuS: number;
  basicDegreeBits: number;
  recursionDegreeBits: number;
  children: number;
}

export interface NativeProverAddon {
  /** Witness vector generation: fills the circuit's witness from a job witness (see payload/native.ts) and runs its generators. */
  witnessVector(params: CircuitParams, witness: Buffer): Promise<Buffer>;
  /** Proves from a witness vector. */
  prove(params: CircuitParams, vector: Buffer): Promise<Buffer>;
  /** Verifies a proof outside a circuit: null when it verifies, else the reason. `circuitId` matters in round 0 only. */
  verify(params: CircuitParams, round: number, circuitId: number, proof: Buffer): Promise<string | null>;
  /** Builds every circuit of the set (once per process) and lists their keys. */
  verificationKeys(params: CircuitParams): Promise<VerificationKey[]>;
  /** Same, blocking the caller (instant once the set is built). */
  verificationKeysSync(params: CircuitParams): VerificationKey[];
  /** [basic id, leaf id] pairs the circuits were built with. */
  catalog(): number[][];
  /** The benchmark's reference timings (medians of `rounds` proofs each, timed in Rust). */
  referenceBench(params: CircuitParams, rounds: number): Promise<ReferenceTimes>;
}

export const ADDON_PATH = path.join(__dirname, 'index.node');
export const BUILD_HINT = 'run native-prover/build.sh (needs cargo; it builds the addon from source)';

export class NativeAddonMissingError extends Error {
  override name = 'NativeAddonMissingError';
}

let loaded: NativeProverAddon | undefined;

/** The addon, loaded once. Throws NativeAddonMissingError when it has not been built. */
export function loadNativeProver(): NativeProverAddon {
  if (loaded) return loaded;
  if (!existsSync(ADDON_PATH)) {
    throw new NativeAddonMissingError(`the native prover addon is not built (${ADDON_PATH} is missing): ${BUILD_HINT}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require(ADDON_PATH) as NativeProverAddon;
  return loaded;
}
