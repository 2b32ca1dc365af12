#!/usr/bin/env bash
# Builds the native prover from source into native-prover/index.node (the Node addon, a
# napi-rs cdylib built in release mode; git-ignored). Safe to run again: when no input changed since the last build
# (sources, Cargo.lock, rustc, flags) it only checks a stamp and exits.
#
#   native-prover/build.sh [--check]    --check: exit 1 when a build is needed, build nothing
#
# Cargo's build output goes to $CARGO_TARGET_DIR (default ~/.cache/kafka-prover/cargo-target,
# outside the clone). NATIVE_PROVER_JOBS sets cargo -j (default 2).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT_DIR="$ROOT/.local/native-prover"
ADDON="$HERE/index.node"
STAMP="$OUT_DIR/build.stamp"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kafka-prover/cargo-target}"
# plonky2_field 1.0 uses #![feature(specialization)]: allow unstable features for that crate
# only, on a stable toolchain.
export RUSTC_BOOTSTRAP=plonky2_field
# AVX2 field arithmetic where the CPU has it; the addon is built on the machine that runs it.
export RUSTFLAGS="${NATIVE_PROVER_RUSTFLAGS:--C target-cpu=native}"
JOBS="${NATIVE_PROVER_JOBS:-2}"

log() { echo "[native-prover] $*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do [[ -x "$d/cargo" ]] && PATH="$d:$PATH"; done
fi
command -v cargo >/dev/null 2>&1 || { log "cargo not found: install Rust (rustup, stable >= 1.85)"; exit 1; }

inputs_hash() {
  {
    rustc --version
    echo "$RUSTFLAGS $RUSTC_BOOTSTRAP"
    cd "$HERE" && find Cargo.toml Cargo.lock build.rs src -type f -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

want="$(inputs_hash)"
if [[ -f "$ADDON" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  log "needs a build"
  exit 1
fi

mkdir -p "$OUT_DIR"
start=$(date +%s)
log "cargo build --release (the first build takes several minutes)"
cargo build --release --locked -j "$JOBS" --manifest-path "$HERE/Cargo.toml" --lib >&2
cp -f "$CARGO_TARGET_DIR/release/libnative_prover.so" "$ADDON.tmp"
mv -f "$ADDON.tmp" "$ADDON"
echo "$want" >"$STAMP"
log "built in $(($(date +%s) - start)) s: $ADDON"
