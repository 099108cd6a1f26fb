//! The conformance kit: every pool backend checked against the reference model.
//!
//! `docs/semantics.md` is the contract, `spec-model` the same rules as a sequential state
//! machine. This crate runs a backend and the model side by side, and decides whether the
//! backend conforms:
//!
//! - **lock-step** ([`lockstep`]): proptest generates short operation sequences (start, the
//!   put family with gated jobs the test releases, submits, callbacks, result-queue polls,
//!   releasing and panicking jobs, grow, shrink, resize, stepping the manual clock, cancel,
//!   stop with a deadline, `stop_now`, drop); after every step the pool's observable state
//!   (stats, results and their order, callback log, errors, handed-back jobs) is compared with
//!   the model's. Failures shrink to a minimal scenario, saved under `proptest-regressions/`.
//! - **histories** ([`history`]): several threads run random operations on one pool; the
//!   recorded history must be linearizable against the model (a Wing–Gong search with
//!   memoisation); a failure reports the minimal failing prefix.
//! - **scenarios**: short deterministic checks of one semantic each, which also run on peers
//!   (the `threadpool` crate, rayon-core) through adapters.
//! - **loom models** (`--cfg loom`, `conformance/loom.sh`): one model per race, named for the
//!   property, run on every backend through `pool-core`'s sync shim.
//!
//! Every test ends with the conservation check: each job submitted completed, panicked, was
//! cancelled, handed back by a stop, or refused with the job handed back; none ran twice.
//!
//! # Checking a backend
//!
//! One line per backend, in `tests/<backend>.rs`:
//!
//! ```no_run
//! conformance::conformance_suite!(classic, pool_core::Builder::classic);
//! ```
//!
//! or, to look at the report yourself:
//!
//! ```no_run
//! use conformance::{Backend, Options};
//! let report = conformance::check(&Backend::new("classic", pool_core::Builder::classic), &Options::from_env());
//! report.print();
//! assert!(report.passed(), "{report}");
//! ```
//!
//! The suite never panics on a broken backend: [`check`] returns a [`Report`] with one row per
//! check (pass, fail with the reason, or unsupported), so deliberately broken backends and
//! peers are judged row by row. `PROPTEST_CASES` sets the lock-step cases (default 1000) and
//! `CONFORMANCE_HISTORIES` the histories (default 300).
#![forbid(unsafe_code)]

mod backend;
pub mod history;
mod kit;
mod ledger;
pub mod lockstep;
#[cfg(loom)]
pub mod loom_models;
mod report;
mod scenarios;

pub use backend::{Backend, Caps};
pub use kit::Plan;
pub use report::{Report, Row, Status, Work};

/// The loom models of the kit, one per race, named for the property they check (run with
/// `conformance/loom.sh`; the models are in `src/loom_models.rs`).
pub const LOOM_MODELS: &[&str] = &[
    "stop_never_strands_or_loses_a_racing_put",
    "stop_racing_the_put_that_starts_a_worker_runs_or_refuses_it",
    "stop_and_put_claiming_the_idle_worker_run_or_refuse_the_job",
    "put_racing_a_parking_worker_never_loses_the_wakeup",
    "shrink_never_strands_a_racing_put",
    "concurrent_shrinks_never_go_below_min",
    "concurrent_stops_queue_one_sentinel_per_worker",
    "cancel_and_dequeue_exactly_one_wins",
    "cancel_racing_stop_now_is_handed_back_or_cancelled_once",
    "callback_runs_exactly_once_across_a_stop",
    "idle_timeout_never_strands_a_racing_put",
    "put_racing_start_runs_exactly_once",
    "panicking_job_racing_stop_is_counted_once",
    "a_job_handed_back_mid_cancel_can_be_queued_again",
];

/// How much the suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Lock-step cases (`PROPTEST_CASES`, default 1000).
    pub cases: u32,
    /// Concurrent histories (`CONFORMANCE_HISTORIES`, default 300).
    pub histories: u32,
}

impl Options {
    /// The defaults, overridden by `PROPTEST_CASES` and `CONFORMANCE_HISTORIES`.
    pub fn from_env() -> Options {
        let var = |name: &str, default: u32| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Options {
            cases: var("PROPTEST_CASES", 1000),
            histories: var("CONFORMANCE_HISTORIES", 300),
        }
    }
}

/// Runs the whole suite (lock-step, histories, scenarios) on `backend` and reports every
/// check. Never panics on a broken backend.
pub fn check(backend: &Backend, opts: &Options) -> Report {
    let mut report = Report::new(backend.name());
    let caps = backend.caps();
    report.rows.push(if caps == Caps::FULL {
        lockstep::check(backend, opts.cases)
    } else {
        Row {
            check: "model.lockstep",
            section: "§1-§7 (all, sequential)",
            status: Status::Unsupported(
                "needs events, the manual clock, hooks, a bounded queue and a deferred start"
                    .into(),
            ),
            work: Work::default(),
        }
    });
    report.rows.push(history::check(backend, opts.histories));
    report.rows.extend(scenarios::check_all(backend));
    report
}

/// Instantiates the suite for a backend as one `#[test]` that prints the summary and fails
/// unless every check passed:
///
/// ```no_run
/// conformance::conformance_suite!(classic, pool_core::Builder::classic);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($name:ident, $factory:expr) => {
        #[test]
        fn $name() {
            let backend = $crate::Backend::new(stringify!($name), $factory);
            let report = $crate::check(&backend, &$crate::Options::from_env());
            report.print();
            report.assert_passed();
        }
    };
}
