#!/usr/bin/env bash
# miri: pool-core's unit tests and both contract suites (tests/classic.rs, tests/fast_contract.rs)
# under Stacked Borrows and under Tree Borrows, then the fast queue's tests (the ones that race
# producers, consumers and an unwinding producer on threads) under a few scheduler seeds.
# Catches undefined behaviour in pool-core's unsafe code (job storage, the queue's slots and
# blocks, the cells of the task state machine) and data races between non-atomic accesses.
#
#   bash .ci/miri.sh                 # the whole job, as CI runs it
#   MIRI_SEEDS=0..16 bash .ci/miri.sh   # more seeds for the queue's tests
#   (one step alone: MIRIFLAGS=-Zmiri-tree-borrows cargo +nightly miri test -p pool-core --lib)
#
# Test sizes shrink under cfg(miri) (the queue's 2 x 20,000-put test runs 2 x 300 puts); a test
# miri cannot run says why with #[cfg_attr(miri, ignore = "...")].
# Own target dir: target-miri (MIRI_TARGET_DIR overrides). Measured on this 2-core box while ~8
# other builds shared it (load average 15-17): 20.6 min wall but only 298 s of CPU in all
# (Stacked Borrows 901 s wall, Tree Borrows 1020 s, side by side; the seeds 215 s), with the
# nightly toolchain and miri's sysroot already there; on an idle 2-core box that CPU time is
# ~3-4 min of wall. Budget: 12 min. The script prints its times.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${MIRI_TARGET_DIR:-target-miri}"
start=$SECONDS
step() { printf '\n--- miri: %s (%ss into the job)\n' "$*" "$((SECONDS - start))"; }

step "toolchain"
# Install nightly only if it is missing: `rustup toolchain install` on a present toolchain
# updates it, which rebuilds every nightly artefact (and changes the toolchain under anyone
# else using it).
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup

# The suites, once per aliasing model, both at once (miri interprets on one core; the box has
# two), each in its own target dir, each logged to a file printed when it ends.
# -Zmiri-strict-provenance: no pointer comes from an integer. The contract suites also get
# -Zmiri-ignore-leaks: dropping a pool is a non-blocking stop that detaches its workers
# (docs/semantics.md), so a worker of a pool dropped by the last test may still be exiting
# when the test binary's main returns, which miri's leak check reports. The unit tests keep
# the leak check.
logs=$(mktemp -d)
model() { # name, extra MIRIFLAGS
    local t0=$SECONDS flags="-Zmiri-strict-provenance $2"
    if CARGO_TARGET_DIR="$CARGO_TARGET_DIR/$1" MIRIFLAGS="$flags" \
        cargo +nightly miri test -p pool-core --lib >"$logs/$1.log" 2>&1 &&
        CARGO_TARGET_DIR="$CARGO_TARGET_DIR/$1" MIRIFLAGS="$flags -Zmiri-ignore-leaks" \
            cargo +nightly miri test -p pool-core --test classic --test fast_contract \
            >>"$logs/$1.log" 2>&1; then
        echo "ok $((SECONDS - t0))" >"$logs/$1.rc"
    else
        echo "FAILED $((SECONDS - t0))" >"$logs/$1.rc"
    fi
}
step "pool-core unit tests + contract suites: Stacked Borrows and Tree Borrows, in parallel"
model stacked "" &
model tree "-Zmiri-tree-borrows" &
wait
failed=0
for m in stacked tree; do
    read -r verdict secs <"$logs/$m.rc"
    printf '\n--- miri (%s borrows): %s in %s s\n' "$m" "$verdict" "$secs"
    grep -Ev '^\s+(Compiling|Checking)|^warning: unused workspace|^ *[|=]|^help: consider|^$' "$logs/$m.log" || true
    [ "$verdict" = ok ] || failed=1
done
[ "$failed" = 0 ] || { echo "miri: a suite failed (logs above)"; exit 1; }

step "the fast queue's tests under seeds ${MIRI_SEEDS:-0..4}"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/stacked" \
    MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=${MIRI_SEEDS:-0..4}" \
    cargo +nightly miri test -p pool-core --lib fast::queue::tests

step "done"
echo "miri job: $((SECONDS - start)) s"
