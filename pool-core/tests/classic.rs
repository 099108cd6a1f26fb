//! The contract suite (`tests/support/contract.rs`) run against the classic backend.

mod support;

contract_suite!(|b: pool_core::Builder| b.classic().unwrap());

#[test]
fn the_builder_refuses_sizes_above_the_backends_limits_and_a_nul_in_the_thread_name() {
    use pool_core::{Builder, ConfigErrorKind};
    let e = Builder::new()
        .unbounded()
        .min(70_000)
        .classic()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "min=70000 is above the classic backend's limit of 65535 workers"
    );
    let e = Builder::new().max(usize::MAX).classic().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ConfigErrorKind::TooManyWorkers { bound: "max", .. }
        ),
        "{e}"
    );
    let e = Builder::new().thread_name("web\0").classic().unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::NulInThreadName);
    assert_eq!(e.to_string(), "thread_name must not contain a NUL byte");
}
