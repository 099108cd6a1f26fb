#!/usr/bin/env bash
# The Windows job: pool-iocp's tests (its real completion port among them) and the conformance
# kit on IocpPool, built for x86_64-pc-windows-gnu with mingw and run under Wine 8.
#
# Run it by hand (Debian/Ubuntu, as root for apt; about 2.4 GB of Wine and mingw):
#   bash .ci/windows.sh
# It installs what it needs (`rustup target add x86_64-pc-windows-gnu`;
# `apt-get install -y --no-install-recommends gcc-mingw-w64-x86-64 wine64 wine`), then runs
#   cargo --config .ci/windows/cargo-config.toml test --target x86_64-pc-windows-gnu \
#       -p pool-iocp -p conformance --test iocp ...
# The config file (linker, runner) is passed only here, so Linux builds never see it. The
# runner (.ci/windows/runner.sh) runs each test binary under Wine with WINEDEBUG=-all, in a Wine
# prefix under target/wine/, and builds once, from .ci/windows/processprng.c, the stand-in for
# bcryptprimitives.dll (ProcessPrng) that Wine 8.0 lacks, putting its folder on WINEPATH.
#
# Facts designed around: Wine ignores a port's concurrency value (the limit is tested on
# EmulatedPort; real Windows enforces it); loom does not run under Wine (the loom models run on
# Linux, .ci/loom.sh); SKIP_APT=1 skips the apt step when the packages are there.
#
# Measured on the shared 2-core box (other builds running): apt-get update + install 75 s; then,
# from an empty windows target dir and no Wine prefix, this script 120 s (build 88 s, pool-iocp
# tests 14 s, the kit on both ports 18 s): about 3.5 min in all. Budget: 10 min.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$SECONDS
step() { printf '\n=== windows: %s (%ss elapsed)\n' "$*" "$((SECONDS - start))"; }

step "toolchain: target x86_64-pc-windows-gnu, mingw, wine"
rustup target add x86_64-pc-windows-gnu >/dev/null
if [ "${SKIP_APT:-0}" != 1 ] && ! { command -v wine >/dev/null && command -v x86_64-w64-mingw32-gcc >/dev/null; }; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    gcc-mingw-w64-x86-64 wine64 wine >/dev/null
fi
wine --version 2>/dev/null | head -1

win=(cargo --config .ci/windows/cargo-config.toml)
target=(--target x86_64-pc-windows-gnu)

step "build (windows target)"
"${win[@]}" build "${target[@]}" -p pool-iocp --all-targets
"${win[@]}" test "${target[@]}" --no-run -p pool-iocp -p conformance --test iocp

step "pool-iocp tests under Wine (unit, integration, doctests)"
"${win[@]}" test "${target[@]}" -p pool-iocp

step "conformance kit under Wine: IocpPool on EmulatedPort and on the real port"
"${win[@]}" test "${target[@]}" -p conformance --test iocp

step "done in $((SECONDS - start)) s"
