//! The loom models on the completion-port backend (`RUSTFLAGS="--cfg loom"`, see
//! `conformance/loom.sh`), on `EmulatedPort` with a concurrency that never binds (as in
//! `tests/iocp.rs`); the port's own models are in `pool-iocp/tests/loom_port.rs`.
#![cfg(loom)]

fn iocp(
    b: pool_core::Builder,
) -> Result<pool_iocp::IocpPool<pool_iocp::EmulatedPort<()>>, pool_core::ConfigError> {
    pool_iocp::IocpBuilder::from_builder(b)
        .concurrency(4096)
        .build_emulated()
}

conformance::loom_suite!(iocp);
