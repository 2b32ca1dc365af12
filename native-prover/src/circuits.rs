//! The circuit set of one protocol version: basic circuits (one per basic type), the universal
//! leaf and node aggregation circuits, the recursion tip, the scheduler and the compression
//! circuit. Every circuit has the protocol version as constants, so the verifier data of one
//! version's set differs from every other version's.
//!
//! Public inputs, "chain" layout (basic, leaf and node proofs):
//!
//! | index  | what |
//! |--------|------|
//! | 0, 1   | protocol version minor, patch (constants of the circuit) |
//! | 2      | batch number |
//! | 3      | aggregation round (constant: 0 basic, 1 leaf, 2 node) |
//! | 4      | circuit id (basic id for basic proofs, leaf id for leaf and node proofs) |
//! | 5      | depth |
//! | 6      | sequence number |
//! | 7      | basic instances covered |
//! | 8..16  | stateIn, eight big-endian u32 words of the 32-byte state |
//! | 16..24 | stateOut, same |
//! | 24..28 | trace: Poseidon commitment to every operation covered (hash chain / tree) |
//! | 28..96 | leaf and node only: verifier data (cap, digest) of the node circuit (zeros in leaf proofs) |
//!
//! "Top" layout (tip, scheduler, compression): 0..8 as above (count = instances of the batch),
//! 8 = number of circuit types, then `tip_capacity` slots of 18 (leaf id, instances, initial
//! state, final state; zeros when unused), then the Poseidon tip commitment (4) and the
//! Poseidon batch commitment (4, zeros in the tip proof).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use plonky2::field::types::Field;
use plonky2::gates::gate::GateRef;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::hash_types::{HashOutTarget, MerkleCapTarget};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::circuit_data::{
    CircuitConfig, CircuitData, CommonCircuitData, VerifierCircuitTarget, VerifierOnlyCircuitData,
};
use plonky2::plonk::config::{GenericConfig, PoseidonGoldilocksConfig};
use plonky2::plonk::proof::ProofWithPublicInputsTarget;

pub const D: usize = 2;
pub type C = PoseidonGoldilocksConfig;
pub type F = <C as GenericConfig<D>>::F;
pub type Circuit = CircuitData<F, C, D>;
pub type Common = CommonCircuitData<F, D>;
pub type VerifierOnly = VerifierOnlyCircuitData<C, D>;

// Chain layout.
pub const PI_MINOR: usize = 0;
pub const PI_PATCH: usize = 1;
pub const PI_BATCH: usize = 2;
pub const PI_ROUND: usize = 3;
pub const PI_CIRCUIT: usize = 4;
pub const PI_DEPTH: usize = 5;
pub const PI_SEQ: usize = 6;
pub const PI_COUNT: usize = 7;
pub const PI_STATE_IN: usize = 8;
pub const PI_STATE_OUT: usize = 16;
pub const PI_TRACE: usize = 24;
pub const CHAIN_PIS: usize = 28;
pub const PI_VD: usize = 28;
/// Verifier data as public inputs: cap of 2^4 hashes and the circuit digest.
pub const VD_LEN: usize = 16 * 4 + 4;
pub const AGG_PIS: usize = PI_VD + VD_LEN;
// Top layout.
pub const PI_NUM_TYPES: usize = 8;
pub const PI_SLOTS: usize = 9;
pub const SLOT_LEN: usize = 18;
pub fn top_pis(tip_capacity: usize) -> usize {
    PI_SLOTS + SLOT_LEN * tip_capacity + 8
}
pub fn pi_tip_commitment(tip_capacity: usize) -> usize {
    PI_SLOTS + SLOT_LEN * tip_capacity
}
pub fn pi_batch_commitment(tip_capacity: usize) -> usize {
    pi_tip_commitment(tip_capacity) + 4
}

pub const ROUND_BASIC: u32 = 0;
pub const ROUND_LEAF: u32 = 1;
pub const ROUND_NODE: u32 = 2;
pub const ROUND_TIP: u32 = 3;
pub const ROUND_SCHEDULER: u32 = 4;
pub const ROUND_COMPRESSION: u32 = 5;
pub const TIP_CIRCUIT_ID: u32 = 255;
pub const SCHEDULER_CIRCUIT_ID: u32 = 1;
pub const COMPRESSION_CIRCUIT_ID: u32 = 1;

// Domain separators of the Poseidon commitments.
const TAG_BASIC: u64 = 0x7a6b_7062_0001;
const TAG_AGG: u64 = 0x7a6b_7062_0002;
const TAG_TIP: u64 = 0x7a6b_7062_0003;
const TAG_BATCH: u64 = 0x7a6b_7062_0004;

/// Basic circuit ids of the catalog (topics/catalog.ts), ascending, with their leaf ids.
pub const BASIC_IDS: [u32; 20] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 255];

pub fn leaf_id_for_basic(basic: u32) -> Option<u32> {
    match basic {
        1..=15 => Some(basic + 2),
        255 => Some(18),
        16..=19 => Some(basic + 3),
        _ => None,
    }
}

pub fn basic_id_for_leaf(leaf: u32) -> Option<u32> {
    BASIC_IDS.iter().copied().find(|&b| leaf_id_for_basic(b) == Some(leaf))
}

/// What a circuit set is made for. Two sets with different parameters have different circuits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetParams {
    pub minor: u32,
    pub patch: u32,
    pub leaf_arity: usize,
    pub node_arity: usize,
    pub tip_capacity: usize,
    /// Operations per basic instance, at most.
    pub instance_capacity: usize,
    /// Bytes per operation, at most.
    pub max_op_bytes: usize,
}

impl SetParams {
    pub fn check(&self) -> Result<()> {
        if self.leaf_arity < 1 || self.leaf_arity > 256 {
            bail!("leaf arity must be in 1..=256, got {}", self.leaf_arity);
        }
        if self.node_arity < 2 || self.node_arity > 256 {
            bail!("node arity must be in 2..=256, got {}", self.node_arity);
        }
        if self.tip_capacity < 1 || self.tip_capacity > BASIC_IDS.len() {
            bail!("tip capacity must be in 1..={}, got {}", BASIC_IDS.len(), self.tip_capacity);
        }
        if self.instance_capacity < 1 || self.instance_capacity > 1024 {
            bail!("instance capacity must be in 1..=1024, got {}", self.instance_capacity);
        }
        if self.max_op_bytes < 1 || self.max_op_bytes > 4096 {
            bail!("max op bytes must be in 1..=4096, got {}", self.max_op_bytes);
        }
        Ok(())
    }
    pub fn op_words(&self) -> usize {
        self.max_op_bytes.div_ceil(4)
    }
}

pub fn recursion_config() -> CircuitConfig {
    CircuitConfig::standard_recursion_config()
}

/// The compression layer: rate 1/32 and 17 FRI queries (5 * 17 + 16 bits of grinding = 101
/// conjectured bits, as the standard 3 * 28 + 16 = 100), so 11 fewer query openings: a smaller
/// final proof for a 4x larger evaluation domain when proving.
pub fn compression_config() -> CircuitConfig {
    let mut c = CircuitConfig::standard_recursion_config();
    c.fri_config.rate_bits = 5;
    c.fri_config.num_query_rounds = 17;
    c
}

// ---------------------------------------------------------------------------------------------
// Small gadgets

fn constant(b: &mut CircuitBuilder<F, D>, v: u64) -> Target {
    b.constant(F::from_canonical_u64(v))
}

/// `cond * (x - y) == 0`.
fn assert_eq_if(b: &mut CircuitBuilder<F, D>, cond: BoolTarget, x: Target, y: Target) {
    let d = b.sub(x, y);
    let m = b.mul(cond.target, d);
    b.assert_zero(m);
}

fn vd_elements(vd: &VerifierCircuitTarget) -> Vec<Target> {
    let mut out: Vec<Target> = vd.constants_sigmas_cap.0.iter().flat_map(|h| h.elements).collect();
    out.extend(vd.circuit_digest.elements);
    out
}

fn vd_from_elements(elements: &[Target]) -> VerifierCircuitTarget {
    assert_eq!(elements.len(), VD_LEN);
    let cap = elements[..VD_LEN - 4].chunks(4).map(|c| HashOutTarget::from_vec(c.to_vec())).collect();
    VerifierCircuitTarget {
        constants_sigmas_cap: MerkleCapTarget(cap),
        circuit_digest: HashOutTarget::from_vec(elements[VD_LEN - 4..].to_vec()),
    }
}

pub fn vd_values(vd: &VerifierOnly) -> Vec<F> {
    let mut out: Vec<F> = vd.constants_sigmas_cap.0.iter().flat_map(|h| h.elements).collect();
    out.extend(vd.circuit_digest.elements);
    out
}

/// Flags `active[0..n]`: booleans, the first one set, each set only if the previous one is.
fn prefix_flags(b: &mut CircuitBuilder<F, D>, n: usize) -> Vec<BoolTarget> {
    let flags: Vec<BoolTarget> = (0..n).map(|_| b.add_virtual_bool_target_safe()).collect();
    b.assert_one(flags[0].target);
    for i in 1..n {
        // active[i] => active[i-1]
        let not_prev = b.not(flags[i - 1]);
        let m = b.mul(flags[i].target, not_prev.target);
        b.assert_zero(m);
    }
    flags
}

/// Shape every circuit of a level must reach (so leaf and node proofs share one common data).
#[derive(Clone)]
pub struct Shape {
    pub gates: Vec<GateRef<F, D>>,
    pub degree_bits: usize,
}

impl Shape {
    fn of(common: &Common) -> Shape {
        Shape { gates: common.gates.clone(), degree_bits: common.degree_bits() }
    }
    fn union(&self, other: &Shape) -> Shape {
        let mut by_id: BTreeMap<String, GateRef<F, D>> = BTreeMap::new();
        for g in self.gates.iter().chain(other.gates.iter()) {
            by_id.entry(g.0.id()).or_insert_with(|| g.clone());
        }
        Shape { gates: by_id.into_values().collect(), degree_bits: self.degree_bits.max(other.degree_bits) }
    }
    fn apply(&self, b: &mut CircuitBuilder<F, D>) {
        for g in &self.gates {
            b.add_gate_to_gate_set(g.clone());
        }
        let floor = (1usize << (self.degree_bits - 1)) + 1;
        while b.num_gates() < floor {
            b.add_gate(NoopGate, vec![]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Basic circuit

pub struct BasicTargets {
    pub batch: Target,
    pub seq: Target,
    pub state_in: [Target; 8],
    pub state_out: [Target; 8],
    pub present: Vec<BoolTarget>,
    pub len: Vec<Target>,
    pub words: Vec<Vec<Target>>,
}

pub struct BasicCircuit {
    pub circuit_id: u32,
    pub data: Circuit,
    pub t: BasicTargets,
}

/// stateOut is carried, not computed: the SHA-256 step of lib/batch-execution is not in the
/// circuit (see docs/native-prover.md). The circuit proves the Poseidon chain over the instance:
/// h0 = H(tag, version, batch, type, seq, stateIn), h_{j+1} = H(h_j, present_j, len_j, words_j).
pub fn build_basic(p: &SetParams, circuit_id: u32) -> BasicCircuit {
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let minor = constant(&mut b, p.minor as u64);
    let patch = constant(&mut b, p.patch as u64);
    let round = constant(&mut b, ROUND_BASIC as u64);
    let cid = constant(&mut b, circuit_id as u64);
    let zero = b.zero();
    let one = b.one();
    let batch = b.add_virtual_target();
    let seq = b.add_virtual_target();
    let state_in: [Target; 8] = core::array::from_fn(|_| b.add_virtual_target());
    let state_out: [Target; 8] = core::array::from_fn(|_| b.add_virtual_target());
    for &w in state_in.iter().chain(state_out.iter()) {
        b.range_check(w, 32);
    }
    let k = p.instance_capacity;
    let words_per_op = p.op_words();
    let present = prefix_flags(&mut b, k);
    let max_len = constant(&mut b, p.max_op_bytes as u64);
    let mut len = Vec::with_capacity(k);
    let mut words = Vec::with_capacity(k);
    let tag = constant(&mut b, TAG_BASIC);
    let mut inputs = vec![tag, minor, patch, batch, cid, seq];
    inputs.extend(state_in);
    let mut h = b.hash_n_to_hash_no_pad::<PoseidonHash>(inputs);
    for j in 0..k {
        let l = b.add_virtual_target();
        // 0 <= len <= max_op_bytes, and 0 when the slot is empty.
        let room = b.sub(max_len, l);
        b.range_check(room, 16);
        let not_present = b.not(present[j]);
        let m = b.mul(not_present.target, l);
        b.assert_zero(m);
        let ws: Vec<Target> = (0..words_per_op).map(|_| b.add_virtual_target()).collect();
        for &w in &ws {
            b.range_check(w, 32);
        }
        let mut step = h.elements.to_vec();
        step.push(present[j].target);
        step.push(l);
        step.extend(&ws);
        h = b.hash_n_to_hash_no_pad::<PoseidonHash>(step);
        len.push(l);
        words.push(ws);
    }
    b.register_public_inputs(&[minor, patch, batch, round, cid, zero, seq, one]);
    b.register_public_inputs(&state_in);
    b.register_public_inputs(&state_out);
    b.register_public_inputs(&h.elements);
    let data = b.build::<C>();
    BasicCircuit { circuit_id, data, t: BasicTargets { batch, seq, state_in, state_out, present, len, words } }
}

// ---------------------------------------------------------------------------------------------
// Leaf and node: chain aggregation

pub struct AggTargets {
    pub circuit_id: Target,
    pub depth: Option<Target>,
    pub seq: Target,
    pub batch: Target,
    pub active: Vec<BoolTarget>,
    pub children: Vec<ProofWithPublicInputsTarget<D>>,
    /// Node only: its own verifier data, a public input.
    pub own_vd: Option<VerifierCircuitTarget>,
}

pub struct AggCircuit {
    pub data: Circuit,
    pub t: AggTargets,
    pub arity: usize,
}

/// What leaf and node share: children of one type, consecutive from `seq * arity`, chained
/// stateOut -> stateIn; registers the chain public inputs (0..28).
#[allow(clippy::too_many_arguments)]
fn chain_children(
    b: &mut CircuitBuilder<F, D>,
    p: &SetParams,
    round: u32,
    arity: usize,
    children: &[ProofWithPublicInputsTarget<D>],
    active: &[BoolTarget],
    circuit_id: Target,
    depth: Target,
    seq: Target,
    batch: Target,
) {
    let minor = constant(b, p.minor as u64);
    let patch = constant(b, p.patch as u64);
    let round_t = constant(b, round as u64);
    let zero = b.zero();
    let arity_t = constant(b, arity as u64);
    let first_seq = b.mul(seq, arity_t);
    let mut count = zero;
    let mut trace_inputs = vec![constant(b, TAG_AGG)];
    let mut state_out = [zero; 8];
    for (i, child) in children.iter().enumerate() {
        let pis = &child.public_inputs;
        // Slots past the last child hold a copy of child 0, so these hold for them too.
        b.connect(pis[PI_MINOR], minor);
        b.connect(pis[PI_PATCH], patch);
        b.connect(pis[PI_BATCH], batch);
        let a = active[i];
        let i_t = constant(b, i as u64);
        let want_seq = b.add(first_seq, i_t);
        assert_eq_if(b, a, pis[PI_SEQ], want_seq);
        if i > 0 {
            let prev = &children[i - 1].public_inputs;
            for w in 0..8 {
                assert_eq_if(b, a, pis[PI_STATE_IN + w], prev[PI_STATE_OUT + w]);
            }
        }
        count = b.mul_add(a.target, pis[PI_COUNT], count);
        // last[i] = active[i] - active[i+1]
        let last = if i + 1 < children.len() { b.sub(a.target, active[i + 1].target) } else { a.target };
        for (w, out) in state_out.iter_mut().enumerate() {
            *out = b.mul_add(last, pis[PI_STATE_OUT + w], *out);
        }
        for e in 0..4 {
            let masked = b.mul(a.target, pis[PI_TRACE + e]);
            trace_inputs.push(masked);
        }
    }
    trace_inputs.push(count);
    let trace = b.hash_n_to_hash_no_pad::<PoseidonHash>(trace_inputs);
    let first = &children[0].public_inputs;
    b.register_public_inputs(&[minor, patch, batch, round_t, circuit_id, depth, seq, count]);
    b.register_public_inputs(&first[PI_STATE_IN..PI_STATE_IN + 8]);
    b.register_public_inputs(&state_out);
    b.register_public_inputs(&trace.elements);
}

/// The universal leaf: up to `leaf_arity` basic proofs of the type named by its circuit id (a
/// leaf id), each verified with that type's basic verifier data (a table of every type's).
pub fn build_leaf(p: &SetParams, basics: &[BasicCircuit], shape: Option<&Shape>) -> AggCircuit {
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let basic_common = &basics[0].data.common;
    let circuit_id = b.add_virtual_target();
    let seq = b.add_virtual_target();
    let batch = b.add_virtual_target();
    let zero = b.zero();
    // Table lookup: exactly one entry matches the leaf id.
    let mut matched = zero;
    let mut basic_id = zero;
    let mut vd_sel = vec![zero; VD_LEN];
    for basic in basics {
        let leaf = leaf_id_for_basic(basic.circuit_id).expect("catalog basic id");
        let leaf_t = constant(&mut b, leaf as u64);
        let eq = b.is_equal(circuit_id, leaf_t);
        matched = b.add(matched, eq.target);
        let bid = constant(&mut b, basic.circuit_id as u64);
        basic_id = b.mul_add(eq.target, bid, basic_id);
        for (e, v) in vd_values(&basic.data.verifier_only).into_iter().enumerate() {
            let c = b.constant(v);
            vd_sel[e] = b.mul_add(eq.target, c, vd_sel[e]);
        }
    }
    b.assert_one(matched);
    let vd = vd_from_elements(&vd_sel);
    let arity = p.leaf_arity;
    let active = prefix_flags(&mut b, arity);
    let round0 = b.zero();
    let mut children = Vec::with_capacity(arity);
    for _ in 0..arity {
        let child = b.add_virtual_proof_with_pis(basic_common);
        b.verify_proof::<C>(&child, &vd, basic_common);
        b.connect(child.public_inputs[PI_ROUND], round0);
        b.connect(child.public_inputs[PI_CIRCUIT], basic_id);
        children.push(child);
    }
    chain_children(&mut b, p, ROUND_LEAF, arity, &children, &active, circuit_id, zero, seq, batch);
    b.register_public_inputs(&vec![zero; VD_LEN]);
    if let Some(s) = shape {
        s.apply(&mut b);
    }
    let data = b.build::<C>();
    AggCircuit { data, t: AggTargets { circuit_id, depth: None, seq, batch, active, children, own_vd: None }, arity }
}

/// The universal node: up to `node_arity` proofs of one type, all leaf proofs (depth 0) or all
/// node proofs of depth - 1. Leaf children are verified with the leaf verifier data (a
/// constant); node children with the node's own verifier data, which is a public input (the
/// circuit cannot contain its own digest) that every node child must repeat and that the tip
/// and the outside verifier compare with the real one.
pub fn build_node(p: &SetParams, inner: &Common, leaf_vd: &VerifierOnly, shape: &Shape) -> AggCircuit {
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let circuit_id = b.add_virtual_target();
    let depth = b.add_virtual_target();
    let seq = b.add_virtual_target();
    let batch = b.add_virtual_target();
    b.range_check(depth, 16);
    let own_vd = b.add_virtual_verifier_data(inner.config.fri_config.cap_height);
    let own = vd_elements(&own_vd);
    let leaf_const = b.constant_verifier_data::<C>(leaf_vd);
    let leaf_elems = vd_elements(&leaf_const);
    let zero = b.zero();
    let is_d0 = b.is_equal(depth, zero);
    let not_d0 = b.not(is_d0);
    let child_vd_elems: Vec<Target> = (0..VD_LEN).map(|e| b.select(is_d0, leaf_elems[e], own[e])).collect();
    let child_vd = vd_from_elements(&child_vd_elems);
    let one = b.one();
    let two = constant(&mut b, ROUND_NODE as u64);
    let child_round = b.select(is_d0, one, two);
    let depth_minus_1 = b.sub(depth, one);
    let child_depth = b.select(is_d0, zero, depth_minus_1);
    let arity = p.node_arity;
    let active = prefix_flags(&mut b, arity);
    let mut children = Vec::with_capacity(arity);
    for _ in 0..arity {
        let child = b.add_virtual_proof_with_pis(inner);
        b.verify_proof::<C>(&child, &child_vd, inner);
        let pis = child.public_inputs.clone();
        b.connect(pis[PI_ROUND], child_round);
        b.connect(pis[PI_DEPTH], child_depth);
        b.connect(pis[PI_CIRCUIT], circuit_id);
        for e in 0..VD_LEN {
            assert_eq_if(&mut b, not_d0, pis[PI_VD + e], own[e]);
        }
        children.push(child);
    }
    chain_children(&mut b, p, ROUND_NODE, arity, &children, &active, circuit_id, depth, seq, batch);
    b.register_public_inputs(&own);
    shape.apply(&mut b);
    let data = b.build::<C>();
    AggCircuit {
        data,
        t: AggTargets { circuit_id, depth: Some(depth), seq, batch, active, children, own_vd: Some(own_vd) },
        arity,
    }
}

/// Builds leaf and node so that both have the same common data (the node verifies either with
/// one verifier gadget): pads both to the union of their gates and the larger degree until the
/// node built for proofs of that shape has that shape itself.
pub fn build_aggregation(p: &SetParams, basics: &[BasicCircuit]) -> Result<(AggCircuit, AggCircuit)> {
    let mut shape: Option<Shape> = None;
    for _ in 0..8 {
        let leaf = build_leaf(p, basics, shape.as_ref());
        let target = match &shape {
            Some(s) => s.union(&Shape::of(&leaf.data.common)),
            None => Shape::of(&leaf.data.common),
        };
        let node = build_node(p, &leaf.data.common, &leaf.data.verifier_only, &target);
        if node.data.common == leaf.data.common {
            return Ok((leaf, node));
        }
        shape = Some(target.union(&Shape::of(&node.data.common)));
    }
    Err(anyhow!("leaf and node circuits did not reach a common shape"))
}

// ---------------------------------------------------------------------------------------------
// Recursion tip, scheduler, compression

pub struct TopTargets {
    pub batch: Target,
    pub active: Vec<BoolTarget>,
    pub children: Vec<ProofWithPublicInputsTarget<D>>,
}

pub struct TopCircuit {
    pub data: Circuit,
    pub t: TopTargets,
}

/// The recursion tip: one final node proof per circuit type present, strictly ascending leaf
/// ids, all verified with the node's verifier data (a constant here, closing the node cycle).
pub fn build_tip(p: &SetParams, node: &AggCircuit) -> TopCircuit {
    let mut b = CircuitBuilder::<F, D>::new(recursion_config());
    let inner = &node.data.common;
    let node_vd = b.constant_verifier_data::<C>(&node.data.verifier_only);
    let node_vd_elems = vd_elements(&node_vd);
    let minor = constant(&mut b, p.minor as u64);
    let patch = constant(&mut b, p.patch as u64);
    let round_node = constant(&mut b, ROUND_NODE as u64);
    let zero = b.zero();
    let one = b.one();
    let batch = b.add_virtual_target();
    let n = p.tip_capacity;
    let active = prefix_flags(&mut b, n);
    let mut children = Vec::with_capacity(n);
    let mut count = zero;
    let mut num_types = zero;
    let mut slots: Vec<Target> = Vec::with_capacity(n * SLOT_LEN);
    let mut commit_inputs = vec![constant(&mut b, TAG_TIP)];
    for i in 0..n {
        let child = b.add_virtual_proof_with_pis(inner);
        b.verify_proof::<C>(&child, &node_vd, inner);
        let pis = child.public_inputs.clone();
        b.connect(pis[PI_MINOR], minor);
        b.connect(pis[PI_PATCH], patch);
        b.connect(pis[PI_BATCH], batch);
        b.connect(pis[PI_ROUND], round_node);
        b.connect(pis[PI_SEQ], zero);
        for e in 0..VD_LEN {
            b.connect(pis[PI_VD + e], node_vd_elems[e]);
        }
        let a = active[i];
        if i > 0 {
            // ascending leaf ids: id[i] - id[i-1] - 1 in [0, 2^16) when active
            let prev = children_id(&children, i - 1);
            let diff = b.sub(pis[PI_CIRCUIT], prev);
            let gap = b.sub(diff, one);
            let masked = b.mul(a.target, gap);
            b.range_check(masked, 16);
        }
        count = b.mul_add(a.target, pis[PI_COUNT], count);
        num_types = b.add(num_types, a.target);
        let mut slot = vec![pis[PI_CIRCUIT], pis[PI_COUNT]];
        slot.extend(&pis[PI_STATE_IN..PI_STATE_IN + 8]);
        slot.extend(&pis[PI_STATE_OUT..PI_STATE_OUT + 8]);
        for &x in &slot {
            let m = b.mul(a.target, x);
            slots.push(m);
            commit_inputs.push(m);
        }
        for e in 0..4 {
            let m = b.mul(a.target, pis[PI_TRACE + e]);
            commit_inputs.push(m);
        }
        children.push(child);
    }
    let commitment = b.hash_n_to_hash_no_pad::<PoseidonHash>(commit_inputs);
    let round = constant(&mut b, ROUND_TIP as u64);
    let cid = constant(&mut b, TIP_CIRCUIT_ID as u64);
    b.register_public_inputs(&[minor, patch, batch, round, cid, zero, zero, count, num_types]);
    b.register_public_inputs(&slots);
    b.register_public_inputs(&commitment.elements);
    b.register_public_inputs(&[zero; 4]);
    let data = b.build::<C>();
    TopCircuit { data, t: TopTargets { batch, active, children } }
}

fn children_id(children: &[ProofWithPublicInputsTarget<D>], i: usize) -> Target {
    children[i].public_inputs[PI_CIRCUIT]
}

/// Scheduler (binds the batch commitment) and compression (re-proves with a smaller-proof
/// configuration): one child of the previous level, whose top public inputs are carried over.
fn build_single(p: &SetParams, config: CircuitConfig, child_round: u32, child_cid: u32, round: u32, cid: u32, inner: &Circuit) -> TopCircuit {
    let mut b = CircuitBuilder::<F, D>::new(config);
    let vd = b.constant_verifier_data::<C>(&inner.verifier_only);
    let child = b.add_virtual_proof_with_pis(&inner.common);
    b.verify_proof::<C>(&child, &vd, &inner.common);
    let pis = child.public_inputs.clone();
    let minor = constant(&mut b, p.minor as u64);
    let patch = constant(&mut b, p.patch as u64);
    let child_round_t = constant(&mut b, child_round as u64);
    let child_cid_t = constant(&mut b, child_cid as u64);
    b.connect(pis[PI_MINOR], minor);
    b.connect(pis[PI_PATCH], patch);
    b.connect(pis[PI_ROUND], child_round_t);
    b.connect(pis[PI_CIRCUIT], child_cid_t);
    let batch = pis[PI_BATCH];
    let round_t = constant(&mut b, round as u64);
    let cid_t = constant(&mut b, cid as u64);
    let tip_at = pi_tip_commitment(p.tip_capacity);
    let batch_at = pi_batch_commitment(p.tip_capacity);
    let mut out = pis.clone();
    out[PI_ROUND] = round_t;
    out[PI_CIRCUIT] = cid_t;
    if round == ROUND_SCHEDULER {
        let tag = constant(&mut b, TAG_BATCH);
        let mut inputs = vec![tag, minor, patch, batch];
        inputs.extend(&pis[tip_at..tip_at + 4]);
        let commitment = b.hash_n_to_hash_no_pad::<PoseidonHash>(inputs);
        out[batch_at..batch_at + 4].copy_from_slice(&commitment.elements);
    }
    b.register_public_inputs(&out);
    let data = b.build::<C>();
    TopCircuit { data, t: TopTargets { batch, active: vec![], children: vec![child] } }
}

pub fn build_scheduler(p: &SetParams, tip: &TopCircuit) -> TopCircuit {
    build_single(p, recursion_config(), ROUND_TIP, TIP_CIRCUIT_ID, ROUND_SCHEDULER, SCHEDULER_CIRCUIT_ID, &tip.data)
}

pub fn build_compression(p: &SetParams, scheduler: &TopCircuit) -> TopCircuit {
    build_single(
        p,
        compression_config(),
        ROUND_SCHEDULER,
        SCHEDULER_CIRCUIT_ID,
        ROUND_COMPRESSION,
        COMPRESSION_CIRCUIT_ID,
        &scheduler.data,
    )
}
