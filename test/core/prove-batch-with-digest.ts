// Proves a whole batch with the digest payload, in-process, by running the real chain: basic
// witnesses from the batch (cutIntoInstances) -> leaf -> node (all depths) -> recursion tip ->
// scheduler -> compression, each job through generateWitness, generateWitnessVector and prove.
// The job tree comes from topics/geometry with small arities, so even small batches have
// several leaf and node levels. Useful wherever a test needs a correct final proof.
import { BatchInput, cutIntoInstances, encodeInstanceWitness } from '../../lib/batch-execution';
import { DigestPayload } from '../../payload/digest';
import { JobCoordinates, ProofPayload, WitnessInput } from '../../payload/payload';
import { AggregationRound, COMPRESSION_CIRCUIT_ID } from '../../topics/catalog';
import { AggregationPlan, JobCoord, childrenOf, planAggregation, validateGeometry } from '../../topics/geometry';

export interface ProveBatchOptions {
  /** Default: a new DigestPayload. */
  payload?: ProofPayload;
  /** Basic proofs per leaf job (default 2). */
  leafArity?: number;
  /** Proofs per node job (default 2). */
  nodeArity?: number;
}

export interface ProvedBatch {
  /** The compression (round 5) proof: what a prover submits to the core. */
  finalProof: Buffer;
  /** Every proof of the tree, keyed by `r{round}/c{circuit}/d{depth}/s{seq}`. */
  proofs: Map<string, Buffer>;
  plan: AggregationPlan;
  /** Jobs run, all rounds. */
  jobs: number;
}

export function jobKey(c: JobCoord): string {
  return `r${c.round}/c${c.circuitId}/d${c.depth}/s${c.seq}`;
}

export function coordinatesOf(input: BatchInput, c: JobCoord): JobCoordinates {
  return {
    protocolVersion: { ...input.protocolVersion },
    batchNumber: input.batchNumber,
    round: c.round,
    circuitId: c.circuitId,
    depth: c.depth,
    sequence: c.seq,
  };
}

export const FINAL_JOB: JobCoord = { round: AggregationRound.Compression, circuitId: COMPRESSION_CIRCUIT_ID, depth: 0, seq: 0 };

export async function proveBatchWithDigest(input: BatchInput, options: ProveBatchOptions = {}): Promise<ProvedBatch> {
  const payload = options.payload ?? new DigestPayload();
  const instances = cutIntoInstances(input);
  const counts = new Map([...instances].map(([id, list]): [number, number] => [id, list.length]));
  const geometry = validateGeometry({ leafArity: options.leafArity ?? 2, nodeArity: options.nodeArity ?? 2, tipCapacity: Math.max(1, counts.size) });
  const plan = planAggregation(counts, geometry);
  const proofs = new Map<string, Buffer>();

  const prove = async (c: JobCoord): Promise<Buffer> => {
    const key = jobKey(c);
    const done = proofs.get(key);
    if (done) return done;
    let witnessInput: WitnessInput;
    if (c.round === AggregationRound.BasicCircuits) {
      const instance = instances.get(c.circuitId)?.[c.seq];
      if (!instance) throw new Error(`batch has no basic instance c${c.circuitId} s${c.seq}`);
      witnessInput = { kind: 'basic', witness: encodeInstanceWitness(instance) };
    } else {
      const children = [];
      for (const child of childrenOf(plan, c)) children.push({ coordinates: coordinatesOf(input, child), proof: await prove(child) });
      witnessInput = { kind: 'aggregate', children };
    }
    const job = coordinatesOf(input, c);
    const witness = await payload.generateWitness(job, witnessInput);
    const vector = await payload.generateWitnessVector(job, witness);
    const proof = await payload.prove(job, vector);
    proofs.set(key, proof);
    return proof;
  };

  const finalProof = await prove(FINAL_JOB);
  return { finalProof, proofs, plan, jobs: proofs.size };
}
