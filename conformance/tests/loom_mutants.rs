//! The loom models catch the races the mutants introduce: each model named below fails on
//! the deliberately broken classic backend (`RUSTFLAGS="--cfg loom"`, see
//! `conformance/loom.sh`). `finishing-idle` needs a worker held in its `after_job` hook, which
//! only the lock-step run does (tests/mutants.rs).
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
