// Sample values of every message, covering the edges of each field type.
import type { MessageName, MessageTypes, ProtocolVersion } from '../../../schemas/types';

export type Sample = { [N in MessageName]: { name: N; value: MessageTypes[N] } }[MessageName];

const pv: ProtocolVersion = { minor: 24, patch: 1 };
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const MAX_INT = 2 ** 31 - 1;
const MIN_INT = -(2 ** 31);
/** Largest long magnitude the codec carries (schemas/long.ts). */
const LONG_MAX = 2 ** 52 - 1;

function jobId(batch: number, run: number, round: number, circuit: number, depth: number, seq: number): string {
  return `v${pv.minor}.${pv.patch}:b${batch}:run${run}:r${round}:c${circuit}:d${depth}:s${seq}`;
}

export const SAMPLES: readonly Sample[] = [
  {
    name: 'BatchJob',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: `v24.1:b42:run0`,
      run_id: 0,
      input_key: 'v24.1/b42/run0/input',
      batch_commitment: '0x' + 'ab'.repeat(32),
      created_at_ms: 1_700_000_000_000,
    },
  },
  {
    name: 'BatchJob',
    value: {
      protocol_version: { minor: MAX_INT, patch: MIN_INT },
      batch_number: LONG_MAX,
      job_id: '',
      run_id: MAX_INT,
      input_key: 'ключ/鍵/🔑',
      batch_commitment: '',
      created_at_ms: -LONG_MAX,
    },
  },
  {
    name: 'ProverJob',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: jobId(42, 0, 0, 3, 0, 7),
      run_id: 0,
      aggregation_round: 0,
      circuit_id: 3,
      depth: 0,
      sequence_number: 7,
      level_size: 12,
      input_keys: ['v24.1/b42/run0/witness/c3/s7'],
      attempt: 0,
      triggered_at_ms: 1_700_000_000_123,
      not_before_ms: 0,
      zone: null,
    },
  },
  {
    name: 'ProverJob',
    value: {
      protocol_version: pv,
      batch_number: 1,
      job_id: jobId(1, 2, 2, 5, 3, 0),
      run_id: 2,
      aggregation_round: 2,
      circuit_id: 5,
      depth: 3,
      sequence_number: 0,
      level_size: 1,
      input_keys: Array.from({ length: 32 }, (_, i) => `v24.1/b1/run2/proof/r2/c5/d2/s${i}`),
      attempt: 4,
      triggered_at_ms: 1_700_000_000_000,
      not_before_ms: 1_700_000_060_000,
      zone: 'europe-west4-a',
    },
  },
  {
    name: 'ProverJob',
    value: {
      protocol_version: pv,
      batch_number: 0,
      job_id: jobId(0, 0, 5, 1, 0, 0),
      run_id: 0,
      aggregation_round: 5,
      circuit_id: 1,
      depth: 0,
      sequence_number: 0,
      level_size: 1,
      input_keys: [],
      attempt: 0,
      triggered_at_ms: 0,
      not_before_ms: 0,
      zone: '',
    },
  },
  {
    name: 'ProofLanded',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: jobId(42, 0, 1, 3, 0, 1),
      run_id: 0,
      aggregation_round: 1,
      circuit_id: 3,
      depth: 0,
      sequence_number: 1,
      proof_key: 'v24.1/b42/run0/proof/r1/c3/d0/s1',
      proof_digest: 'f'.repeat(64),
      landed_at_ms: 1_700_000_001_000,
      worker: 'r1.c3.workers/host-1/pid-77',
      zone: 'us-central1-a',
    },
  },
  {
    name: 'AggregationReady',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: jobId(42, 0, 2, 3, 1, 0),
      run_id: 0,
      aggregation_round: 2,
      circuit_id: 3,
      depth: 1,
      sequence_number: 0,
      child_count: 32,
      ready_at_ms: 1_700_000_002_000,
    },
  },
  {
    name: 'FinalProof',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: jobId(42, 0, 5, 1, 0, 0),
      run_id: 0,
      proof_key: 'v24.1/b42/run0/proof/r5/c1/d0/s0',
      proof: allBytes,
      created_at_ms: 1_700_000_003_000,
    },
  },
  {
    name: 'FinalProof',
    value: {
      protocol_version: pv,
      batch_number: 43,
      job_id: jobId(43, 1, 5, 1, 0, 0),
      run_id: 1,
      proof_key: 'k',
      proof: Buffer.alloc(0),
      created_at_ms: 1,
    },
  },
  {
    name: 'DeadLetter',
    value: {
      protocol_version: null,
      batch_number: null,
      job_id: null,
      original_topic: 'zkp.v24.1.r0.c3',
      original_partition: 5,
      original_offset: 123_456_789_012,
      original_key: null,
      original_value: Buffer.from('c301deadbeef', 'hex'),
      reason: 'not a single-object encoded message',
      error_kind: 'malformed',
      failed_stage: 'r0.c3',
      attempts: 1,
      dead_at_ms: 1_700_000_004_000,
    },
  },
  {
    name: 'DeadLetter',
    value: {
      protocol_version: pv,
      batch_number: 42,
      job_id: jobId(42, 0, 0, 3, 0, 7),
      original_topic: 'zkp.v24.1.r0.c3.retry',
      original_partition: 0,
      original_offset: 0,
      original_key: Buffer.from('v24.1:b42', 'utf8'),
      original_value: allBytes,
      reason: 'prover crashed: "out of memory"\nline 2',
      error_kind: 'max-attempts',
      failed_stage: 'r0.c3',
      attempts: 5,
      dead_at_ms: 1_700_000_005_000,
    },
  },
  {
    name: 'WitnessVectorJob',
    value: {
      protocol_version: pv,
      batch_number: LONG_MAX,
      job_id: jobId(42, 1, 2, 18, 3, MAX_INT),
      run_id: 1,
      aggregation_round: 2,
      circuit_id: 18,
      depth: 3,
      sequence_number: MAX_INT,
      level_size: 1,
      zone: 'eu-west1-b',
      vector_key: 'v24.1/b42/run1/vector/eu-west1-b/r2/c18/d3/s7',
      generator: 'wvg-b-1',
      attempt: MIN_INT,
      triggered_at_ms: 0,
      handed_off_at_ms: 1_700_000_006_000,
      not_before_ms: -LONG_MAX,
    },
  },
];
