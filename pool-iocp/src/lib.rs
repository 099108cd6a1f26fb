//! `pool-iocp`: the completion-port backend of the workspace, after pywin32's ISAPI
//! `ThreadPoolExtension` (`../shared/seeds/pywin32-isapi-threaded_extension.md`): a pool whose
//! workers wait on one I/O completion port, so that "20 workers" does not mean 20 threads running
//! at once.
//!
//! - [`CompletionPort`]: post a packet (completion key + payload), get one with a timeout
//!   (nothing yet on timeout), get many at once, the concurrency value. Two implementations:
//!   [`WindowsPort`] (a real port, `cfg(windows)`, on `windows-sys`) and [`EmulatedPort`]
//!   (portable, on pool-core's sync shim, loom-checked) with the kernel's rules: waiters released
//!   last-in-first-out, at most `concurrency` threads running, and [`blocking`] regions that
//!   stop counting against the limit.
//! - [`IocpPool`]: the whole `pool_core::Pool` contract on a port (`docs/architecture.md`,
//!   "pool-iocp"); it passes the whole conformance kit.
//! - [`ThreadPoolExtension`] / [`Extension`]: pywin32's API: `dispatch` on a worker,
//!   `handle_dispatch_error` when it panics, submits that return at once, every request ending
//!   exactly once, and a termination that drains until its deadline and hands back the rest.
//!
//! ```
//! use pool_iocp::{IocpBuilder, blocking};
//! use pool_core::{Pool, PoolExt};
//! use std::time::Duration;
//!
//! // 8 workers, at most 2 running at once: a job that blocks inside `blocking` lets another run.
//! let pool = IocpBuilder::new().max_workers(8).concurrency(2).build().unwrap();
//! let _ = pool.start(); // Err(AlreadyStarted) if the builder started it: fine either way
//! let handles: Vec<_> = (0..8)
//!     .map(|i| pool.submit(move || blocking(|| i * 2)).unwrap())
//!     .collect();
//! let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 56);
//! assert!(pool.stop(Duration::from_secs(5)).is_clean());
//! ```

mod builder;
mod emulated;
mod extension;
mod pool;
mod port;
mod seat;
mod sync;
#[cfg(windows)]
mod windows;

pub use builder::{BuildError, DEFAULT_MAX_WORKERS, IocpBuilder};
pub use emulated::EmulatedPort;
pub use extension::{
    DispatchPanic, Ending, Extension, Refused, RequestId, TerminateReport, ThreadPoolExtension,
};
pub use pool::{IocpPool, PortError, PortErrorListener};
pub use port::{CompletionKey, CompletionPort, ISAPI_REQUEST, ISAPI_SHUTDOWN, Packet, PostError};
pub use seat::blocking;
#[cfg(windows)]
pub use windows::WindowsPort;

/// The port [`IocpBuilder::build`] uses: a real completion port on Windows.
#[cfg(windows)]
pub type DefaultPort = WindowsPort<()>;
/// The port [`IocpBuilder::build`] uses: the emulated port off Windows.
#[cfg(not(windows))]
pub type DefaultPort = EmulatedPort<()>;
