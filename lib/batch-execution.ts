// The batch model shared by the core (which seals batches and computes their commitment)
// and the prover's basic witness generation (which runs a batch and cuts it into circuit
// instances). A batch is a list of operations, each handled by one basic circuit type.
// Running a type's operations in order threads a state through them; the state before and
// after each circuit instance are that instance's input/output commitments, which chain
// consecutive instances of the same type.
import { sha256, SeededStream } from './hash';
import { ProtocolVersion } from './protocol-version';

export interface BatchOp {
  circuitId: number;
  data: Buffer;
}

export interface BatchInput {
  protocolVersion: ProtocolVersion;
  batchNumber: number;
  /** Operations per basic circuit instance. */
  instanceCapacity: number;
  ops: BatchOp[];
}

export interface BasicInstance {
  circuitId: number;
  sequence: number;
  stateIn: Buffer;
  stateOut: Buffer;
  ops: Buffer[];
}

export interface TypeSummary {
  circuitId: number;
  instances: number;
  initialState: Buffer;
  finalState: Buffer;
}

const MAGIC = Buffer.from('ZKPB');
const FORMAT = 1;

export class BatchFormatError extends Error {
  override name = 'BatchFormatError';
}

export function encodeBatchInput(b: BatchInput): Buffer {
  const header = Buffer.alloc(4 + 1 + 4 + 4 + 8 + 2 + 4);
  let o = MAGIC.copy(header, 0);
  o = header.writeUInt8(FORMAT, o);
  o = header.writeUInt32BE(b.protocolVersion.minor, o);
  o = header.writeUInt32BE(b.protocolVersion.patch, o);
  o = header.writeBigUInt64BE(BigInt(b.batchNumber), o);
  o = header.writeUInt16BE(b.instanceCapacity, o);
  header.writeUInt32BE(b.ops.length, o);
  const parts: Buffer[] = [header];
  for (const op of b.ops) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(op.circuitId, 0);
    h.writeUInt16BE(op.data.length, 2);
    parts.push(h, op.data);
  }
  return Buffer.concat(parts);
}

export function decodeBatchInput(buf: Buffer): BatchInput {
  const fail = (why: string): never => {
    throw new BatchFormatError(`malformed batch input: ${why}`);
  };
  if (buf.length < 27 || !buf.subarray(0, 4).equals(MAGIC)) fail('bad magic or too short');
  if (buf.readUInt8(4) !== FORMAT) fail(`unknown format ${buf.readUInt8(4)}`);
  const protocolVersion = { minor: buf.readUInt32BE(5), patch: buf.readUInt32BE(9) };
  const batchNumber = Number(buf.readBigUInt64BE(13));
  const instanceCapacity = buf.readUInt16BE(21);
  const count = buf.readUInt32BE(23);
  if (instanceCapacity === 0) fail('instance capacity 0');
  const ops: BatchOp[] = [];
  let o = 27;
  for (let i = 0; i < count; i++) {
    if (o + 4 > buf.length) fail(`truncated at op ${i}`);
    const circuitId = buf.readUInt16BE(o);
    const len = buf.readUInt16BE(o + 2);
    o += 4;
    if (o + len > buf.length) fail(`truncated data of op ${i}`);
    ops.push({ circuitId, data: buf.subarray(o, o + len) });
    o += len;
  }
  if (o !== buf.length) fail(`${buf.length - o} trailing bytes`);
  return { protocolVersion, batchNumber, instanceCapacity, ops };
}

export function initialState(v: ProtocolVersion, batchNumber: number, circuitId: number): Buffer {
  return sha256('zkp/state0', v.minor, v.patch, batchNumber, circuitId);
}

export function applyOps(state: Buffer, ops: Buffer[]): Buffer {
  let s = state;
  for (const op of ops) s = sha256(s, op);
  return s;
}

/** Runs the batch: groups operations by circuit type (ascending id) and cuts each into instances. */
export function cutIntoInstances(b: BatchInput): Map<number, BasicInstance[]> {
  const byType = new Map<number, Buffer[]>();
  for (const op of b.ops) {
    let list = byType.get(op.circuitId);
    if (!list) byType.set(op.circuitId, (list = []));
    list.push(op.data);
  }
  const out = new Map<number, BasicInstance[]>();
  for (const circuitId of [...byType.keys()].sort((a, b2) => a - b2)) {
    const ops = byType.get(circuitId)!;
    const instances: BasicInstance[] = [];
    let state = initialState(b.protocolVersion, b.batchNumber, circuitId);
    for (let seq = 0; seq * b.instanceCapacity < ops.length; seq++) {
      const chunk = ops.slice(seq * b.instanceCapacity, (seq + 1) * b.instanceCapacity);
      const stateOut = applyOps(state, chunk);
      instances.push({ circuitId, sequence: seq, stateIn: state, stateOut, ops: chunk });
      state = stateOut;
    }
    out.set(circuitId, instances);
  }
  return out;
}

export function summarize(b: BatchInput, instances = cutIntoInstances(b)): TypeSummary[] {
  return [...instances.entries()].map(([circuitId, list]) => ({
    circuitId,
    instances: list.length,
    initialState: list[0].stateIn,
    finalState: list[list.length - 1].stateOut,
  }));
}

/** What the recursion tip commits to: every type present, its instance count and final state. */
export function tipCommitment(types: Array<{ circuitId: number; instances: number; finalState: Buffer }>): Buffer {
  const sorted = [...types].sort((a, b) => a.circuitId - b.circuitId);
  return sha256('zkp/tip', ...sorted.flatMap((t) => [t.circuitId, t.instances, t.finalState]));
}

/** The batch's public commitment, bound by the scheduler proof and checked by the core. */
export function batchCommitment(v: ProtocolVersion, batchNumber: number, tip: Buffer): Buffer {
  return sha256('zkp/batch', v.minor, v.patch, batchNumber, tip);
}

export function commitmentOfBatch(b: BatchInput): Buffer {
  return batchCommitment(b.protocolVersion, b.batchNumber, tipCommitment(summarize(b)));
}

export function encodeInstanceWitness(i: BasicInstance): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(2 + 4 + 2);
  h.writeUInt16BE(i.circuitId, 0);
  h.writeUInt32BE(i.sequence, 2);
  h.writeUInt16BE(i.ops.length, 6);
  parts.push(h, i.stateIn);
  for (const op of i.ops) {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(op.length, 0);
    parts.push(l, op);
  }
  return Buffer.concat(parts);
}

export function decodeInstanceWitness(buf: Buffer): BasicInstance {
  if (buf.length < 40) throw new BatchFormatError('malformed witness: too short');
  const circuitId = buf.readUInt16BE(0);
  const sequence = buf.readUInt32BE(2);
  const n = buf.readUInt16BE(6);
  const stateIn = buf.subarray(8, 40);
  const ops: Buffer[] = [];
  let o = 40;
  for (let k = 0; k < n; k++) {
    if (o + 2 > buf.length) throw new BatchFormatError('malformed witness: truncated');
    const len = buf.readUInt16BE(o);
    if (o + 2 + len > buf.length) throw new BatchFormatError('malformed witness: truncated op');
    ops.push(buf.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (o !== buf.length) throw new BatchFormatError('malformed witness: trailing bytes');
  return { circuitId, sequence, stateIn, stateOut: applyOps(stateIn, ops), ops };
}

export interface BatchShape {
  /** Approximate number of basic circuit instances in the batch. */
  basicJobs: number;
  /** Basic circuit ids the batch may use. */
  circuitIds: number[];
  instanceCapacity?: number;
  opBytes?: number;
}

/**
 * Seals a batch deterministically from (seed, number): a skewed mix where a few types get
 * many instances and some get none, as real batches do.
 */
export function generateBatch(v: ProtocolVersion, batchNumber: number, seed: string, shape: BatchShape): BatchInput {
  const rng = new SeededStream(sha256('zkp/batch-seed', seed, batchNumber));
  const capacity = shape.instanceCapacity ?? 4;
  const opBytes = shape.opBytes ?? 32;
  const types = shape.circuitIds.filter((_, i) => i === 0 || rng.unit() < 0.7);
  const weights = types.map(() => rng.unit() ** 3 + 0.01);
  const total = weights.reduce((a, b) => a + b, 0);
  const ops: BatchOp[] = [];
  types.forEach((circuitId, i) => {
    const instances = Math.max(1, Math.round((shape.basicJobs * weights[i]) / total));
    const opCount = (instances - 1) * capacity + 1 + Math.floor(rng.unit() * capacity);
    for (let k = 0; k < opCount; k++) ops.push({ circuitId, data: rng.bytes(opBytes) });
  });
  // Interleave types as a real execution would, deterministically.
  const order = ops.map((op, i) => ({ op, key: rng.bytes(4).readUInt32BE(0) + i / ops.length }));
  order.sort((a, b) => a.key - b.key);
  return { protocolVersion: v, batchNumber, instanceCapacity: capacity, ops: order.map((o) => o.op) };
}
