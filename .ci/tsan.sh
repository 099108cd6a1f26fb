#!/usr/bin/env bash
# ThreadSanitizer: pool-core's tests (unit tests, both contract suites, and the stress test of a
# job handed back mid-cancel and queued again, tests/requeue_during_cancel.rs) and the
# conformance kit's suite (lock-step runs, concurrent histories, scenarios) on both backends,
# built with -Zsanitizer=thread over an instrumented std (-Zbuild-std, so std's own atomics and
# locks are seen and TSan reports no false races). Any report fails the job.
#
#   bash .ci/tsan.sh                          # the whole job, as CI runs it
#   REQUEUE_ROUNDS=20000 bash .ci/tsan.sh     # a longer stress test
#   CONFORMANCE_HISTORIES=1000 bash .ci/tsan.sh
#
# Own target dir: target-tsan (TSAN_TARGET_DIR overrides); the RUSTFLAGS differ from every other
# build. Measured on this 2-core box while ~8 other builds shared it (load average 15-17):
# 305 s with the instrumented std and dependencies already built (pool-core ~60 s, of which the
# stress test 40 s; the kit 2 x 31 s; the rest compiling), ~10.5 min from cold (building std
# and the dependencies with TSan takes ~5.5 min of that); an idle box is several times faster.
# Budget: 10 min. The script prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${TSAN_TARGET_DIR:-target-tsan}"
start=$SECONDS
step() { printf '\n--- tsan: %s (%ss into the job)\n' "$*" "$((SECONDS - start))"; }

step "toolchain"
# Install nightly only if it is missing (installing over a present one updates it).
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
rustup component add rust-src --toolchain nightly

export RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread"
# The suites provoke panics on purpose; symbolising a backtrace of an instrumented binary for
# each of them takes seconds, long enough to push a test past its own deadlines.
export RUST_BACKTRACE="${TSAN_RUST_BACKTRACE:-0}"
# halt_on_error: the first report fails the test binary at once (exit 66), with its stacks.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
tsan_test() { cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu "$@"; }

# The stress test's rounds: each is ~10x slower under TSan, which needs no exact overlap to see
# the race, only the hand-back landing inside the cancel (5,000 rounds flagged both backends in
# every try before the fix).
step "pool-core: unit tests, contract suites, stress tests, doctests"
# sequential_submit_and_join_reuses_the_idle_worker is skipped here: it checks a bound on pool
# growth that depends on how fast a finished worker becomes claimable again, which TSan's ~10x
# slowdown changes; it runs natively in `cargo test --workspace` (its own binary, tests/
# sequential_reuse.rs), and the pool code it drives runs under TSan in every other test.
REQUEUE_ROUNDS="${REQUEUE_ROUNDS:-5000}" tsan_test -p pool-core -- \
    --skip sequential_submit_and_join_reuses_the_idle_worker

step "conformance kit on classic and fast (lock-step, histories, scenarios)"
PROPTEST_CASES="${PROPTEST_CASES:-64}" CONFORMANCE_HISTORIES="${CONFORMANCE_HISTORIES:-300}" \
    tsan_test -p conformance --test classic --test fast

step "done"
echo "tsan job: $((SECONDS - start)) s"
