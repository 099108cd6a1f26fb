//! The contract suite (`tests/support/contract.rs`) run against the fast backend.

mod support;

contract_suite!(|b: pool_core::Builder| b.fast().unwrap());

#[test]
fn the_builder_refuses_sizes_above_the_backends_limits_and_a_nul_in_the_thread_name() {
    use pool_core::{Builder, ConfigErrorKind};
    let e = Builder::new().unbounded().min(70_000).fast().unwrap_err();
    assert_eq!(
        e.to_string(),
        "min=70000 is above the fast backend's limit of 65535 workers"
    );
    let e = Builder::new().max(usize::MAX).fast().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ConfigErrorKind::TooManyWorkers { bound: "max", .. }
        ),
        "{e}"
    );
    let e = Builder::new().thread_name("web\0").fast().unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::NulInThreadName);
    assert_eq!(e.to_string(), "thread_name must not contain a NUL byte");
}

#[test]
fn a_capacity_above_what_the_fast_pool_tracks_is_a_config_error() {
    use pool_core::{Builder, FastPool};
    assert_eq!(FastPool::MAX_CAPACITY, 1 << 26);
    assert!(
        Builder::new()
            .capacity(FastPool::MAX_CAPACITY)
            .fast()
            .is_ok()
    );
    let e = Builder::new()
        .capacity(FastPool::MAX_CAPACITY + 1)
        .fast()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "capacity=67108865 is above the fast backend's limit of 67108864 queued jobs (or unbounded)"
    );
}
