#!/usr/bin/env bash
# The conformance kit's loom models: one per race, named for the property, on every backend
# through pool-core's sync shim, plus the mutants they must catch (tests/loom_*.rs).
#
#   conformance/loom.sh            # everything (CI)
#   conformance/loom.sh cancel     # only models whose name contains "cancel"
#
# State-space budget (release build, LOOM_MAX_PREEMPTIONS=2, 2 test threads, 2-core box; each
# test prints "loom: <model>: N interleavings in T"; the table is in docs/conformance.md §4):
#
#   * every model has 3 or 4 loom threads: the test thread, one racing caller, and the pool's
#     workers (pools of 1 worker; put-vs-shrink and idle-timeout-vs-put may start a second).
#     loom's hard limit is 5 threads;
#   * LOOM_MAX_PREEMPTIONS=2 bounds each interleaving to 2 preemptions (exhaustive within it);
#   * LOOM_MAX_DURATION=30 s per model is a safety cap, checked every LOOM_CHECKPOINT_INTERVAL
#     (1000) interleavings: a model that reaches it stops exploring, passes with what it
#     explored and says so ("stopped at LOOM_MAX_DURATION"). Today only put-vs-shrink on fast
#     reaches it (~183k interleavings in 30 s); every classic model explores completely;
#   * measured: classic 9 models, 1,570 interleavings, 0.3 s; fast ~470k interleavings, ~66 s
#     (two models fail); mutants 3 models, 0.1 s; the whole script ~1.5 min once built (the
#     release build of loom, pool-core and the kit takes ~1 min more). Budget: under 5 min.
#
# Raise LOOM_MAX_PREEMPTIONS (3 is still tractable for classic) to explore deeper locally.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-conf-loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export LOOM_MAX_DURATION="${LOOM_MAX_DURATION:-30}"
export LOOM_CHECKPOINT_INTERVAL="${LOOM_CHECKPOINT_INTERVAL:-1000}"
start=$(date +%s)
cargo test -p conformance --release --no-fail-fast \
    --test loom_classic --test loom_fast --test loom_mutants --test loom_iocp \
    -- --test-threads "${LOOM_TEST_THREADS:-2}" "$@"
echo "loom suite: $(( $(date +%s) - start )) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
