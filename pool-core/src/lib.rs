//! `pool-core`: the [`Pool`] contract every backend of the workspace implements, and the portable
//! backends.
//!
//! The semantics every backend follows are written in `docs/semantics.md` at the workspace root:
//! sizing within `min`/`max`, when workers are created, bounded queues and rejection policies
//! that always hand the job back, results by handle, callback or result queue, panics that never
//! kill a worker, resizing with typed stop sentinels, idle keep-alive on a clock tests can step,
//! draining stops with deadlines, and lifecycle events.
//!
//! Backends:
//! - [`ClassicPool`]: one `Mutex`, `Condvar`s, typed sentinels; the plainly correct reference.
//! - [`FastPool`]: the same semantics, passing the same contract suite and conformance kit, with
//!   a lock-free put / take path and spin-then-park workers (`src/fast/README.md`); the one to
//!   pick for speed.
//!
//! ```
//! use pool_core::{Builder, Pool, PoolExt};
//! use std::time::Duration;
//!
//! // Built running (`Builder::queue_before_start` builds it waiting for `start`).
//! let pool = Builder::new().min(1).max(4).capacity(100).classic().unwrap();
//! let answer = pool.submit(|| 6 * 7).unwrap();
//! pool.execute(|| println!("fire and forget")).unwrap();
//! assert_eq!(answer.join().unwrap(), 42);
//! let report = pool.stop(Duration::from_secs(5));
//! assert_eq!(report.completed, 2);
//! println!("{}", pool.stats());
//! ```

mod classic;
mod clock;
mod config;
mod error;
mod event;
mod fast;
mod handle;
mod job;
mod map;
mod policy;
mod pool;
mod results;
mod scope;
mod stats;
mod stopping;
mod sync;

pub use classic::ClassicPool;
pub use clock::{Clock, ClockListener, ManualClock};
pub use config::{Builder, Config, EventListener, Hook, JobHook, PanicHandler, Policy};
pub use error::{
    ConfigError, ConfigErrorKind, PutError, PutErrorKind, StartError, validate_bounds,
};
pub use event::{Event, EventLog, ExitReason, WaitTimedOut, WorkerId};
pub use fast::FastPool;
#[cfg(loom)]
#[doc(hidden)]
pub use fast::loom_api as __fast_loom;
/// A job and its handle with no pool, for the loom models of the handle's wakeup protocol.
#[cfg(loom)]
#[doc(hidden)]
pub mod __handle_loom {
    /// A job running `f` and the handle to its result; running the job (`Job::run`) completes it.
    pub fn detached<T, F>(f: F) -> (crate::Job, crate::JobHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, task) = crate::JobHandle::new_task(f);
        (job, crate::JobHandle::from_task(task, crate::JobId(0)))
    }
}
pub use handle::{CancelOnDrop, JobHandle, JoinError};
pub use job::{CancelSink, Job, JobId, Outcome, Panic};
pub use map::{Map, MapError};
pub use pool::{Admission, Batch, BatchError, Pool, PoolExt};
pub use results::{Completed, PollError, ResultQueue};
pub use scope::{Scope, ScopedJobHandle};
pub use stats::{PoolState, Stats, StopReport};

/// The common calls in one import: `use pool_core::prelude::*;` brings the builder, both
/// backends, the [`Pool`] and [`PoolExt`] traits (so `execute`, `submit`, `scope`, `map`,
/// `start`, `stop` are in reach) and the error types a caller matches on.
///
/// ```
/// use pool_core::prelude::*;
///
/// let pool = Builder::new().fixed(2).fast()?;
/// pool.execute(|| println!("fire and forget"))?;
/// let answer = pool.submit(|| 6 * 7)?;
/// let data = [1, 2, 3];
/// let sum = pool.scope(|s| s.spawn(|| data.iter().sum::<i32>()).join())?;
/// let squares: Vec<u64> = pool.map(1..=3u64, |x| x * x).map(Result::unwrap).collect();
/// assert_eq!((answer.join()?, sum, squares), (42, 6, vec![1, 4, 9]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use crate::{
        Admission, Builder, ClassicPool, FastPool, JobHandle, JoinError, MapError, Pool, PoolExt,
        PutError, PutErrorKind, StartError,
    };
}
