//! `pool-core`: thread pools that say what they do. The [`Pool`] contract every backend of the
//! workspace implements, its typed conveniences ([`PoolExt`]), and two portable backends:
//! [`FastPool`] (pick it) and [`ClassicPool`] (the plainly correct reference).
//!
//! # Quick start
//!
//! ```
//! use pool_core::prelude::*;
//! use std::time::Duration;
//!
//! // A running pool: 2 to 8 workers, at most 1024 queued jobs. Bad bounds are an error that
//! // names them (`max=1 must be >= min=2`), never a panic.
//! let pool = Builder::new().min(2).max(8).capacity(1024).fast()?;
//! pool.execute(|| println!("fire and forget"))?; // a refused job comes back in the error
//! let answer = pool.submit(|| 6 * 7)?;              // a handle: join, join_timeout, cancel, .await
//! assert_eq!(answer.join()?, 42);
//! let report = pool.stop(Duration::from_secs(5));   // drain the queue, with a deadline
//! assert!(report.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which backend
//!
//! Both follow the same semantics ([`semantics`], the workspace's `docs/semantics.md`), pass the
//! same contract suite and the conformance kit, and are built by the same [`Builder`]:
//!
//! - [`FastPool`] (`Builder::fast()`): a lock-free put / take path (a bounded queue puts under
//!   a lock) and spin-then-park workers; the one to pick. Its limits: at most 65,535 live
//!   workers, and a capacity it tracks up to 2^26 jobs ([`semantics`] §2, "Backend limits").
//! - [`ClassicPool`] (`Builder::classic()`): one `Mutex`, `Condvar`s, typed stop sentinels; the
//!   reference the fast one is checked against, and the easier one to read.
//!
//! Every operation works through `&dyn Pool` too; [`PoolExt`] adds the typed forms to any
//! pool, and `use pool_core::prelude::*` brings all of it into scope ([`prelude`]).
//!
//! # Every feature, by example
//!
//! | feature | where its example is |
//! |---|---|
//! | bounded queue and rejection policies | [below](#bounded-queue-and-policies) |
//! | callbacks on the worker | [below](#callbacks) |
//! | batches in input order | [below](#batches) |
//! | Arndt's result queue | [`ResultQueue`] |
//! | cancel and `join_timeout` | [`JobHandle::join_timeout`], [`JobHandle::cancel_on_drop`] |
//! | handling a refused job | [`PutError`] |
//! | `stop`, `stop_now` and the report | [below](#stopping) |
//! | `resize`, `grow`, `shrink` | [below](#resizing) |
//! | `Stats` | [below](#stats) |
//! | the panic handler, panics as values | [below](#panics), [`Panic`] |
//! | the manual clock | [below](#the-manual-clock) |
//! | errors into `anyhow` / `Box<dyn Error>` | [`JoinError`] |
//! | scoped jobs that borrow | [`PoolExt::scope`] |
//! | an ordered, bounded parallel `map` | [`PoolExt::map`] |
//! | `.await` a job from async code | [`JobHandle`] (its `Future` impl) |
//!
//! ## Bounded queue and policies
//!
//! A capacity bounds the jobs waiting; a full queue waits up to the put timeout for room, then
//! applies the [`Policy`]: `Reject` hands the job back, `CallerRuns` runs it on the submitter,
//! `DiscardOldest` evicts the oldest queued job to a handler. No policy drops a job silently.
//!
//! ```
//! use pool_core::prelude::*;
//! use pool_core::Policy;
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! for policy in [Policy::Reject, Policy::CallerRuns] {
//!     let pool = Builder::new()
//!         .fixed(1)
//!         .capacity(1)
//!         .put_timeout(Duration::ZERO) // no waiting for room
//!         .policy(policy.clone())
//!         .fast()?;
//!     let (release, gate) = mpsc::channel::<()>();
//!     let busy = pool.submit(move || gate.recv().is_ok())?; // the one worker
//!     let queued = pool.submit(|| "queued")?;                // the one queue slot
//!     let third = pool.submit(|| std::thread::current().id());
//!     match policy {
//!         Policy::Reject => {
//!             let refused = third.unwrap_err();
//!             assert_eq!(refused.kind(), PutErrorKind::Full);
//!             let _job = refused.into_inner(); // ours again: run it, retry, or drop it
//!         }
//!         _ => assert_eq!(third?.join()?, std::thread::current().id()), // ran right here
//!     }
//!     release.send(()).unwrap();
//!     assert!(busy.join()?);
//!     assert_eq!(queued.join()?, "queued");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Callbacks
//!
//! `submit_with_callback` runs the callback on the worker, right after the job, exactly once,
//! with the value or the panic (twisted's `callInThreadWithCallback`):
//!
//! ```
//! use pool_core::prelude::*;
//! use std::sync::mpsc;
//!
//! let pool = Builder::new().fixed(2).fast()?;
//! let (tx, rx) = mpsc::channel();
//! pool.submit_with_callback(|| 6 * 7, move |r| tx.send(r.ok()).unwrap())?;
//! assert_eq!(rx.recv()?, Some(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Batches
//!
//! `submit_batch` submits every closure; `join_all` gives the results in input order, a refused
//! closure in its place:
//!
//! ```
//! use pool_core::prelude::*;
//!
//! let pool = Builder::new().fixed(2).fast()?;
//! let results = pool.submit_batch((1..=4).map(|i| move || i * 10)).join_all();
//! let values = results.into_iter().collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(values, [10, 20, 30, 40]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Stopping
//!
//! `stop(timeout)` refuses new work, lets the queue drain and waits for the workers up to a
//! deadline; `stop_now` hands back every job not started, in queue order, never interrupting a
//! running one. Either way the [`StopReport`] says what happened:
//!
//! ```
//! use pool_core::prelude::*;
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! let pool = Builder::new().fixed(1).fast()?;
//! let (started, on_worker) = mpsc::channel();
//! let (release, gate) = mpsc::channel::<()>();
//! pool.execute(move || {
//!     started.send(()).unwrap();
//!     gate.recv().unwrap();
//! })?;
//! on_worker.recv()?; // the worker is busy with it
//! pool.execute(|| println!("queued 1"))?;
//! pool.execute(|| println!("queued 2"))?;
//! let report = pool.stop_now();
//! assert_eq!(report.returned.len(), 2, "both queued jobs come back unrun");
//! assert!(pool.execute(|| ()).unwrap_err().is_shut_down());
//! for job in report.returned {
//!     job.run(); // run them here (or drop them)
//! }
//! release.send(()).unwrap();
//! assert!(pool.await_termination(Duration::from_secs(5)));
//! let report = pool.stop(Duration::from_secs(5)); // idempotent: only reports
//! assert!(report.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Resizing
//!
//! `grow` and `shrink` move the worker count within the bounds (a shrink queues stop sentinels
//! behind the queued jobs, never interrupting a busy worker); `resize` changes the bounds:
//!
//! ```
//! use pool_core::prelude::*;
//!
//! let pool = Builder::new().min(1).max(4).fast()?;
//! assert_eq!(pool.grow(2), 2, "1 + 2 workers, within max = 4");
//! assert_eq!(pool.grow(5), 1, "never above max");
//! assert_eq!(pool.shrink(10), 3, "never below min = 1");
//! pool.resize(2, Some(8))?; // grows back to the new min
//! let err = pool.resize(3, Some(2)).unwrap_err();
//! assert_eq!(err.to_string(), "max=2 must be >= min=3");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Stats
//!
//! [`Pool::stats`] is a consistent snapshot; its `Display` reads like twisted's `dumpStats`:
//!
//! ```
//! use pool_core::prelude::*;
//! use pool_core::PoolState;
//! use std::time::Duration;
//!
//! let pool = Builder::new().fixed(2).fast()?;
//! pool.submit(|| ())?.join()?;
//! assert_eq!(pool.stats().state, PoolState::Running);
//! pool.stop(Duration::from_secs(5));
//! let stats = pool.stats();
//! assert_eq!((stats.completed, stats.workers), (1, 0));
//! assert_eq!(stats.state, PoolState::Terminated);
//! println!("{stats}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Panics
//!
//! A panic never kills a worker. A `submit` job's panic goes to its handle, a callback job's to
//! its callback; a fire-and-forget job's to the panic handler, if one is set:
//!
//! ```
//! use pool_core::prelude::*;
//! use std::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! let pool = Builder::new()
//!     .fixed(1)
//!     .panic_handler(move |id, panic| tx.send((id, panic.to_string())).unwrap())
//!     .fast()?;
//! let id = pool.execute(|| panic!("fire-and-forget panic"))?;
//! assert_eq!(rx.recv()?, (id, "fire-and-forget panic".to_owned()));
//! assert_eq!(pool.submit(|| 1)?.join()?, 1, "the worker lives on");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The manual clock
//!
//! Every pool deadline (keep-alive, put timeout, stop, `await_termination`) is read from the
//! pool's [`Clock`]; a manual one moves only when a test advances it, so time-dependent
//! behaviour is tested without sleeping:
//!
//! ```
//! use pool_core::prelude::*;
//! use pool_core::{Clock, Event, EventLog, ExitReason};
//! use std::time::Duration;
//!
//! let (clock, hand) = Clock::manual();
//! let log = EventLog::new();
//! let pool = Builder::new()
//!     .min(0)
//!     .max(2)
//!     .keep_alive(Duration::from_secs(60))
//!     .clock(clock)
//!     .on_event(log.listener())
//!     .fast()?;
//! pool.submit(|| ())?.join()?; // starts a worker above min = 0
//! let real_time = Duration::from_secs(30);
//! log.wait_for(real_time, |e| matches!(e, Event::WorkerParked { .. }))?;
//! hand.advance(Duration::from_secs(61)); // past its keep-alive, on the pool clock
//! log.wait_for(real_time, |e| {
//!     matches!(e, Event::WorkerExited { reason: ExitReason::IdleTimeout, .. })
//! })?;
//! assert_eq!(pool.stats().workers, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
pub use config::{
    AfterJobHook, Builder, Config, EventListener, Hook, JobEnd, JobHook, PanicHandler, Policy,
};
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
        job.enqueue(id, sink, false)
    }
    /// `Job::enqueue` into a pool that has not started: a `join` may then run the job itself
    /// (the sink's `CancelSink::run_unstarted` decides, under the pool's lock).
    pub fn enqueue_unstarted(job: &Job, id: JobId, sink: &DynArc<dyn CancelSink>) -> bool {
        job.enqueue(id, sink, true)
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

/// The semantics every backend follows: the workspace's `docs/semantics.md`, included here.
///
/// The sections below are that file as it stands; item names in it are those of this crate.
#[doc = include_str!("../../docs/semantics.md")]
pub mod semantics {}

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
