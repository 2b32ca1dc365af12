// Micro-benchmark of the single-object codec: encode / decode ops per second per message.
//
//   npx tsx bench/codec.ts [--seconds 2] [--rounds 20]
//
// Baselines on the same values: avsc's own toBuffer/fromBuffer of the bare body (no header, no
// registry lookup, no structural check), and the structural check alone.
import { getCodec } from '../schemas';
import type { MessageName, MessageTypes } from '../schemas/types';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
/** CPU seconds of measurement per case, split over ROUNDS interleaved rounds. */
const SECONDS = arg('--seconds', 2);
const ROUNDS = arg('--rounds', 20);

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
    zone: null,
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
  WitnessVectorJob: {
    protocol_version: pv,
    batch_number: 123456,
    job_id: 'v24.1:b123456:run0:r2:c3:d1:s17',
    run_id: 0,
    aggregation_round: 2,
    circuit_id: 3,
    depth: 1,
    sequence_number: 17,
    level_size: 40,
    zone: 'us-central1-a',
    vector_key: 'v24.1/b123456/run0/vector/us-central1-a/r2/c3/d1/s17',
    generator: 'wvg-us-central1-a-3',
    attempt: 0,
    triggered_at_ms: 1_700_000_000_000,
    handed_off_at_ms: 1_700_000_000_500,
    not_before_ms: 0,
  },
};

/** CPU seconds (user + system) this process has used: unlike wall time, it does not count the
 * time the process waits while other work on the machine runs. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Measures the cases of one message interleaved: ROUNDS rounds, each giving every case a slice of
 * about SECONDS / ROUNDS CPU seconds; the best slice per case is reported. CPU time, interleaving
 * and best-of keep the comparison fair on a machine that other work is also using.
 */
function measureAll(cases: (() => unknown)[]): number[] {
  const slice = SECONDS / ROUNDS;
  // Warm-up and calibration: how many calls fill a slice.
  const perSlice = cases.map((fn) => {
    let n = 0;
    const start = cpuSeconds();
    while (cpuSeconds() - start < 0.1) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
    }
    return Math.max(100, Math.round((n * slice) / (cpuSeconds() - start)));
  });
  const best = cases.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    cases.forEach((fn, c) => {
      const n = perSlice[c];
      const start = cpuSeconds();
      for (let i = 0; i < n; i++) fn();
      best[c] = Math.max(best[c], n / (cpuSeconds() - start));
    });
  }
  return best;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US').padStart(12);
}

const codec = getCodec();
console.log(`node ${process.version}; ${SECONDS} CPU s per case in ${ROUNDS} interleaved rounds, best round; ops per CPU second`);
console.log(`${'message'.padEnd(18)}${'bytes'.padStart(7)}${'encode'.padStart(12)}${'decode'.padStart(12)}${'decodeAny'.padStart(12)}${'avsc enc'.padStart(12)}${'avsc dec'.padStart(12)}${'check only'.padStart(12)}`);
for (const name of Object.keys(values) as MessageName[]) {
  const value = values[name];
  const buf = codec.encode(name, value as never);
  const entry = codec.registry.message(name)!.current;
  const body = buf.subarray(10);
  const [enc, dec, any, rawEnc, rawDec, check] = measureAll([
    () => codec.encode(name, value as never),
    () => codec.decode(name, buf),
    () => codec.decodeAny(buf),
    () => entry.type.toBuffer(value),
    () => entry.type.fromBuffer(body),
    () => entry.walk(buf, 10),
  ]);
  console.log(`${name.padEnd(18)}${String(buf.length).padStart(7)}${fmt(enc)}${fmt(dec)}${fmt(any)}${fmt(rawEnc)}${fmt(rawDec)}${fmt(check)}`);
}
