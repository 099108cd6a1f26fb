#!/usr/bin/env bash
# The loom models, in their own target dir (RUSTFLAGS differ from the normal build):
# pool-core's own models (tests/loom_*.rs), then the conformance kit's (conformance/loom.sh,
# whose header documents the state-space budget: LOOM_MAX_PREEMPTIONS=2, at most 4 loom threads
# per model, a 30 s cap per model).
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
tests=()
for f in pool-core/tests/loom_*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
RUSTFLAGS="--cfg loom" cargo test --release -p pool-core "${tests[@]}"
RUSTFLAGS="--cfg loom" cargo test --release -p pool-iocp --test loom_port
RUSTFLAGS="" bash conformance/loom.sh
