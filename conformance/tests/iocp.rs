//! The completion-port backend (`pool-iocp`) through the whole kit.
//!
//! On Linux the pool runs on `EmulatedPort`; under Wine (`.ci/windows.sh`) on a real Windows
//! completion port. The kit's jobs block on gates that do not announce themselves as blocking
//! (`pool_iocp::blocking`), so the port's concurrency is set above any worker count the kit
//! reaches (a `resize` may lift `max` to unbounded mid-run): the model has no notion of a
//! concurrency limit (a claimed worker starts its job), and with a binding limit a gated job
//! would hold its slot while the kit waits for the next job to start. The limit itself is
//! checked by pool-iocp's own tests and loom models (real Windows enforces it; Wine ignores it).

use pool_core::{Builder, ConfigError};
use pool_iocp::{IocpBuilder, IocpPool};

/// A concurrency value no run of the kit reaches (it never starts more than a few dozen workers).
const UNBINDING: usize = 4096;

fn iocp_emulated(b: Builder) -> Result<IocpPool<pool_iocp::EmulatedPort<()>>, ConfigError> {
    IocpBuilder::from_builder(b)
        .concurrency(UNBINDING)
        .build_emulated()
}

conformance::conformance_suite!(iocp, iocp_emulated);

#[cfg(windows)]
fn iocp_windows(b: Builder) -> Result<IocpPool<pool_iocp::WindowsPort<()>>, ConfigError> {
    match IocpBuilder::from_builder(b)
        .concurrency(UNBINDING)
        .build_windows()
    {
        Ok(p) => Ok(p),
        Err(pool_iocp::BuildError::Config(e)) => Err(e),
        Err(pool_iocp::BuildError::Port(e)) => panic!("CreateIoCompletionPort failed: {e}"),
    }
}

#[cfg(windows)]
conformance::conformance_suite!(iocp_windows_port, iocp_windows);
