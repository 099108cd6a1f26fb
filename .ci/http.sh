#!/usr/bin/env bash
# pool-http fuzzing: the request-head parser and the chunked decoder, each for a fixed number of
# runs from the committed corpus (pool-http/fuzz/corpus/<target>), with cargo-fuzz on nightly
# (libFuzzer + AddressSanitizer). New inputs go to a temporary directory, never into the repo.
# The socket tests of pool-http run in `cargo test --workspace`, not here.
#
# Run alone: bash .ci/http.sh            (HTTP_FUZZ_RUNS=N to change the runs per target)
# Cost on the 2-core machine: installing cargo-fuzz once (see the report in the commit that
# added this script), the fuzz build, and the runs (a few seconds each).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${HTTP_FUZZ_RUNS:-50000}"

rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

cd pool-http/fuzz
for target in head chunked; do
  scratch=$(mktemp -d)
  echo "--- fuzz $target: $runs runs"
  cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
    -runs="$runs" -max_len=4096 -timeout=10
  rm -rf "$scratch"
done
