//! A pure, sequential, deterministic reference model of the thread pool's semantics
//! (`notes/DECISIONS.md`, `docs/semantics.md`): the pool as a state machine over plain data,
//! with no threads and no clocks.
//!
//! A real pool is nondeterministic: which worker takes which item, when a job finishes,
//! whether it panics, when an idle timeout fires. The model resolves each of these by an
//! explicit step, so a test can drive a real pool and the model in lock step and compare
//! what callers observe ([`Stats`], [`StopReport`], [`Event`]s, callback and result order).
//!
//! # Two kinds of operation
//!
//! - **Caller operations** are what a user of the pool calls: [`Model::start`],
//!   [`Model::put`], [`Model::grow`], [`Model::shrink`], [`Model::resize`],
//!   [`Model::cancel`], [`Model::begin_stop`] / [`Model::stop`], [`Model::stop_now`],
//!   [`Model::drop_pool`], [`Model::stats`], [`Model::poll_result`], and
//!   [`Model::dispose`] (what the holder of a handed-back job does with it). Each returns
//!   what the caller observes. A `put` on a full queue never waits: the model has no other
//!   thread that could make room, so every wait resolves as "deadline reached" at once.
//! - **Environment steps** are what the pool's threads and clock do: [`Model::take`] (a
//!   worker takes the queue head), [`Model::finish`] (a running job ends with an
//!   [`Outcome`]), [`Model::time_out`] (an idle worker exits), [`Model::pass_time`] /
//!   [`Model::advance_clock`] (time passes; the latter also times out expired idle workers,
//!   oldest first). Nothing else moves time. [`Model::settle`] applies every pending
//!   `take`, lowest [`WorkerId`] first; [`Model::enabled_steps`] lists the steps possible
//!   now, for exploring interleavings.
//!
//! # Workers
//!
//! Each worker is a [`WorkerState`]: `Starting` (spawned and counted live, its thread has
//! not begun its loop), `Parked { since, claimed }`, `Running(job)`, `Finishing` (its job is
//! done, it has not taken from the queue again yet), or `Exited(reason)`. A parked worker
//! that is not claimed is *idle*; every other live worker is busy. Pushing an item (job or
//! sentinel) while a worker is idle claims one. Starting, finishing and claimed workers are
//! *looking*: each takes the queue head at its next `take`. Starting and claimed workers are
//! *on their way*: as many queued jobs as there are of them beyond the pending stop sentinels
//! (any of them may take a sentinel) do not count against the capacity.
//!
//! Where the written rules leave a gap, the model takes the reading that keeps their
//! guarantees; each is documented where it applies (see `policy.rs`): a put spawns a worker
//! even at `max` when every live worker is covered by a pending stop (no job is queued where
//! no worker will reach it), and idle timeouts and `resize` judge `min` on the *staying*
//! workers, `live - pending_stops`.
//!
//! # Driving it in lock step with a real pool
//!
//! 1. Mirror every caller operation on both. Jobs get the same [`JobId`]s (acceptance
//!    order) and workers the same [`WorkerId`]s (spawn order). [`Model::new`] is a pool
//!    built with `pool_core::Builder::queue_before_start()` (`Created`); a pool the builder
//!    returns running is [`Model::new`] followed by [`Model::start`].
//! 2. Mirror each worker event of the real pool with a `take`: `WorkerStarted { worker }`
//!    is the first `take(worker)` of a starting worker (its result is the worker's next
//!    event); `JobStarted { job, worker }` is `take(worker)` giving `Taken::Job(job)`;
//!    `SentinelTaken { worker }` gives `Taken::Stop`; `WorkerParked { worker }` gives
//!    `Taken::Nothing`. Which parked worker a push wakes is not observable: `take` by an
//!    idle worker moves another worker's claim to it.
//! 3. `JobFinished`/`JobPanicked { job, .. }` is `finish(job, outcome)`; the real worker
//!    then takes from the queue at once, so its next event is the next `take`. A
//!    `CallerRuns` job (`Accepted::caller_ran`) is finished right after its `put`
//!    (`JobRanByCaller`).
//! 4. Step the real pool's manual clock and the model's [`Model::pass_time`] by the same
//!    amounts; mirror each `WorkerExited { reason: IdleTimeout }` with
//!    [`Model::time_out`]. [`Model::next_idle_timeout`] says when the next one is due.
//! 5. For `stop(timeout)`, call [`Model::begin_stop`] when the real stop is called, mirror
//!    the steps observed while it waits, and compare its return value with
//!    [`Model::stop_report`].
//! 6. Compare [`Model::stats`], [`Model::drain_events`], [`Model::callback_log`] and
//!    [`Model::poll_result`] (stats are easiest to compare in a settled state, where a real
//!    pool is quiet); call [`Model::check_invariants`] after each step (debug builds also
//!    check them inside every operation).
//!
//! # Example
//!
//! ```
//! use spec_model::{Admission, Config, Event, JobKind, Model, Outcome, PoolState, Taken, WorkerId};
//! use std::time::Duration;
//!
//! let mut pool = Model::new(Config::new(1, Some(2)))?;
//! assert_eq!(pool.start()?, 1); // min workers, nothing queued
//! pool.settle(); // worker 0 starts, finds the queue empty, parks
//! assert_eq!(pool.stats().idle, 1);
//!
//! let a = pool.put(JobKind::Plain, Admission::Try)?; // claims the idle worker 0
//! let b = pool.put(JobKind::Plain, Admission::Try)?; // spawns worker 1 (below max)
//! assert_eq!(pool.take(WorkerId(1))?, Taken::Job(a.id)); // either worker may go first
//! pool.settle(); // worker 0 takes job b
//! pool.finish(a.id, Outcome::Completed)?;
//! pool.finish(b.id, Outcome::Panicked)?;
//!
//! let report = pool.stop(Duration::from_secs(5));
//! assert_eq!((report.completed, report.panicked, report.still_running), (1, 1, 0));
//! assert_eq!(pool.state(), PoolState::Terminated);
//! assert!(pool.events().contains(&Event::JobPanicked { job: b.id, worker: WorkerId(0) }));
//! pool.check_invariants()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod admission;
mod config;
mod error;
mod event;
mod invariants;
mod job;
mod model;
mod policy;
mod report;
mod steps;
mod worker;

pub use admission::{Accepted, Admission, Refused};
pub use config::{
    Config, ConfigError, ConfigErrorKind, DEFAULT_KEEP_ALIVE, DEFAULT_PUT_TIMEOUT, Policy,
};
pub use error::{InvariantViolation, PollError, StartError, StepError};
pub use event::Event;
pub use job::{
    CallbackEntry, Disposal, Item, JobId, JobKind, JobStatus, Outcome, QueuedResult, ResultKind,
    Runner,
};
pub use model::Model;
pub use report::{Accounted, PoolState, Stats, StopReport};
pub use steps::{Step, Taken};
pub use worker::{ExitReason, WorkerId, WorkerState};
