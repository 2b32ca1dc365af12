// Deterministic names of everything a job touches: its id, the objects it reads and writes,
// its counter group. A redelivered job computes the same names, so it overwrites its own
// output with identical bytes and lands in the same counter.
import { ProtocolVersion, formatVersion } from '../lib/protocol-version';
import { JobCoord } from '../topics/geometry';
import type { ProverJob } from '../schemas';

export interface BatchRun {
  protocolVersion: ProtocolVersion;
  batchNumber: number;
  runId: number;
}

export function batchRunPrefix(r: BatchRun): string {
  return `${formatVersion(r.protocolVersion)}/b${r.batchNumber}/run${r.runId}`;
}

/** The job's place in its batch's proof tree, e.g. `r1:c3:d0:s5`; also its counter group id as a parent. */
export function coordId(c: JobCoord): string {
  return `r${c.round}:c${c.circuitId}:d${c.depth}:s${c.seq}`;
}

export function jobId(r: BatchRun, c: JobCoord): string {
  return `${formatVersion(r.protocolVersion)}:b${r.batchNumber}:run${r.runId}:${coordId(c)}`;
}

export function batchJobId(r: BatchRun): string {
  return `${formatVersion(r.protocolVersion)}:b${r.batchNumber}:run${r.runId}:batch`;
}

export const objectKeys = {
  input: (r: BatchRun) => `${batchRunPrefix(r)}/input`,
  plan: (r: BatchRun) => `${batchRunPrefix(r)}/plan.json`,
  witness: (r: BatchRun, circuitId: number, seq: number) => `${batchRunPrefix(r)}/witness/c${circuitId}/s${seq}`,
  proof: (r: BatchRun, c: JobCoord) => `${batchRunPrefix(r)}/proof/r${c.round}/c${c.circuitId}/d${c.depth}/s${c.seq}`,
  /** A witness vector made in `zone` (split deployment): per zone, so a zone's vectors can live in (or expire from) a store of its own. */
  vector: (r: BatchRun, c: JobCoord, zone: string) => `${batchRunPrefix(r)}/vector/${zone}/r${c.round}/c${c.circuitId}/d${c.depth}/s${c.seq}`,
};

/** The fields that place a job in its batch's proof tree, as every job-carrying record names them. */
export type JobPlace = Pick<ProverJob, 'protocol_version' | 'batch_number' | 'job_id' | 'run_id' | 'aggregation_round' | 'circuit_id' | 'depth' | 'sequence_number'>;

/** Just the place fields of `j` (a ProverJob, a hand-off job, ...), to spread into another record. */
export function jobPlace(j: JobPlace): JobPlace {
  return {
    protocol_version: j.protocol_version,
    batch_number: j.batch_number,
    job_id: j.job_id,
    run_id: j.run_id,
    aggregation_round: j.aggregation_round,
    circuit_id: j.circuit_id,
    depth: j.depth,
    sequence_number: j.sequence_number,
  };
}
