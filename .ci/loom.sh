#!/usr/bin/env bash
# The loom models, in their own target dir (RUSTFLAGS differ from the normal build):
# pool-core's own models (tests/loom_*.rs), then the conformance kit's (conformance/loom.sh,
# whose header documents the state-space budget: LOOM_MAX_PREEMPTIONS=2, one race per model,
# a 120 s safety cap per model). Every model prints whether it
# explored its whole space ("exhaustive") or "stopped at cap"; the table at the end covers both
# crates, and a model stopped at the cap fails the job.
#
# Alone: bash .ci/loom.sh   (about 5 minutes on 2 cores, the release build included)
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
LOOM_LOG=$(mktemp)
export LOOM_LOG
tests=()
for f in pool-core/tests/loom_*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
RUSTFLAGS="--cfg loom" cargo test --release -p pool-core "${tests[@]}" 2>&1 | tee "$LOOM_LOG"
RUSTFLAGS="--cfg loom" cargo test --release -p pool-iocp --test loom_port 2>&1 | tee -a "$LOOM_LOG"
RUSTFLAGS="" bash conformance/loom.sh
