// TypeScript shapes of the pipeline's messages, one interface per schema in schemas/avro/.
// Avro `long` maps to `number` (at most 2^52 - 1 in magnitude, see long.ts), `bytes` to Buffer, and a
// ["null", T] union to `T | null`. test/schemas/types.test.ts keeps these in step with the
// schemas.

/** Protocol version `v{minor}.{patch}`. */
export interface ProtocolVersion {
  minor: number;
  patch: number;
}

/** Aggregation rounds, as carried in `aggregation_round`. */
export const AggregationRound = {
  BASIC: 0,
  LEAF: 1,
  NODE: 2,
  TIP: 3,
  SCHEDULER: 4,
  COMPRESSION: 5,
} as const;
export type AggregationRound = (typeof AggregationRound)[keyof typeof AggregationRound];

/** core -> prover, via the gateway. */
export interface BatchJob {
  protocol_version: ProtocolVersion;
  batch_number: number;
  job_id: string;
  run_id: number;
  /** Object key of the batch input in the prover store. */
  input_key: string;
  /** Hex. */
  batch_commitment: string;
  created_at_ms: number;
}

/** One job per (aggregation_round, circuit_id, depth, sequence_number). */
export interface ProverJob {
  protocol_version: ProtocolVersion;
  batch_number: number;
  job_id: string;
  run_id: number;
  /** 0 basic, 1 leaf, 2 node, 3 tip, 4 scheduler, 5 compression. */
  aggregation_round: number;
  circuit_id: number;
  depth: number;
  sequence_number: number;
  /** Jobs in this level for this circuit type. */
  level_size: number;
  input_keys: string[];
  attempt: number;
  /** When the job became ready (Unix ms). */
  triggered_at_ms: number;
  /** Retry back-off (Unix ms); 0 for none. */
  not_before_ms: number;
  zone: string | null;
}

export interface ProofLanded {
  protocol_version: ProtocolVersion;
  batch_number: number;
  job_id: string;
  run_id: number;
  aggregation_round: number;
  circuit_id: number;
  depth: number;
  sequence_number: number;
  proof_key: string;
  proof_digest: string;
  landed_at_ms: number;
  worker: string;
  /** Zone of the worker that proved the job; null when it has none. */
  zone: string | null;
}

export interface WitnessVectorJob {
  protocol_version: ProtocolVersion;
  batch_number: number;
  /** Id of the proving job the vector was made for. */
  job_id: string;
  run_id: number;
  aggregation_round: number;
  circuit_id: number;
  depth: number;
  sequence_number: number;
  level_size: number;
  /** Zone of the witness vector generator; only provers of this zone take the job. */
  zone: string;
  vector_key: string;
  generator: string;
  attempt: number;
  triggered_at_ms: number;
  handed_off_at_ms: number;
  not_before_ms: number;
}

export interface AggregationReady {
  protocol_version: ProtocolVersion;
  batch_number: number;
  /** Id of the job that became ready. */
  job_id: string;
  run_id: number;
  aggregation_round: number;
  circuit_id: number;
  depth: number;
  sequence_number: number;
  child_count: number;
  ready_at_ms: number;
}

export interface FinalProof {
  protocol_version: ProtocolVersion;
  batch_number: number;
  job_id: string;
  run_id: number;
  proof_key: string;
  proof: Buffer;
  created_at_ms: number;
}

/** Dead-letter envelope; the identity fields are null when the original could not be decoded. */
export interface DeadLetter {
  protocol_version: ProtocolVersion | null;
  batch_number: number | null;
  job_id: string | null;
  original_topic: string;
  original_partition: number;
  original_offset: number;
  original_key: Buffer | null;
  original_value: Buffer;
  reason: string;
  /** "malformed", "unknown-schema", "execution", "max-attempts", ... */
  error_kind: string;
  failed_stage: string;
  attempts: number;
  dead_at_ms: number;
}

/** Message name -> its TypeScript shape. The names are the Avro record names. */
export interface MessageTypes {
  BatchJob: BatchJob;
  ProverJob: ProverJob;
  ProofLanded: ProofLanded;
  AggregationReady: AggregationReady;
  FinalProof: FinalProof;
  DeadLetter: DeadLetter;
  WitnessVectorJob: WitnessVectorJob;
}

export type MessageName = keyof MessageTypes;

export const MESSAGE_NAMES: readonly MessageName[] = [
  'BatchJob',
  'ProverJob',
  'ProofLanded',
  'AggregationReady',
  'FinalProof',
  'DeadLetter',
  'WitnessVectorJob',
];

/** A decoded message of any type, discriminated by `name`. */
export type AnyMessage<M = MessageTypes> = { [N in keyof M & string]: { name: N; value: M[N] } }[keyof M & string];
