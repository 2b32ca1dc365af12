//! Circuit sets (built once per process, on first use of each level), the two proving steps
//! (witness vector generation, then proving) and verification outside a circuit, over the byte
//! formats the TypeScript side speaks (docs/native-prover.md, "Formats").

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, ensure, Context, Result};
use plonky2::field::types::{Field, Field64, PrimeField64};
use plonky2::iop::generator::generate_partial_witness;
use plonky2::iop::witness::{PartialWitness, PartitionWitness, WitnessWrite};
use plonky2::plonk::proof::ProofWithPublicInputs;
use plonky2::plonk::prover::prove_with_partition_witness;
use plonky2::util::serialization::{Buffer, Read, Write};
use plonky2::util::timing::TimingTree;

use crate::circuits::*;

/// One protocol version's circuits for one geometry.
pub struct CircuitSet {
    pub params: SetParams,
    basics: OnceLock<Vec<BasicCircuit>>,
    agg: OnceLock<std::result::Result<(AggCircuit, AggCircuit), String>>,
    tip: OnceLock<TopCircuit>,
    scheduler: OnceLock<TopCircuit>,
    compression: OnceLock<TopCircuit>,
}

static SETS: OnceLock<Mutex<HashMap<SetParams, Arc<CircuitSet>>>> = OnceLock::new();

/// The process-wide set for `params` (created empty; levels are built when first used).
pub fn circuit_set(params: SetParams) -> Result<Arc<CircuitSet>> {
    params.check()?;
    let mut sets = SETS.get_or_init(|| Mutex::new(HashMap::new())).lock().map_err(|_| anyhow!("circuit cache poisoned"))?;
    Ok(sets
        .entry(params)
        .or_insert_with(|| {
            Arc::new(CircuitSet {
                params,
                basics: OnceLock::new(),
                agg: OnceLock::new(),
                tip: OnceLock::new(),
                scheduler: OnceLock::new(),
                compression: OnceLock::new(),
            })
        })
        .clone())
}

impl CircuitSet {
    pub fn basics(&self) -> &[BasicCircuit] {
        self.basics.get_or_init(|| BASIC_IDS.iter().map(|&id| build_basic(&self.params, id)).collect())
    }
    pub fn basic(&self, circuit_id: u32) -> Result<&BasicCircuit> {
        self.basics()
            .iter()
            .find(|c| c.circuit_id == circuit_id)
            .ok_or_else(|| anyhow!("no basic circuit {circuit_id}"))
    }
    fn agg(&self) -> Result<&(AggCircuit, AggCircuit)> {
        self.agg
            .get_or_init(|| build_aggregation(&self.params, self.basics()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }
    pub fn leaf(&self) -> Result<&AggCircuit> {
        Ok(&self.agg()?.0)
    }
    pub fn node(&self) -> Result<&AggCircuit> {
        Ok(&self.agg()?.1)
    }
    pub fn tip(&self) -> Result<&TopCircuit> {
        let node = self.node()?;
        Ok(self.tip.get_or_init(|| build_tip(&self.params, node)))
    }
    pub fn scheduler(&self) -> Result<&TopCircuit> {
        let tip = self.tip()?;
        Ok(self.scheduler.get_or_init(|| build_scheduler(&self.params, tip)))
    }
    pub fn compression(&self) -> Result<&TopCircuit> {
        let s = self.scheduler()?;
        Ok(self.compression.get_or_init(|| build_compression(&self.params, s)))
    }

    /// The circuit that proves round `round` (for round 0: of basic type `circuit_id`).
    pub fn circuit(&self, round: u32, circuit_id: u32) -> Result<&Circuit> {
        Ok(match round {
            ROUND_BASIC => &self.basic(circuit_id)?.data,
            ROUND_LEAF => &self.leaf()?.data,
            ROUND_NODE => &self.node()?.data,
            ROUND_TIP => &self.tip()?.data,
            ROUND_SCHEDULER => &self.scheduler()?.data,
            ROUND_COMPRESSION => &self.compression()?.data,
            _ => bail!("unknown round {round}"),
        })
    }

    /// Every level's verification key: (name, circuit digest hex, degree bits).
    pub fn verification_keys(&self) -> Result<Vec<(String, String, usize)>> {
        let mut out = Vec::new();
        let mut push = |name: String, c: &Circuit| {
            let digest: String = c.verifier_only.circuit_digest.elements.iter().map(|e| format!("{:016x}", e.to_canonical_u64())).collect();
            out.push((name, digest, c.common.degree_bits()));
        };
        for b in self.basics() {
            push(format!("basic/{}", b.circuit_id), &b.data);
        }
        push("leaf".into(), &self.leaf()?.data);
        push("node".into(), &self.node()?.data);
        push("tip".into(), &self.tip()?.data);
        push("scheduler".into(), &self.scheduler()?.data);
        push("compression".into(), &self.compression()?.data);
        Ok(out)
    }
}

/// Runs `f`, turning a panic inside plonky2 (malformed input it does not expect) into an error.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(anyhow!("{what} failed: {msg}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Byte formats

struct Reader<'a> {
    b: &'a [u8],
    o: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, o: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(self.o + n <= self.b.len(), "truncated at byte {}", self.o);
        let s = &self.b[self.o..self.o + n];
        self.o += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.o..];
        self.o = self.b.len();
        s
    }
    fn done(&self) -> Result<()> {
        ensure!(self.o == self.b.len(), "{} trailing bytes", self.b.len() - self.o);
        Ok(())
    }
}

pub const WITNESS_MAGIC: &[u8; 4] = b"ZKNW";
pub const VECTOR_MAGIC: &[u8; 4] = b"ZKNV";
pub const PROOF_MAGIC: &[u8; 4] = b"ZKNP";
pub const PROOF_FORMAT: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coordinates {
    pub round: u32,
    pub minor: u32,
    pub patch: u32,
    pub batch: u64,
    pub circuit_id: u32,
    pub depth: u32,
    pub seq: u32,
}

pub enum WitnessBody {
    Basic { state_in: [u8; 32], state_out: [u8; 32], ops: Vec<Vec<u8>> },
    Aggregate { children: Vec<Vec<u8>> },
}

pub struct JobWitness {
    pub job: Coordinates,
    pub body: WitnessBody,
}

pub fn encode_witness(w: &JobWitness) -> Vec<u8> {
    let j = &w.job;
    let mut out = WITNESS_MAGIC.to_vec();
    out.push(j.round as u8);
    out.extend(j.minor.to_be_bytes());
    out.extend(j.patch.to_be_bytes());
    out.extend(j.batch.to_be_bytes());
    out.extend(j.circuit_id.to_be_bytes());
    out.extend(j.depth.to_be_bytes());
    out.extend(j.seq.to_be_bytes());
    match &w.body {
        WitnessBody::Basic { state_in, state_out, ops } => {
            out.extend(state_in);
            out.extend(state_out);
            out.extend((ops.len() as u16).to_be_bytes());
            for op in ops {
                out.extend((op.len() as u16).to_be_bytes());
                out.extend(op);
            }
        }
        WitnessBody::Aggregate { children } => {
            out.extend((children.len() as u16).to_be_bytes());
            for c in children {
                out.extend((c.len() as u32).to_be_bytes());
                out.extend(c);
            }
        }
    }
    out
}

pub fn decode_witness(bytes: &[u8]) -> Result<JobWitness> {
    let mut r = Reader::new(bytes);
    ensure!(r.take(4)? == WITNESS_MAGIC, "not a native witness (bad magic)");
    let job = Coordinates {
        round: r.u8()? as u32,
        minor: r.u32()?,
        patch: r.u32()?,
        batch: r.u64()?,
        circuit_id: r.u32()?,
        depth: r.u32()?,
        seq: r.u32()?,
    };
    let body = if job.round == ROUND_BASIC {
        let state_in: [u8; 32] = r.take(32)?.try_into()?;
        let state_out: [u8; 32] = r.take(32)?.try_into()?;
        let n = r.u16()? as usize;
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            let l = r.u16()? as usize;
            ops.push(r.take(l)?.to_vec());
        }
        WitnessBody::Basic { state_in, state_out, ops }
    } else {
        let n = r.u16()? as usize;
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let l = r.u32()? as usize;
            children.push(r.take(l)?.to_vec());
        }
        WitnessBody::Aggregate { children }
    };
    r.done()?;
    Ok(JobWitness { job, body })
}

/// A proof as it travels: header, public inputs (u64 big-endian each), plonky2's proof bytes.
pub struct NativeProof {
    pub round: u32,
    pub circuit_id: u32,
    pub proof: ProofWithPublicInputs<F, C, D>,
}

pub fn encode_proof(round: u32, circuit_id: u32, p: &ProofWithPublicInputs<F, C, D>) -> Result<Vec<u8>> {
    let mut out = PROOF_MAGIC.to_vec();
    out.push(PROOF_FORMAT);
    out.push(round as u8);
    out.extend(circuit_id.to_be_bytes());
    out.extend((p.public_inputs.len() as u16).to_be_bytes());
    for x in &p.public_inputs {
        out.extend(x.to_canonical_u64().to_be_bytes());
    }
    out.write_proof(&p.proof).map_err(|_| anyhow!("proof serialization failed"))?;
    Ok(out)
}

/// Header of a proof: (round, circuit id, public inputs).
pub fn proof_header(bytes: &[u8]) -> Result<(u32, u32, Vec<u64>, usize)> {
    let mut r = Reader::new(bytes);
    ensure!(r.take(4)? == PROOF_MAGIC, "not a native proof (bad magic)");
    ensure!(r.u8()? == PROOF_FORMAT, "unknown native proof format");
    let round = r.u8()? as u32;
    let circuit_id = r.u32()?;
    let n = r.u16()? as usize;
    let mut pis = Vec::with_capacity(n);
    for _ in 0..n {
        pis.push(r.u64()?);
    }
    Ok((round, circuit_id, pis, r.o))
}

pub fn decode_proof(bytes: &[u8], common: &Common) -> Result<NativeProof> {
    let (round, circuit_id, pis, at) = proof_header(bytes)?;
    ensure!(pis.len() == common.num_public_inputs, "proof has {} public inputs, the circuit {}", pis.len(), common.num_public_inputs);
    let mut public_inputs = Vec::with_capacity(pis.len());
    for x in pis {
        ensure!(x < F::ORDER, "public input out of the field");
        public_inputs.push(F::from_canonical_u64(x));
    }
    let mut buf = Buffer::new(&bytes[at..]);
    let proof = guarded("proof decoding", || buf.read_proof::<F, C, D>(common).map_err(|_| anyhow!("malformed proof")))?;
    ensure!(buf.unread_bytes().is_empty(), "{} trailing bytes after the proof", buf.unread_bytes().len());
    Ok(NativeProof { round, circuit_id, proof: ProofWithPublicInputs { proof, public_inputs } })
}

// ---------------------------------------------------------------------------------------------
// Witness vector generation

fn fe(x: u64) -> F {
    F::from_noncanonical_u64(x)
}

fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_be_bytes(w) as u64
        })
        .collect()
}

fn check_job(set: &CircuitSet, job: &Coordinates) -> Result<()> {
    ensure!(
        job.minor == set.params.minor && job.patch == set.params.patch,
        "witness of v{}.{} given to the circuits of v{}.{}",
        job.minor,
        job.patch,
        set.params.minor,
        set.params.patch
    );
    ensure!(job.batch < (1u64 << 62), "batch number too large");
    Ok(())
}

/// Step 1: fills the circuit's witness from the job witness and runs plonky2's witness
/// generators; returns every wire value (the "witness vector").
pub fn witness_vector(set: &CircuitSet, witness: &[u8]) -> Result<Vec<u8>> {
    let w = decode_witness(witness)?;
    let job = w.job;
    check_job(set, &job)?;
    let p = &set.params;
    let mut pw = PartialWitness::<F>::new();
    let circuit_id = job.circuit_id;
    let data: &Circuit = match (&w.body, job.round) {
        (WitnessBody::Basic { state_in, state_out, ops }, ROUND_BASIC) => {
            let bc = set.basic(circuit_id)?;
            let t = &bc.t;
            ensure!(!ops.is_empty(), "a basic instance needs at least one operation");
            ensure!(ops.len() <= p.instance_capacity, "{} operations, the basic circuit takes {}", ops.len(), p.instance_capacity);
            pw.set_target(t.batch, fe(job.batch))?;
            pw.set_target(t.seq, fe(job.seq as u64))?;
            for (i, x) in words(state_in).into_iter().enumerate() {
                pw.set_target(t.state_in[i], fe(x))?;
            }
            for (i, x) in words(state_out).into_iter().enumerate() {
                pw.set_target(t.state_out[i], fe(x))?;
            }
            for j in 0..p.instance_capacity {
                let op: &[u8] = ops.get(j).map(|o| o.as_slice()).unwrap_or(&[]);
                ensure!(op.len() <= p.max_op_bytes, "operation of {} bytes, the basic circuit takes {}", op.len(), p.max_op_bytes);
                pw.set_bool_target(t.present[j], j < ops.len())?;
                pw.set_target(t.len[j], fe(op.len() as u64))?;
                let ws = words(op);
                for (k, &target) in t.words[j].iter().enumerate() {
                    pw.set_target(target, fe(ws.get(k).copied().unwrap_or(0)))?;
                }
            }
            &bc.data
        }
        (WitnessBody::Aggregate { children }, ROUND_LEAF | ROUND_NODE) => {
            let (agg, inner) = if job.round == ROUND_LEAF {
                (set.leaf()?, &set.basics()[0].data.common)
            } else {
                (set.node()?, &set.node()?.data.common)
            };
            ensure!(!children.is_empty() && children.len() <= agg.arity, "{} children, the circuit takes 1 to {}", children.len(), agg.arity);
            let proofs = children.iter().map(|c| decode_proof(c, inner)).collect::<Result<Vec<_>>>()?;
            let t = &agg.t;
            pw.set_target(t.circuit_id, fe(circuit_id as u64))?;
            pw.set_target(t.seq, fe(job.seq as u64))?;
            pw.set_target(t.batch, fe(job.batch))?;
            if let Some(depth) = t.depth {
                pw.set_target(depth, fe(job.depth as u64))?;
            }
            if let Some(vd) = &t.own_vd {
                pw.set_verifier_data_target(vd, &agg.data.verifier_only)?;
            }
            for i in 0..agg.arity {
                pw.set_bool_target(t.active[i], i < proofs.len())?;
                let child = proofs.get(i).unwrap_or(&proofs[0]);
                pw.set_proof_with_pis_target(&t.children[i], &child.proof)?;
            }
            &agg.data
        }
        (WitnessBody::Aggregate { children }, ROUND_TIP) => {
            let tip = set.tip()?;
            let inner = &set.node()?.data.common;
            ensure!(!children.is_empty() && children.len() <= p.tip_capacity, "{} final node proofs, the recursion tip takes 1 to {}", children.len(), p.tip_capacity);
            let proofs = children.iter().map(|c| decode_proof(c, inner)).collect::<Result<Vec<_>>>()?;
            pw.set_target(tip.t.batch, fe(job.batch))?;
            for i in 0..p.tip_capacity {
                pw.set_bool_target(tip.t.active[i], i < proofs.len())?;
                let child = proofs.get(i).unwrap_or(&proofs[0]);
                pw.set_proof_with_pis_target(&tip.t.children[i], &child.proof)?;
            }
            &tip.data
        }
        (WitnessBody::Aggregate { children }, ROUND_SCHEDULER | ROUND_COMPRESSION) => {
            let (top, inner) = if job.round == ROUND_SCHEDULER {
                (set.scheduler()?, &set.tip()?.data.common)
            } else {
                (set.compression()?, &set.scheduler()?.data.common)
            };
            ensure!(children.len() == 1, "{} children, the circuit takes exactly one", children.len());
            let child = decode_proof(&children[0], inner)?;
            pw.set_target(top.t.batch, fe(job.batch))?;
            pw.set_proof_with_pis_target(&top.t.children[0], &child.proof)?;
            &top.data
        }
        _ => bail!("witness body does not fit round {}", job.round),
    };
    let generated = guarded("witness generation", || {
        generate_partial_witness(pw, &data.prover_only, &data.common).context("witness generation failed (the inputs do not satisfy the circuit)")
    })?;
    let mut out = Vec::with_capacity(17 + generated.values.len() * 8);
    out.extend(VECTOR_MAGIC);
    out.push(job.round as u8);
    out.extend(circuit_id.to_be_bytes());
    out.extend(job.batch.to_be_bytes());
    out.extend((generated.values.len() as u32).to_be_bytes());
    for v in &generated.values {
        out.extend(v.map(|x| x.to_canonical_u64()).unwrap_or(u64::MAX).to_le_bytes());
    }
    Ok(out)
}

/// Step 2: proves from a witness vector.
pub fn prove(set: &CircuitSet, vector: &[u8]) -> Result<Vec<u8>> {
    let mut r = Reader::new(vector);
    ensure!(r.take(4)? == VECTOR_MAGIC, "not a native witness vector (bad magic)");
    let round = r.u8()? as u32;
    let circuit_id = r.u32()?;
    let _batch = r.u64()?;
    let n = r.u32()? as usize;
    let raw = r.rest();
    ensure!(raw.len() == n * 8, "witness vector length mismatch");
    let data = set.circuit(round, circuit_id)?;
    let mut pw = PartitionWitness::new(data.common.config.num_wires, data.common.degree(), &data.prover_only.representative_map);
    ensure!(pw.values.len() == n, "witness vector has {n} values, the circuit {}", pw.values.len());
    for (slot, chunk) in pw.values.iter_mut().zip(raw.chunks_exact(8)) {
        let x = u64::from_le_bytes(chunk.try_into()?);
        *slot = if x == u64::MAX {
            None
        } else {
            ensure!(x < F::ORDER, "witness value out of the field");
            Some(F::from_canonical_u64(x))
        };
    }
    let proof = guarded("proving", || {
        prove_with_partition_witness::<F, C, D>(&data.prover_only, &data.common, pw, &mut TimingTree::default())
    })?;
    // Copy constraints are enforced while the witness is generated; a gate constraint that the
    // witness breaks only shows in the proof. Never hand out a proof that does not verify.
    guarded("verification", || data.verify(proof.clone()).context("the witness does not satisfy the circuit: the proof does not verify"))?;
    encode_proof(round, circuit_id, &proof)
}

/// Verifies a proof of round `round` (for round 0: of basic type `circuit_id`) outside a circuit:
/// plonky2's verifier with that level's verifier data, and for node proofs, that the verifier
/// data they carry as public inputs is the node circuit's.
pub fn verify(set: &CircuitSet, round: u32, circuit_id: u32, bytes: &[u8]) -> Result<()> {
    let (h_round, h_circuit, _, _) = proof_header(bytes)?;
    ensure!(h_round == round, "proof of round {h_round}, expected round {round}");
    if round == ROUND_BASIC {
        ensure!(h_circuit == circuit_id, "proof of basic circuit {h_circuit}, expected {circuit_id}");
    }
    let data = set.circuit(round, circuit_id)?;
    let p = decode_proof(bytes, &data.common)?;
    let pis = p.proof.public_inputs.clone();
    guarded("verification", || data.verify(p.proof).context("proof does not verify"))?;
    match round {
        ROUND_LEAF => ensure!(pis[PI_VD..PI_VD + VD_LEN].iter().all(|x| *x == F::ZERO), "leaf proof carries verifier data"),
        ROUND_NODE => ensure!(
            pis[PI_VD..PI_VD + VD_LEN] == vd_values(&set.node()?.data.verifier_only)[..],
            "node proof made for other verifier data than the node circuit's"
        ),
        _ => {}
    }
    Ok(())
}
