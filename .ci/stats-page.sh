#!/usr/bin/env bash
# pool-http's live stats page in a real browser: installs Debian's `chromium` (when absent) and
# runs the stats-page tests with POOL_HTTP_REQUIRE_CHROMIUM=1, so a missing browser is a failure
# rather than the warning `cargo test --workspace` prints without one. The HTTP benchmark section
# needs no tool of its own (its load client is in benches), so nothing else is installed here.
#
# Run alone: bash .ci/stats-page.sh
# Cost (measured on the shared 2-core machine, load ~12): apt-get install chromium ~60 s (once),
# the test build ~20 s after the workspace tests, the tests ~5 s.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  sudo_=""
  [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version 2>/dev/null || chromium-browser --version

POOL_HTTP_REQUIRE_CHROMIUM=1 cargo test -p pool-http --test stats_page
