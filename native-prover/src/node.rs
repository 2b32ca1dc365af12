//! Node-API bindings. Every call that builds circuits, generates a witness, proves or verifies
//! runs as an `AsyncTask` on libuv's thread pool, off the JavaScript event loop.
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::circuits::SetParams;
use crate::prover;

/// A circuit set: the protocol version and the geometry the circuits are built for.
#[napi(object)]
#[derive(Clone, Copy)]
pub struct CircuitParams {
    pub minor: u32,
    pub patch: u32,
    pub leaf_arity: u32,
    pub node_arity: u32,
    pub tip_capacity: u32,
    pub instance_capacity: u32,
    pub max_op_bytes: u32,
}

impl From<CircuitParams> for SetParams {
    fn from(p: CircuitParams) -> SetParams {
        SetParams {
            minor: p.minor,
            patch: p.patch,
            leaf_arity: p.leaf_arity as usize,
            node_arity: p.node_arity as usize,
            tip_capacity: p.tip_capacity as usize,
            instance_capacity: p.instance_capacity as usize,
            max_op_bytes: p.max_op_bytes as usize,
        }
    }
}

#[napi(object)]
pub struct VerificationKey {
    /// "basic/<id>", "leaf", "node", "tip", "scheduler", "compression".
    pub level: String,
    /// The circuit digest, hex.
    pub digest: String,
    pub degree_bits: u32,
}

fn err(e: anyhow::Error) -> Error {
    Error::from_reason(format!("{e:#}"))
}

type Job<T> = Box<dyn FnOnce() -> anyhow::Result<T> + Send>;

pub struct BytesTask(Option<Job<Vec<u8>>>);
impl Task for BytesTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;
    fn compute(&mut self) -> Result<Vec<u8>> {
        self.0.take().expect("task runs once")().map_err(err)
    }
    fn resolve(&mut self, _env: Env, out: Vec<u8>) -> Result<Buffer> {
        Ok(out.into())
    }
}

pub struct VerifyTask(Option<Job<()>>);
impl Task for VerifyTask {
    type Output = Option<String>;
    type JsValue = Option<String>;
    fn compute(&mut self) -> Result<Option<String>> {
        Ok(self.0.take().expect("task runs once")().err().map(|e| format!("{e:#}")))
    }
    fn resolve(&mut self, _env: Env, out: Option<String>) -> Result<Option<String>> {
        Ok(out)
    }
}

pub struct KeysTask(SetParams);
impl Task for KeysTask {
    type Output = Vec<(String, String, usize)>;
    type JsValue = Vec<VerificationKey>;
    fn compute(&mut self) -> Result<Self::Output> {
        keys(self.0)
    }
    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Vec<VerificationKey>> {
        Ok(to_js_keys(out))
    }
}

fn keys(p: SetParams) -> Result<Vec<(String, String, usize)>> {
    prover::guarded("building circuits", || prover::circuit_set(p)?.verification_keys()).map_err(err)
}

fn to_js_keys(out: Vec<(String, String, usize)>) -> Vec<VerificationKey> {
    out.into_iter().map(|(level, digest, d)| VerificationKey { level, digest, degree_bits: d as u32 }).collect()
}

/// Witness vector generation: fills the circuit's witness from a job witness and runs the
/// circuit's witness generators. Resolves with the witness vector.
#[napi]
pub fn witness_vector(params: CircuitParams, witness: Buffer) -> AsyncTask<BytesTask> {
    let p: SetParams = params.into();
    let w = witness.to_vec();
    AsyncTask::new(BytesTask(Some(Box::new(move || prover::witness_vector(&*prover::circuit_set(p)?, &w)))))
}

/// Proving from a witness vector. Resolves with the proof.
#[napi]
pub fn prove(params: CircuitParams, vector: Buffer) -> AsyncTask<BytesTask> {
    let p: SetParams = params.into();
    let v = vector.to_vec();
    AsyncTask::new(BytesTask(Some(Box::new(move || prover::prove(&*prover::circuit_set(p)?, &v)))))
}

/// Verifies a proof of `round` (and, in round 0, of basic circuit `circuitId`) outside a
/// circuit. Resolves with null when it verifies, else with the reason.
#[napi]
pub fn verify(params: CircuitParams, round: u32, circuit_id: u32, proof: Buffer) -> AsyncTask<VerifyTask> {
    let p: SetParams = params.into();
    let b = proof.to_vec();
    AsyncTask::new(VerifyTask(Some(Box::new(move || prover::verify(&*prover::circuit_set(p)?, round, circuit_id, &b)))))
}

/// Builds every circuit of the set (once per process) and resolves with their keys.
#[napi]
pub fn verification_keys(params: CircuitParams) -> AsyncTask<KeysTask> {
    AsyncTask::new(KeysTask(params.into()))
}

/// Same, blocking the calling thread (instant once the set is built).
#[napi]
pub fn verification_keys_sync(params: CircuitParams) -> Result<Vec<VerificationKey>> {
    Ok(to_js_keys(keys(params.into())?))
}

/// The basic circuit ids and their leaf ids the circuits were built with (checked against the
/// TypeScript catalog by the tests).
#[napi]
pub fn catalog() -> Vec<Vec<u32>> {
    crate::circuits::BASIC_IDS.iter().map(|&b| vec![b, crate::circuits::leaf_id_for_basic(b).unwrap_or(0)]).collect()
}

#[napi(object)]
pub struct ReferenceTimes {
    pub basic_prove_s: f64,
    pub recursion_prove_s: f64,
    /// basic + recursion
    pub reference_prove_s: f64,
    /// CPU seconds (all threads) per proof, medians.
    pub basic_cpu_s: f64,
    pub recursion_cpu_s: f64,
    pub basic_degree_bits: u32,
    pub recursion_degree_bits: u32,
    pub children: u32,
}

pub struct ReferenceTask(SetParams, usize);
impl Task for ReferenceTask {
    type Output = crate::reference::ReferenceTimes;
    type JsValue = ReferenceTimes;
    fn compute(&mut self) -> Result<Self::Output> {
        let (p, rounds) = (self.0, self.1);
        prover::guarded("reference benchmark", || crate::reference::reference(p, rounds)).map_err(err)
    }
    fn resolve(&mut self, _env: Env, r: Self::Output) -> Result<ReferenceTimes> {
        Ok(ReferenceTimes {
            basic_prove_s: r.basic_prove_s,
            recursion_prove_s: r.recursion_prove_s,
            reference_prove_s: r.basic_prove_s + r.recursion_prove_s,
            basic_cpu_s: r.basic_cpu_s,
            recursion_cpu_s: r.recursion_cpu_s,
            basic_degree_bits: r.basic_degree_bits as u32,
            recursion_degree_bits: r.recursion_degree_bits as u32,
            children: r.children as u32,
        })
    }
}

/// The benchmark's reference: plonky2 called directly from Rust on circuits of the sizes of this
/// set's basic and leaf circuits (see src/reference.rs). Timed inside Rust.
#[napi]
pub fn reference_bench(params: CircuitParams, rounds: u32) -> AsyncTask<ReferenceTask> {
    AsyncTask::new(ReferenceTask(params.into(), rounds as usize))
}
