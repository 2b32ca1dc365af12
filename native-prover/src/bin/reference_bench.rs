//! The reference for `npm run bench:prover`: plonky2 used directly from Rust, the way its own
//! recursion examples do (build a circuit, prove, build a circuit that verifies those proofs,
//! prove), at the sizes of this crate's basic and leaf circuits (same configuration, same
//! Poseidon work per basic instance, same degree). Prints one JSON line.
//!
//!   reference-bench [--leaf-arity N] [--instance-capacity K] [--max-op-bytes B] [--rounds R]
//!   reference-bench smoke     proves a tiny two-type batch through every level (a quick check)

use std::time::Instant;

use anyhow::Result;
use native_prover::circuits::*;
use native_prover::prover::{self, Coordinates, JobWitness, WitnessBody};
use plonky2::field::types::Field;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_builder::CircuitBuilder;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn pad_to(b: &mut CircuitBuilder<F, D>, degree_bits: usize) {
    while b.num_gates() < (1 << (degree_bits - 1)) + 1 {
        b.add_gate(NoopGate, vec![]);
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn reference(args: &[String]) -> Result<()> {
    let params = SetParams {
        minor: 0,
        patch: 0,
        leaf_arity: arg(args, "--leaf-arity", 2),
        node_arity: 2,
        tip_capacity: 1,
        instance_capacity: arg(args, "--instance-capacity", 8),
        max_op_bytes: arg(args, "--max-op-bytes", 64),
    };
    let rounds = arg(args, "--rounds", 3);
    // The degrees to match: this crate's basic and leaf circuits for the same parameters.
    let set = prover::circuit_set(params)?;
    let basic_bits = set.basic(1)?.data.common.degree_bits();
    let leaf_bits = set.leaf()?.data.common.degree_bits();

    // Inner: a Poseidon hash chain over the instance, as plonky2's examples hash.
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let start = b.add_virtual_targets(14);
    let mut h = b.hash_n_to_hash_no_pad::<PoseidonHash>(start.clone());
    let mut inputs = start;
    for _ in 0..params.instance_capacity {
        let step_in = b.add_virtual_targets(2 + params.op_words());
        for &t in &step_in[2..] {
            b.range_check(t, 32);
        }
        let mut step = h.elements.to_vec();
        step.extend(&step_in);
        h = b.hash_n_to_hash_no_pad::<PoseidonHash>(step);
        inputs.extend(step_in);
    }
    b.register_public_inputs(&h.elements);
    pad_to(&mut b, basic_bits);
    let inner = b.build::<C>();
    let prove_inner = || {
        let mut pw = PartialWitness::new();
        for (i, &t) in inputs.iter().enumerate() {
            pw.set_target(t, F::from_canonical_u64(i as u64)).unwrap();
        }
        inner.prove(pw)
    };
    let mut inner_times = Vec::new();
    let mut proof = prove_inner()?;
    for _ in 0..rounds {
        let t = Instant::now();
        proof = prove_inner()?;
        inner_times.push(t.elapsed().as_secs_f64());
    }
    inner.verify(proof.clone())?;

    // Outer: verifies `leaf_arity` inner proofs, as in plonky2's recursion examples.
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let vd = b.constant_verifier_data::<C>(&inner.verifier_only);
    let mut targets = Vec::new();
    for _ in 0..params.leaf_arity {
        let pt = b.add_virtual_proof_with_pis(&inner.common);
        b.verify_proof::<C>(&pt, &vd, &inner.common);
        b.register_public_inputs(&pt.public_inputs);
        targets.push(pt);
    }
    pad_to(&mut b, leaf_bits);
    let outer = b.build::<C>();
    let mut outer_times = Vec::new();
    for _ in 0..=rounds {
        let mut pw = PartialWitness::new();
        for pt in &targets {
            pw.set_proof_with_pis_target(pt, &proof)?;
        }
        let t = Instant::now();
        let p = outer.prove(pw)?;
        outer_times.push(t.elapsed().as_secs_f64());
        outer.verify(p)?;
    }
    outer_times.remove(0);
    let basic = median(inner_times);
    let recursion = median(outer_times);
    println!(
        "{{\"basic_prove_s\":{basic:.4},\"recursion_prove_s\":{recursion:.4},\"reference_prove_s\":{:.4},\"basic_degree_bits\":{},\"recursion_degree_bits\":{},\"recursion_children\":{}}}",
        basic + recursion,
        inner.common.degree_bits(),
        outer.common.degree_bits(),
        params.leaf_arity
    );
    Ok(())
}

fn smoke() -> Result<()> {
    let p = SetParams { minor: 24, patch: 0, leaf_arity: 2, node_arity: 2, tip_capacity: 2, instance_capacity: 4, max_op_bytes: 32 };
    let t0 = Instant::now();
    let set = prover::circuit_set(p)?;
    for (name, digest, bits) in set.verification_keys()? {
        if !name.starts_with("basic/") || name == "basic/1" {
            eprintln!("{name}: degree 2^{bits} {}", &digest[..16]);
        }
    }
    eprintln!("circuits built in {:.1}s", t0.elapsed().as_secs_f64());
    let job = |round, circuit_id, depth, seq| Coordinates { round, minor: 24, patch: 0, batch: 7, circuit_id, depth, seq };
    let run = |w: JobWitness| -> Result<Vec<u8>> {
        let t = Instant::now();
        let round = w.job.round;
        let v = prover::witness_vector(&set, &prover::encode_witness(&w))?;
        let t1 = t.elapsed().as_secs_f64();
        let proof = prover::prove(&set, &v)?;
        let cid = if round == 0 { w.job.circuit_id } else { 0 };
        prover::verify(&set, round, cid, &proof)?;
        eprintln!("round {round}: witness vector {t1:.2}s, total {:.2}s, {} bytes", t.elapsed().as_secs_f64(), proof.len());
        Ok(proof)
    };
    let mut finals = Vec::new();
    for basic in [1u32, 3] {
        let leaf = leaf_id_for_basic(basic).unwrap();
        let mut state = [basic as u8; 32];
        let mut basics = Vec::new();
        for seq in 0..3u32 {
            let mut out = state;
            out[0] ^= seq as u8 + 1;
            let ops = vec![vec![seq as u8; 32], vec![1, 2, 3]];
            basics.push(run(JobWitness { job: job(0, basic, 0, seq), body: WitnessBody::Basic { state_in: state, state_out: out, ops } })?);
            state = out;
        }
        let l0 = run(JobWitness { job: job(1, leaf, 0, 0), body: WitnessBody::Aggregate { children: basics[0..2].to_vec() } })?;
        let l1 = run(JobWitness { job: job(1, leaf, 0, 1), body: WitnessBody::Aggregate { children: basics[2..3].to_vec() } })?;
        let n0 = run(JobWitness { job: job(2, leaf, 0, 0), body: WitnessBody::Aggregate { children: vec![l0, l1] } })?;
        let n1 = run(JobWitness { job: job(2, leaf, 1, 0), body: WitnessBody::Aggregate { children: vec![n0] } })?;
        finals.push(n1);
    }
    let tip = run(JobWitness { job: job(3, TIP_CIRCUIT_ID, 0, 0), body: WitnessBody::Aggregate { children: finals } })?;
    let sch = run(JobWitness { job: job(4, SCHEDULER_CIRCUIT_ID, 0, 0), body: WitnessBody::Aggregate { children: vec![tip] } })?;
    let _ = run(JobWitness { job: job(5, COMPRESSION_CIRCUIT_ID, 0, 0), body: WitnessBody::Aggregate { children: vec![sch] } })?;
    eprintln!("smoke: all levels proved and verified in {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(|s| s.as_str()) == Some("smoke") {
        smoke()
    } else {
        reference(&args)
    }
}
