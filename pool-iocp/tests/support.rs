//! Helpers shared by the tests: waiting on a condition with a deadline (never a bare sleep).
#![allow(dead_code, reason = "each test file uses part of it")]

use std::time::{Duration, Instant};

/// How long any wait in these tests may take before it counts as a hang.
pub(crate) const T: Duration = Duration::from_secs(20);

/// Polls `cond` (yielding between polls) until it holds; panics with `what` after [`T`].
pub(crate) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}
