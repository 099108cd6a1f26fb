//! The loom models on the fast backend (`RUSTFLAGS="--cfg loom"`, see `conformance/loom.sh`).
#![cfg(loom)]

conformance::loom_suite!(pool_core::Builder::fast);

/// The cancel-vs-hand-back race of a job queued again at once (`Control::sink`, issue 11).
#[test]
fn a_job_handed_back_mid_cancel_can_be_queued_again() {
    conformance::loom_models::a_job_handed_back_mid_cancel_can_be_queued_again(|b| {
        Box::new(pool_core::Builder::fast(b).expect("a valid configuration"))
    });
}
