//! The loom models catch the races the mutants introduce: each model named below fails on
//! the deliberately broken backend (`RUSTFLAGS="--cfg loom"`, see `conformance/loom.sh`).
//! `finishing-idle` needs a worker held in its `after_job` hook, which only the lock-step run
//! does, and the fast backend's `claim-kept`, `early-stop` and `cancel-keeps-room` are
//! sequential bugs the lock-step run finds (tests/mutants.rs); the fast backend's lost wakeup
//! needs a put racing a parking worker, which only a loom model makes happen every time.
#![cfg(loom)]

use conformance::loom_models::{self as models, Make};
use pool_core::{Builder, Pool};

/// Whether `model` fails (loom reports the failing interleaving, then panics).
fn fails(model: fn(Make), make: Make) -> bool {
    std::panic::catch_unwind(|| model(make)).is_err()
}

#[test]
fn a_late_sentinel_strands_a_racing_put() {
    let make: Make =
        |b: Builder| Box::new(b.mutation("late-sentinel").classic().unwrap()) as Box<dyn Pool>;
    assert!(fails(
        models::stop_never_strands_or_loses_a_racing_put,
        make
    ));
}

#[test]
fn an_over_shrink_goes_below_min() {
    let make: Make =
        |b: Builder| Box::new(b.mutation("over-shrink").classic().unwrap()) as Box<dyn Pool>;
    assert!(fails(models::concurrent_shrinks_never_go_below_min, make));
}

#[test]
fn a_double_callback_runs_twice_across_a_stop() {
    let make: Make =
        |b: Builder| Box::new(b.mutation("double-callback").classic().unwrap()) as Box<dyn Pool>;
    assert!(fails(
        models::callback_runs_exactly_once_across_a_stop,
        make
    ));
}

/// Set in the child process [`deadlocks_in_a_child`] starts.
const CHILD: &str = "CONFORMANCE_LOOM_MUTANT_CHILD";

/// Whether `test` (a test of this binary), run alone in a child process, fails with loom's
/// deadlock report. A deadlock panics inside loom's scheduler; the unwinding drops the pool,
/// whose destructor then calls into loom outside the execution, and the process aborts ("panic
/// in a destructor during cleanup"), which no `catch_unwind` survives.
fn deadlocks_in_a_child(test: &str) -> bool {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--test-threads", "1", "--nocapture"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child test runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    !out.status.success() && stderr.contains("deadlock")
}

#[test]
fn a_lost_wakeup_leaves_a_job_behind_a_parked_worker() {
    let make: Make =
        |b: Builder| Box::new(b.mutation("lost-wakeup").fast().unwrap()) as Box<dyn Pool>;
    if std::env::var_os(CHILD).is_some() {
        models::put_racing_a_parking_worker_never_loses_the_wakeup(make);
        return;
    }
    assert!(deadlocks_in_a_child(
        "a_lost_wakeup_leaves_a_job_behind_a_parked_worker"
    ));
}
