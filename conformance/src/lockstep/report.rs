//! Running cases and telling their failures: [`run_case`] (one scenario; with
//! `CONFORMANCE_TRACE=1` a failure carries the trace of operations and observations), [`check`]
//! (the proptest run, shrinking a failure to a minimal scenario and saving it), and
//! [`Failure`] (where a case failed and what differed).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestError, TestRunner};

use crate::backend::Backend;
use crate::kit;
use crate::report::{Row, Status, Work};

use super::scenario::{Scenario, scenarios};
use super::{Driver, run_driver};

/// Why a case failed: where, and what differed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The operation being applied (index into the scenario's ops), or `None` for the setup
    /// and the final stop.
    pub at: Option<usize>,
    /// What differed, pool against model.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(i) => write!(f, "at op #{i}: {}", self.message),
            None => write!(f, "at the end: {}", self.message),
        }
    }
}

/// Runs one scenario on `backend`; the number of operations applied, or the first difference.
///
/// # Errors
/// The first way the pool differed from the model, or broke the ledger.
pub fn run_case(backend: &Backend, scenario: &Scenario) -> Result<u64, Failure> {
    kit::quiet_kit_panics();
    let fail = |at, message| Failure { at, message };
    let (mut d, builder) = Driver::new(scenario.setup).map_err(|m| fail(None, m))?;
    let traced = std::env::var_os("CONFORMANCE_TRACE").is_some();
    let result = run_driver(backend, scenario, &mut d, builder);
    match result {
        Err(mut f) if traced => {
            f.message = format!("{}\ntrace:\n{}", f.message, d.trace.join("\n"));
            Err(f)
        }
        other => other,
    }
}

/// The lock-step check: `cases` random scenarios on `backend`, shrinking any failure to a
/// minimal scenario and saving it under `proptest-regressions/` (replayed first next time).
pub fn check(backend: &Backend, cases: u32) -> Row {
    let path: &'static str =
        Box::leak(format!("proptest-regressions/lockstep-{}.txt", backend.name()).into_boxed_str());
    let config = proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        max_shrink_iters: 400,
        max_shrink_time: 60_000,
        ..proptest::test_runner::Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ops = AtomicU64::new(0);
    let run = AtomicU64::new(0);
    let result = runner.run(&scenarios(16), |s| {
        run.fetch_add(1, Relaxed);
        match run_case(backend, &s) {
            Ok(n) => {
                ops.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(f) => Err(TestCaseError::fail(f.to_string())),
        }
    });
    let status = match result {
        Ok(()) => Status::Pass,
        Err(TestError::Fail(reason, minimal)) => {
            Status::Fail(format!("{reason}\nminimal scenario: {minimal:?}"))
        }
        Err(TestError::Abort(reason)) => Status::Fail(format!("aborted: {reason}")),
    };
    Row {
        check: "model.lockstep",
        section: "§1-§7 (all, sequential)",
        status,
        work: Work {
            cases: run.load(Relaxed),
            ops: ops.load(Relaxed),
            ..Work::default()
        },
    }
}
