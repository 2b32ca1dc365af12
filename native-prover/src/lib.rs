//! Recursive proofs for the proof pipeline: plonky2 circuits for every aggregation round, the
//! two proving steps, verification outside a circuit, and (feature `node`) the Node-API addon.
pub mod circuits;
pub mod prover;
pub mod reference;

#[cfg(feature = "node")]
mod node;
