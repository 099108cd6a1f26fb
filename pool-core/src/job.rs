//! Jobs, their ids, panics, and the per-task state shared with a [`JobHandle`].
//!
//! A [`Job`] is a boxed `FnOnce` with an optional [`Control`] block. The control block is what
//! makes `cancel` race-free against a worker taking the job: both sides move the task state out
//! of [`QUEUED`] with a compare-exchange, so exactly one of them wins.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{DynArc, Mutex, lock};

/// The id a pool gives every job it accepts: 0, 1, 2, … in acceptance order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// The payload of a panic caught from a job, callback or hook.
pub struct Panic(Box<dyn Any + Send + 'static>);

impl Panic {
    pub(crate) fn new(payload: Box<dyn Any + Send + 'static>) -> Panic {
        Panic(payload)
    }

    /// The panic message when the payload is a string (as `panic!("...")` makes it).
    pub fn message(&self) -> Option<&str> {
        if let Some(s) = self.0.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            self.0.downcast_ref::<String>().map(String::as_str)
        }
    }

    /// The raw payload, for `std::panic::resume_unwind`.
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.0
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "Panic({m:?})"),
            None => f.write_str("Panic(<non-string payload>)"),
        }
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().unwrap_or("<non-string panic payload>"))
    }
}

/// Runs `f`, catching a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Panic::new)
}

/// What running a job came to.
#[derive(Debug)]
pub enum Outcome {
    /// The job returned.
    Completed,
    /// The job panicked. The payload is here unless it was delivered to the job's handle or
    /// callback (then `None`).
    Panicked(Option<Panic>),
    /// The job was cancelled before it started; it did not run.
    Cancelled,
}

/// What a worker reports after running a job.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub(crate) outcome: Outcome,
    /// The job's callback panicked (caught).
    pub(crate) callback_panicked: bool,
}

// Task states. Every transition is a compare-exchange, so each has exactly one winner.
/// Not in any pool's custody: new, refused, or handed back by `stop_now`. May be run by its holder.
pub(crate) const PENDING: u8 = 0;
/// In a pool's queue. Leaves by a worker taking it (RUNNING), `cancel` (CANCELLED), or `stop_now`
/// (back to PENDING).
pub(crate) const QUEUED: u8 = 1;
/// Started; cannot be cancelled any more.
pub(crate) const RUNNING: u8 = 2;
/// Cancelled before it started; it will never run.
pub(crate) const CANCELLED: u8 = 3;

/// Told when a queued job is cancelled, so the pool can drop it from its counts.
pub trait CancelSink: Send + Sync {
    /// The job `id`, queued in this pool, was cancelled by its handle.
    fn job_cancelled(&self, id: JobId);
}

/// The part of a task shared between the job and its handle.
pub(crate) struct Control {
    /// One of [`PENDING`], [`QUEUED`], [`RUNNING`], [`CANCELLED`].
    state: AtomicU8,
    /// The pool holding the job while it is QUEUED, and its id there.
    sink: Mutex<Option<(JobId, DynArc<dyn CancelSink>)>>,
}

impl Control {
    pub(crate) fn new() -> Control {
        Control {
            state: AtomicU8::new(PENDING),
            sink: Mutex::new(None),
        }
    }

    fn transition(&self, from: u8, to: u8) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    pub(crate) fn cancel(&self) -> bool {
        loop {
            match self.state.load(Ordering::Acquire) {
                QUEUED => {
                    if self.transition(QUEUED, CANCELLED) {
                        // Clone the sink out so it is not called under our lock.
                        let sink = lock(&self.sink).take();
                        if let Some((id, sink)) = sink {
                            sink.job_cancelled(id);
                        }
                        return true;
                    }
                }
                PENDING => {
                    if self.transition(PENDING, CANCELLED) {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    }
}

/// The behaviour behind a [`Job`].
pub(crate) trait Runnable: Any + Send {
    /// Runs the job (it has already been claimed); never unwinds.
    fn run(self: Box<Self>) -> RunReport;
    /// The control block, for jobs that have a handle.
    fn control(&self) -> Option<&Control> {
        None
    }
}

/// A plain closure.
pub(crate) struct FnJob<F>(pub(crate) F);

impl<F: FnOnce() + Send + 'static> Runnable for FnJob<F> {
    fn run(self: Box<Self>) -> RunReport {
        let outcome = match catch(self.0) {
            Ok(()) => Outcome::Completed,
            Err(p) => Outcome::Panicked(Some(p)),
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }
}

/// A unit of work: a closure, perhaps tied to a [`JobHandle`] or a callback.
///
/// Pools take jobs and hand them back in errors ([`crate::PutError`]) and stop reports; a job
/// handed back can be run by its holder with [`Job::run`], or turned back into the closure with
/// [`Job::downcast`].
pub struct Job {
    inner: Box<dyn Runnable>,
}

impl Job {
    /// A job that runs `f`.
    pub fn new<F: FnOnce() + Send + 'static>(f: F) -> Job {
        Job {
            inner: Box::new(FnJob(f)),
        }
    }

    pub(crate) fn from_runnable<R: Runnable>(r: R) -> Job {
        Job { inner: Box::new(r) }
    }

    /// Runs the job on the current thread and reports how it went. A panic is caught; for a job
    /// with a handle or a callback it goes there, as if a worker had run it.
    pub fn run(self) -> Outcome {
        if !self.claim() {
            return Outcome::Cancelled;
        }
        self.run_claimed().outcome
    }

    /// Turns a job made by [`Job::new`] back into its closure.
    pub fn downcast<F: FnOnce() + Send + 'static>(self) -> Result<F, Job> {
        self.downcast_raw::<FnJob<F>>().map(|j| j.0)
    }

    pub(crate) fn downcast_raw<R: Runnable>(self) -> Result<R, Job> {
        let any: &dyn Any = &*self.inner;
        if !any.is::<R>() {
            return Err(self);
        }
        let any: Box<dyn Any + Send> = self.inner;
        match any.downcast::<R>() {
            Ok(r) => Ok(*r),
            Err(_) => unreachable!("the type was checked"),
        }
    }

    /// Whether this job has been cancelled (it will not run).
    pub fn is_cancelled(&self) -> bool {
        self.inner.control().is_some_and(Control::is_cancelled)
    }

    /// Whether the job can be cancelled (it belongs to a [`JobHandle`]).
    pub(crate) fn has_control(&self) -> bool {
        self.inner.control().is_some()
    }

    /// Moves the job into a pool's custody as `id`. Returns false if it was already cancelled.
    pub(crate) fn enqueue(&self, id: JobId, sink: &DynArc<dyn CancelSink>) -> bool {
        match self.inner.control() {
            None => true,
            Some(c) => {
                *lock(&c.sink) = Some((id, DynArc::clone(sink)));
                if c.transition(PENDING, QUEUED) {
                    true
                } else {
                    lock(&c.sink).take();
                    false
                }
            }
        }
    }

    /// Takes the job out of the queue to run it: false if `cancel` won the race.
    pub(crate) fn claim(&self) -> bool {
        match self.inner.control() {
            None => true,
            Some(c) => {
                let won = c.transition(QUEUED, RUNNING) || c.transition(PENDING, RUNNING);
                if won {
                    lock(&c.sink).take();
                }
                won
            }
        }
    }

    /// Takes the job out of the queue to hand it back: false if `cancel` won the race.
    pub(crate) fn release(&self) -> bool {
        match self.inner.control() {
            None => true,
            Some(c) => {
                let won = c.transition(QUEUED, PENDING);
                if won {
                    lock(&c.sink).take();
                }
                won
            }
        }
    }

    /// Runs a job whose [`Job::claim`] succeeded.
    pub(crate) fn run_claimed(self) -> RunReport {
        self.inner.run()
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
