//! The benchmark's reference: plonky2 used directly from Rust, the way its own recursion
//! examples do (build a circuit, prove it, build a circuit that verifies such proofs, prove
//! that), at the sizes of this crate's basic and leaf circuits: same configuration, the same
//! Poseidon work per basic instance, the same degrees. Nothing of this crate's proving path
//! (witness formats, witness vectors, Node) is involved in what is timed.

use std::time::Instant;

use anyhow::Result;
use plonky2::field::types::Field;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_builder::CircuitBuilder;

use crate::circuits::*;
use crate::prover;

pub struct ReferenceTimes {
    pub basic_prove_s: f64,
    pub recursion_prove_s: f64,
    /// CPU seconds (user + system, all threads of the process) per proof: comparable between
    /// runs on a machine shared with other work, where wall time is not.
    pub basic_cpu_s: f64,
    pub recursion_cpu_s: f64,
    pub basic_degree_bits: usize,
    pub recursion_degree_bits: usize,
    pub children: usize,
}

fn pad_to(b: &mut CircuitBuilder<F, D>, degree_bits: usize) {
    while b.num_gates() < (1 << (degree_bits - 1)) + 1 {
        b.add_gate(NoopGate, vec![]);
    }
}

/// User + system CPU seconds of this process so far (Linux), 0 where /proc is not readable.
pub fn process_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Times plonky2 used directly on the shapes of `params`' basic and leaf circuits: a basic-size
/// Poseidon chain circuit and a circuit verifying `leaf_arity` of its proofs, each proved
/// `rounds` times after a warm-up (medians).
pub fn reference(params: SetParams, rounds: usize) -> Result<ReferenceTimes> {
    let rounds = rounds.max(1);
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
    let mut inner_cpu = Vec::new();
    let mut proof = prove_inner()?;
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), process_cpu_s());
        proof = prove_inner()?;
        inner_times.push(t.elapsed().as_secs_f64());
        inner_cpu.push(process_cpu_s() - c);
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
    let mut outer_cpu = Vec::new();
    for _ in 0..=rounds {
        let mut pw = PartialWitness::new();
        for pt in &targets {
            pw.set_proof_with_pis_target(pt, &proof)?;
        }
        let (t, c) = (Instant::now(), process_cpu_s());
        let p = outer.prove(pw)?;
        outer_times.push(t.elapsed().as_secs_f64());
        outer_cpu.push(process_cpu_s() - c);
        outer.verify(p)?;
    }
    outer_times.remove(0);
    outer_cpu.remove(0);
    Ok(ReferenceTimes {
        basic_prove_s: median(inner_times),
        recursion_prove_s: median(outer_times),
        basic_cpu_s: median(inner_cpu),
        recursion_cpu_s: median(outer_cpu),
        basic_degree_bits: inner.common.degree_bits(),
        recursion_degree_bits: outer.common.degree_bits(),
        children: params.leaf_arity,
    })
}
