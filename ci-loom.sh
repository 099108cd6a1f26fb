#!/usr/bin/env bash
# The loom models, in their own target dir (RUSTFLAGS differ from the normal build).
# Budget: LOOM_MAX_PREEMPTIONS=2 and models of at most 3 threads (main, one submitter, one
# worker) keep each model to seconds; the whole set runs in a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
tests=()
for f in pool-core/tests/loom_*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
cargo test --release -p pool-core "${tests[@]}"
if compgen -G "conformance/tests/loom_*.rs" >/dev/null; then
  ctests=()
  for f in conformance/tests/loom_*.rs; do ctests+=(--test "$(basename "$f" .rs)"); done
  cargo test --release -p conformance "${ctests[@]}"
fi
