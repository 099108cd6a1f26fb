#!/usr/bin/env bash
# pool-http fuzzing: the request-head parser and the chunked decoder, each for a fixed number of
# runs from the committed corpus (pool-http/fuzz/corpus/<target>), with cargo-fuzz on nightly
# (libFuzzer; overflow checks and debug assertions on; no sanitizer: pool-http has no unsafe code,
# and an ASan build costs minutes more). New inputs go to a temporary directory, never the repo.
# The socket tests of pool-http run in `cargo test --workspace`, not here.
#
# Run alone: bash .ci/http.sh            (HTTP_FUZZ_RUNS=N to change the runs per target)
# Cost (measured on the shared 2-core machine, load ~19): cargo install cargo-fuzz 220 s (once;
# skipped when present), fuzz build 190 s, the runs a few seconds per target.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${HTTP_FUZZ_RUNS:-300000}"

rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

cd pool-http/fuzz
for target in head chunked; do
  scratch=$(mktemp -d)
  echo "--- fuzz $target: $runs runs"
  cargo +nightly fuzz run --sanitizer none --debug-assertions "$target" "$scratch" "corpus/$target" -- \
    -runs="$runs" -max_len=4096 -timeout=10
  rm -rf "$scratch"
done
