//! Lifecycle events, sent to `tracing` (target `pool`) and to an optional listener, and
//! [`EventLog`], a listener tests wait on instead of sleeping.

use std::fmt;
use std::time::{Duration, Instant};

use crate::job::JobId;
use crate::sync::{Arc, Condvar, Mutex, lock, wait_timeout};

/// A worker's number in its pool: 0, 1, 2, … in spawn order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u64);

/// Why a worker exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// It took a stop sentinel (shrink, stop, drop).
    Sentinel,
    /// It was idle for the keep-alive time above `min`.
    IdleTimeout,
}

/// Something that happened in a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// A worker thread started.
    WorkerStarted {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker parked, idle, waiting for work.
    WorkerParked {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker exited.
    WorkerExited {
        /// The worker.
        worker: WorkerId,
        /// Why.
        reason: ExitReason,
    },
    /// A worker was woken with something it does not understand (a completion packet with a
    /// key the pool does not use, on `pool-iocp`'s port): an error, reported; the worker is
    /// alive and goes on waiting for work. Backends without a port never emit it.
    UnknownWakeup {
        /// The worker that was woken.
        worker: WorkerId,
        /// What woke it: the packet's completion key.
        key: usize,
    },
    /// A worker took a job and is about to run it.
    JobStarted {
        /// The job.
        job: JobId,
        /// The worker.
        worker: WorkerId,
    },
    /// A job (and its callback) finished; counters are updated.
    JobFinished {
        /// The job.
        job: JobId,
        /// The worker.
        worker: WorkerId,
    },
    /// A job panicked (and its callback ran); counters are updated.
    JobPanicked {
        /// The job.
        job: JobId,
        /// The worker.
        worker: WorkerId,
    },
    /// A job ran on the submitting thread (policy `CallerRuns`).
    JobRanByCaller {
        /// The job.
        job: JobId,
        /// Whether it panicked.
        panicked: bool,
    },
    /// A queued job was cancelled through its handle.
    JobCancelled {
        /// The job.
        job: JobId,
    },
    /// A put found the queue full and began waiting for room (its deadline is already fixed).
    PutWaiting,
    /// `stop` or `stop_now` was called on a running or created pool (the stop's deadline is
    /// already fixed; new work is refused from now on).
    StopRequested,
    /// A worker took a stop sentinel (it exits next).
    SentinelTaken {
        /// The worker.
        worker: WorkerId,
    },
    /// A pool's handle was dropped before its work was done: after waiting up to the drop
    /// timeout, `unrun` jobs had not run (still queued, or dropped with a pool never started)
    /// and `still_running` worker threads were busy. Also a `tracing` warning.
    DroppedWithWork {
        /// Jobs that had not run.
        unrun: usize,
        /// Worker threads not yet finished.
        still_running: usize,
    },
    /// The pool became `Terminated` (stopped, every worker thread gone): emitted once, last
    /// (Java's `terminated()`).
    Terminated,
    /// A worker the pool decided to create never ran its loop: the OS refused its thread
    /// (`start_hook_panicked: false`), or its `on_worker_start` panicked (`true`). It ran no job
    /// and is out of `workers` (`spawn_failures += 1`); the job it was for stays queued for the
    /// next worker, or comes back in a stop report.
    WorkerSpawnFailed {
        /// The worker.
        worker: WorkerId,
        /// Whether `on_worker_start` panicked (else the OS refused the thread).
        start_hook_panicked: bool,
    },
}

impl Event {
    /// Emits the event as a `tracing` event at TRACE level, target `pool`.
    pub(crate) fn trace(&self) {
        tracing::trace!(target: "pool", event = ?self);
    }

    /// The job the event is about, if any.
    pub fn job(&self) -> Option<JobId> {
        match *self {
            Event::JobStarted { job, .. }
            | Event::JobFinished { job, .. }
            | Event::JobPanicked { job, .. }
            | Event::JobRanByCaller { job, .. }
            | Event::JobCancelled { job } => Some(job),
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Records events and lets a test block until one happens, with a deadline.
///
/// ```
/// use pool_core::{Builder, Event, EventLog, Pool, PoolExt};
/// use std::time::Duration;
/// let log = EventLog::new();
/// let pool = Builder::new().fixed(1).on_event(log.listener()).classic().unwrap();
/// let id = pool.execute(|| ()).unwrap();
/// log.wait_for(Duration::from_secs(10), |e| matches!(e, Event::JobFinished { job, .. } if *job == id))
///     .expect("the job finishes");
/// ```
#[derive(Clone, Default)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

#[derive(Default)]
struct LogInner {
    events: Mutex<Vec<Event>>,
    changed: Condvar,
}

/// `EventLog::wait_for` gave up at its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitTimedOut {
    /// Events seen so far, for the failure message.
    pub seen: usize,
}

impl fmt::Display for WaitTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the awaited event did not come before the deadline ({} events seen)",
            self.seen
        )
    }
}

impl std::error::Error for WaitTimedOut {}

impl EventLog {
    /// An empty log.
    pub fn new() -> EventLog {
        EventLog::default()
    }

    /// A listener for [`crate::Builder::on_event`] that records into this log.
    pub fn listener(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let inner = Arc::clone(&self.inner);
        move |e| {
            lock(&inner.events).push(*e);
            inner.changed.notify_all();
        }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.events).clone()
    }

    /// How many recorded events match.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        lock(&self.inner.events).iter().filter(|e| pred(e)).count()
    }

    /// Blocks until an event matching `pred` has been recorded (at any time, before or during the
    /// call), or `timeout` of real time passes.
    ///
    /// # Errors
    /// [`WaitTimedOut`] (with the number of events seen) when `timeout` passes first.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<(), WaitTimedOut> {
        self.wait_count(timeout, 1, pred)
    }

    /// Blocks until at least `n` recorded events match `pred`, or `timeout` passes.
    ///
    /// # Errors
    /// [`WaitTimedOut`] when `timeout` passes first.
    pub fn wait_count(
        &self,
        timeout: Duration,
        n: usize,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<(), WaitTimedOut> {
        self.wait_until(timeout, |events| {
            events.iter().filter(|e| pred(e)).count() >= n
        })
    }

    /// Blocks until `cond` holds over the recorded events, or `timeout` passes.
    ///
    /// # Errors
    /// [`WaitTimedOut`] when `timeout` passes first.
    pub fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&[Event]) -> bool,
    ) -> Result<(), WaitTimedOut> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner.events);
        loop {
            if cond(&g) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitTimedOut { seen: g.len() });
            }
            g = wait_timeout(&self.inner.changed, g, left);
        }
    }

    /// Forgets every recorded event.
    pub fn clear(&self) {
        lock(&self.inner.events).clear();
    }
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLog")
            .field("events", &lock(&self.inner.events).len())
            .finish()
    }
}
