#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu binaries (.ci/windows/cargo-config.toml): runs the
# test binary under Wine, quietly (WINEDEBUG=-all), in a Wine prefix of its own under target/,
# with the ProcessPrng stand-in (processprng.c, built here once with mingw) on WINEPATH:
# Wine 8.0 has no bcryptprimitives.dll, and Rust's std needs ProcessPrng from it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${CARGO_TARGET_DIR:-$root/target}/wine"
dll="$out/prng/bcryptprimitives.dll"
mkdir -p "$out/prng"
if [ ! -f "$dll" ] || [ "$here/processprng.c" -nt "$dll" ]; then
  # Built under a lock: cargo may start several runners at once.
  (
    flock 9
    if [ ! -f "$dll" ] || [ "$here/processprng.c" -nt "$dll" ]; then
      x86_64-w64-mingw32-gcc -shared -O2 -o "$dll.tmp" "$here/processprng.c" -ladvapi32
      mv "$dll.tmp" "$dll"
    fi
  ) 9>"$out/prng.lock"
fi
export WINEDEBUG=-all
export WINEPREFIX="${WINEPREFIX:-$out/prefix}"
# No Mono or Gecko install prompts when the prefix is created.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
# Wine maps / to drive Z:.
export WINEPATH="Z:${out//\//\\}\\prng${WINEPATH:+;$WINEPATH}"
exec wine "$@"
