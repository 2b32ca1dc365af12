// Shared fixtures of the native prover tests: one small circuit set (arities 2, two circuit
// types in the tip) and one small batch proved through NativePayload, both made once per
// process and reused by every test file.
import { BatchInput } from '../../lib/batch-execution';
import { ProtocolVersion } from '../../lib/protocol-version';
import { NativeProverAddon, loadNativeProver } from '../../native-prover/binding';
import { NativePayload, NativePayloadOptions } from '../../payload/native';
import { JobCoordinates } from '../../payload/payload';
import { ProvedBatch, coordinatesOf, proveBatchWithDigest } from '../core/prove-batch-with-digest';
import { JobCoord } from '../../topics/geometry';

export const V24: ProtocolVersion = { minor: 24, patch: 0 };
export const V25: ProtocolVersion = { minor: 25, patch: 0 };
export const SMALL: NativePayloadOptions = { leafArity: 2, nodeArity: 2, tipCapacity: 2, instanceCapacity: 4, maxOpBytes: 32 };
/** Proving a level can take seconds on 2 cores; building a circuit set tens of seconds. */
export const SLOW_MS = 600_000;

/** Loads the addon; throws (failing the suite) with the build hint when it is not built. */
export function addon(): NativeProverAddon {
  return loadNativeProver();
}

let payload: NativePayload | undefined;
export function smallPayload(): NativePayload {
  return (payload ??= new NativePayload({ ...SMALL, addon: addon() }));
}

function op(tag: number, i: number, len = 32): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (tag * 31 + i * 7 + k) & 0xff;
  return b;
}

/** Two types: basic 1 with five instances (three leaf jobs, node depths 0 and 1), basic 3 with one. */
export function smallBatch(batchNumber = 7, v: ProtocolVersion = V24): BatchInput {
  const ops = [];
  for (let i = 0; i < 18; i++) ops.push({ circuitId: 1, data: op(1, i, i === 17 ? 5 : 32) });
  for (let i = 0; i < 2; i++) ops.push({ circuitId: 3, data: op(3, i) });
  // interleave the types, as a real batch would
  ops.sort((a, b) => (a.data[1] ^ 0x5a) - (b.data[1] ^ 0x5a));
  return { protocolVersion: v, batchNumber, instanceCapacity: 4, ops };
}

const batches = new Map<string, Promise<ProvedBatch>>();
/** The small batch proved through NativePayload (every level), once per process. */
export function provedSmallBatch(batchNumber = 7): Promise<ProvedBatch> {
  let p = batches.get(String(batchNumber));
  if (!p) {
    p = proveBatchWithDigest(smallBatch(batchNumber), { payload: smallPayload(), leafArity: 2, nodeArity: 2 });
    batches.set(String(batchNumber), p);
  }
  return p;
}

export function at(batchNumber: number, c: JobCoord, v: ProtocolVersion = V24): JobCoordinates {
  return coordinatesOf(smallBatch(batchNumber, v), c);
}

/** A copy of `proof` with one byte flipped `fromEnd` bytes before its end (inside plonky2's proof). */
export function tamper(proof: Buffer, fromEnd = 100): Buffer {
  const t = Buffer.from(proof);
  t[t.length - fromEnd] ^= 0x01;
  return t;
}
