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
mod policy;
mod pool;
mod results;
mod stats;
mod stopping;
mod sync;

pub use classic::ClassicPool;
pub use clock::{Clock, ClockListener, ManualClock};
pub use config::{Builder, Config, EventListener, Hook, JobHook, PanicHandler, Policy};
pub use error::{ConfigError, ConfigErrorKind, PutError, StartError, validate_bounds};
pub use event::{Event, EventLog, ExitReason, WaitTimedOut, WorkerId};
pub use fast::FastPool;
#[cfg(loom)]
#[doc(hidden)]
pub use fast::loom_api as __fast_loom;
pub use handle::{JobHandle, JoinError};
pub use job::{CancelSink, Job, JobId, Outcome, Panic};
pub use pool::{Admission, Batch, BatchError, Pool, PoolExt};
pub use results::{Completed, PollError, ResultQueue};
pub use stats::{PoolState, Stats, StopReport};

/// Pieces of this crate for the workspace's other backends (`pool-iocp`): the sync shim, so they
/// run under loom with the same primitives, and the job and configuration plumbing every
/// backend shares, so they follow the same contract instead of copying it. Not a public API:
/// hidden, unstable, for this workspace only.
#[doc(hidden)]
pub mod __backend {
    #[cfg(loom)]
    pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};
    #[cfg(not(loom))]
    pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};

    /// Threads: std's or loom's (the shim's `thread`).
    pub mod thread {
        #[cfg(loom)]
        pub use loom::thread::{Builder, ThreadId, current, yield_now};
        #[cfg(not(loom))]
        pub use std::thread::{Builder, ThreadId, current, yield_now};
    }

    /// Reference-counted trait objects (the shim's `DynArc`).
    pub type DynArc<T> = std::sync::Arc<T>;

    use crate::config::Config;
    use crate::event::Event;
    use crate::job::{CancelSink, Job, JobId};

    /// The shim's `lock`: locks, ignoring poisoning.
    pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        crate::sync::lock(m)
    }
    /// The shim's `wait`: waits on a condvar, ignoring poisoning.
    pub fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        crate::sync::wait(cv, g)
    }
    /// The shim's `wait_timeout` (untimed under loom).
    pub fn wait_timeout<'a, T>(
        cv: &Condvar,
        g: MutexGuard<'a, T>,
        d: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        crate::sync::wait_timeout(cv, g, d)
    }

    /// What admission decides (`policy::Admit`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Admit {
        /// Queue it and claim an idle worker for it.
        ClaimIdle,
        /// Queue it and start a new worker for it.
        Spawn,
        /// Queue it; a busy worker will take it later.
        Enqueue,
        /// The queue is full.
        Full,
    }

    /// The numbers admission looks at (`policy::Load`, which documents each).
    #[derive(Clone, Copy, Debug)]
    #[expect(missing_docs, reason = "documented on policy::Load")]
    pub struct Load {
        pub running: bool,
        pub idle: usize,
        pub staying: usize,
        pub max: Option<usize>,
        pub backlog: usize,
        pub capacity: Option<usize>,
    }

    /// `policy::admit`.
    pub fn admit(l: Load) -> Admit {
        let l = crate::policy::Load {
            running: l.running,
            idle: l.idle,
            staying: l.staying,
            max: l.max,
            backlog: l.backlog,
            capacity: l.capacity,
        };
        match crate::policy::admit(l) {
            crate::policy::Admit::ClaimIdle => Admit::ClaimIdle,
            crate::policy::Admit::Spawn => Admit::Spawn,
            crate::policy::Admit::Enqueue => Admit::Enqueue,
            crate::policy::Admit::Full => Admit::Full,
        }
    }
    /// `policy::start_count`.
    pub fn start_count(min: usize, max: Option<usize>, backlog: usize) -> usize {
        crate::policy::start_count(min, max, backlog)
    }
    /// `policy::refill_count`.
    pub fn refill_count(min: usize, live: usize, pending_stops: usize) -> usize {
        crate::policy::refill_count(min, live, pending_stops)
    }
    /// `policy::may_retire`.
    pub fn may_retire(live: usize, pending_stops: usize, min: usize) -> bool {
        crate::policy::may_retire(live, pending_stops, min)
    }
    /// `policy::grow_count`.
    pub fn grow_count(n: usize, live: usize, max: Option<usize>) -> usize {
        crate::policy::grow_count(n, live, max)
    }
    /// `policy::shrink_count`.
    pub fn shrink_count(n: usize, live: usize, min: usize, pending_stops: usize) -> usize {
        crate::policy::shrink_count(n, live, min, pending_stops)
    }

    /// Sends an event to `tracing` and the listener; true if the listener panicked.
    pub fn emit(cfg: &Config, e: &Event) -> bool {
        cfg.emit(e)
    }
    /// Runs a claimed job with the worker-side hooks: (panicked, hook panics).
    pub fn run_job(cfg: &Config, id: JobId, job: Job) -> (bool, u64) {
        cfg.run_job(id, job)
    }
    /// Runs the worker-start hook; true if it panicked.
    pub fn run_worker_start_hook(cfg: &Config) -> bool {
        Config::run_hook(&cfg.on_worker_start)
    }
    /// Runs the worker-exit hook; true if it panicked.
    pub fn run_worker_exit_hook(cfg: &Config) -> bool {
        Config::run_hook(&cfg.on_worker_exit)
    }
    /// `f()`, catching a panic; true if it panicked.
    pub fn catch_panicked(f: impl FnOnce()) -> bool {
        crate::job::catch(f).is_err()
    }

    /// `Job::enqueue`: moves the job into a pool's custody; false if it was already cancelled.
    pub fn enqueue(job: &Job, id: JobId, sink: &DynArc<dyn CancelSink>) -> bool {
        job.enqueue(id, sink)
    }
    /// `Job::has_control`: whether the job can be cancelled.
    pub fn has_control(job: &Job) -> bool {
        job.has_control()
    }
    /// `Job::claim`: takes a queued job to run it; false if a cancel won.
    pub fn claim(job: &Job) -> bool {
        job.claim()
    }
    /// `Job::release`: takes a queued job to hand it back; false if a cancel won.
    pub fn release(job: &Job) -> bool {
        job.release()
    }

    /// Calls `listener` after every step of a manual `clock` (never, for the system clock) until
    /// the returned value is dropped.
    pub fn subscribe(
        clock: &crate::Clock,
        listener: DynArc<dyn crate::ClockListener>,
    ) -> Box<dyn std::any::Any + Send + Sync> {
        Box::new(clock.subscribe(listener))
    }

    /// The machine's parallelism (at least 1).
    pub fn available_parallelism() -> usize {
        crate::sync::available_parallelism()
    }
}
