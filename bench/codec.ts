// Micro-benchmark of the single-object codec: encode / decode ops per second per message.
//
//   npx tsx bench/codec.ts [--seconds 0.3] [--rounds 5]
//
// Baselines on the same values: avsc's own toBuffer/fromBuffer of the bare body (no header, no
// registry lookup, no structural check), and the structural check alone.
import { getCodec } from '../schemas';
import type { MessageName, MessageTypes } from '../schemas/types';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
/** Each case runs ROUNDS times for SECONDS each; the best round is reported (least disturbed). */
const SECONDS = arg('--seconds', 0.3);
const ROUNDS = arg('--rounds', 5);

const pv = { minor: 24, patch: 1 };
const values: { [N in MessageName]: MessageTypes[N] } = {
  BatchJob: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0',
    run_id: 0,
    input_key: 'v24.1/b123456/run0/input',
    batch_commitment: 'ab'.repeat(32),
    created_at_ms: 1_700_000_000_000,
  },
  ProverJob: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r2:c3:d1:s17',
    run_id: 0,
    aggregation_round: 2,
    circuit_id: 3,
    depth: 1,
    sequence_number: 17,
    level_size: 40,
    input_keys: Array.from({ length: 32 }, (_, i) => `v24.1/b123456/run0/proof/r2/c3/d0/s${17 * 32 + i}`),
    attempt: 0,
    triggered_at_ms: 1_700_000_000_000,
    not_before_ms: 0,
    zone: null,
  },
  ProofLanded: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r2:c3:d1:s17',
    run_id: 0,
    aggregation_round: 2,
    circuit_id: 3,
    depth: 1,
    sequence_number: 17,
    proof_key: 'v24.1/b123456/run0/proof/r2/c3/d1/s17',
    proof_digest: 'cd'.repeat(32),
    landed_at_ms: 1_700_000_000_500,
    worker: 'r2.c3.workers/host-7/1234',
  },
  AggregationReady: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r2:c3:d2:s0',
    run_id: 0,
    aggregation_round: 2,
    circuit_id: 3,
    depth: 2,
    sequence_number: 0,
    child_count: 32,
    ready_at_ms: 1_700_000_000_600,
  },
  FinalProof: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r5:c1:d0:s0',
    run_id: 0,
    proof_key: 'v24.1/b123456/run0/proof/r5/c1/d0/s0',
    proof: Buffer.alloc(4096, 1),
    created_at_ms: 1_700_000_001_000,
  },
  DeadLetter: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r2:c3:d1:s17',
    original_topic: 'zkp.v24.1.r2.c3',
    original_partition: 3,
    original_offset: 987654,
    original_key: Buffer.from('v24.1:b123456'),
    original_value: Buffer.alloc(300, 2),
    reason: 'prover failed',
    error_kind: 'execution',
    failed_stage: 'r2.c3',
    attempts: 5,
    dead_at_ms: 1_700_000_002_000,
  },
};

/** Runs `fn` in batches, ROUNDS rounds of about SECONDS seconds after a warm-up; best ops/s. */
function measure(fn: () => unknown): number {
  const batch = 200;
  const warmUntil = Date.now() + 200;
  while (Date.now() < warmUntil) for (let i = 0; i < batch; i++) fn();
  let best = 0;
  const budget = BigInt(Math.round(SECONDS * 1e9));
  for (let round = 0; round < ROUNDS; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let i = 0; i < batch; i++) fn();
      ops += batch;
      elapsed = process.hrtime.bigint() - start;
    }
    best = Math.max(best, ops / (Number(elapsed) / 1e9));
  }
  return best;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US').padStart(12);
}

const codec = getCodec();
console.log(`node ${process.version}; best of ${ROUNDS} rounds of ${SECONDS}s per case; ops/s`);
console.log(`${'message'.padEnd(18)}${'bytes'.padStart(7)}${'encode'.padStart(12)}${'decode'.padStart(12)}${'decodeAny'.padStart(12)}${'avsc enc'.padStart(12)}${'avsc dec'.padStart(12)}${'check only'.padStart(12)}`);
for (const name of Object.keys(values) as MessageName[]) {
  const value = values[name];
  const buf = codec.encode(name, value as never);
  const entry = codec.registry.message(name)!.current;
  const body = buf.subarray(10);
  const enc = measure(() => codec.encode(name, value as never));
  const dec = measure(() => codec.decode(name, buf));
  const any = measure(() => codec.decodeAny(buf));
  const rawEnc = measure(() => entry.type.toBuffer(value));
  const rawDec = measure(() => entry.type.fromBuffer(body));
  const check = measure(() => entry.walk(buf, 10));
  console.log(`${name.padEnd(18)}${String(buf.length).padStart(7)}${fmt(enc)}${fmt(dec)}${fmt(any)}${fmt(rawEnc)}${fmt(rawDec)}${fmt(check)}`);
}
