//! Jobs: ids, kinds, queue items, outcomes, and what each kind makes observable.

use crate::worker::WorkerId;
use std::fmt;

/// A job's id: 0, 1, 2, ... in acceptance order per pool. Refused jobs get none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl JobId {
    /// The position of this job in a `Vec` indexed by id, if it fits in `usize`.
    pub(crate) fn index(self) -> Option<usize> {
        usize::try_from(self.0).ok()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// How a job was submitted; decides what its completion makes observable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// `execute`: fire-and-forget; a panic goes to the pool's panic handler.
    Plain,
    /// `submit`: a `JobHandle` that can join or [`cancel`](crate::Model::cancel).
    Handle,
    /// `submit_with_callback`: the callback runs on the same thread right after the job,
    /// exactly once; see [`Model::callback_log`](crate::Model::callback_log).
    Callback,
    /// A result-queue request (Arndt): the result is delivered to the caller's thread by
    /// [`Model::poll_result`](crate::Model::poll_result) in completion order.
    ResultQueue,
}

/// An entry in the shared FIFO queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// A job waiting for a worker.
    Job(JobId),
    /// A stop sentinel: the worker that takes it exits.
    Stop,
}

/// Who runs (or ran) a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runner {
    /// A pool worker.
    Worker(WorkerId),
    /// The caller's thread ([`Policy::CallerRuns`](crate::Policy::CallerRuns)).
    Caller,
}

/// Where a job is in its life. Exactly one of these holds for every accepted job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// In the queue, not started.
    Queued,
    /// Started, not finished.
    Running(Runner),
    /// Returned normally.
    Completed,
    /// Panicked (the panic was caught).
    Panicked,
    /// Removed from the queue by `cancel` before any worker took it.
    Cancelled,
    /// Never started; handed back by a stop (`stop_now`, or a pool without workers).
    Returned,
    /// Removed from a full queue by [`Policy::DiscardOldest`](crate::Policy::DiscardOldest)
    /// and handed to the eviction handler.
    Evicted,
}

/// How a running job ended, as the environment (the real pool) reports it to
/// [`Model::finish`](crate::Model::finish).
///
/// The "callback" is the job's `on_result` callback for a [`JobKind::Callback`] job, or the
/// pool's panic handler for a [`JobKind::Plain`] job that panicked; a panic in it is caught
/// and counted in `hook_panics`. Other kinds run no callback on the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The job returned; its callback (if any) returned too.
    Completed,
    /// The job panicked; its callback (if any) returned.
    Panicked,
    /// The job returned, then its callback panicked.
    CompletedCallbackPanicked,
    /// The job panicked, then its callback panicked.
    PanickedCallbackPanicked,
}

impl Outcome {
    /// Whether the job itself panicked.
    #[must_use]
    pub const fn job_panicked(self) -> bool {
        matches!(self, Self::Panicked | Self::PanickedCallbackPanicked)
    }

    /// Whether the callback run after the job panicked.
    #[must_use]
    pub const fn callback_panicked(self) -> bool {
        matches!(
            self,
            Self::CompletedCallbackPanicked | Self::PanickedCallbackPanicked
        )
    }
}

/// Whether a job of `kind` that ended as `outcome` runs a callback on its runner: always
/// for [`JobKind::Callback`], for [`JobKind::Plain`] only when it panicked (the panic
/// handler), never for the others.
pub(crate) const fn runs_callback(kind: JobKind, outcome: Outcome) -> bool {
    match kind {
        JobKind::Callback => true,
        JobKind::Plain => outcome.job_panicked(),
        JobKind::Handle | JobKind::ResultQueue => false,
    }
}

/// One run of a [`JobKind::Callback`] job's callback: on the job's own runner, right after
/// the job, exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackEntry {
    /// The job whose callback ran.
    pub job: JobId,
    /// Where it ran: the same worker (or the caller) that ran the job.
    pub runner: Runner,
    /// Whether it received a panic (`Err`) rather than a value.
    pub job_panicked: bool,
    /// Whether the callback itself panicked (counted in `hook_panics`).
    pub callback_panicked: bool,
}

/// What a result-queue request produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultKind {
    /// It returned a value (the caller's `callback` runs, or a `Completed` result).
    Value,
    /// It panicked (`exc_callback(id, Panicked)`).
    Panicked,
    /// It was handed back and its holder dropped it without running it
    /// (`exc_callback(id, Dropped)`).
    Dropped,
}

/// A [`JobKind::ResultQueue`] result, delivered by
/// [`Model::poll_result`](crate::Model::poll_result) in completion order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueuedResult {
    /// The request this is the result of.
    pub job: JobId,
    /// What it produced.
    pub result: ResultKind,
}

/// What the holder of a handed-back job (in a [`StopReport`](crate::StopReport), or given to
/// the eviction handler) did with it. Outside the pool: no pool counter changes, but a
/// result-queue request then gets its result, and the job cannot be cancelled any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposal {
    /// Dropped without running (handles give `Dropped`, requests a `Dropped` result).
    Dropped,
    /// Run by the holder; it returned.
    Completed,
    /// Run by the holder; it panicked.
    Panicked,
    /// Cancelled through its handle ([`JobKind::Handle`] only), see
    /// [`Model::cancel`](crate::Model::cancel).
    Cancelled,
}

impl Disposal {
    /// The result a result-queue request gets from this disposal.
    pub(crate) const fn result(self) -> ResultKind {
        match self {
            Self::Completed => ResultKind::Value,
            Self::Panicked => ResultKind::Panicked,
            Self::Dropped | Self::Cancelled => ResultKind::Dropped,
        }
    }
}

/// What the model remembers about one accepted job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobRecord {
    /// Fixed at acceptance.
    pub(crate) kind: JobKind,
    /// Invariant: `Queued` iff exactly one `Item::Job(id)` is in the queue; `Running(Worker(w))`
    /// iff worker `w` is `WorkerState::Running(id)`.
    pub(crate) status: JobStatus,
    /// What its holder did with it; `Some` only for a `Returned` or `Evicted` job.
    pub(crate) disposal: Option<Disposal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_flags_split_job_and_callback_panics() {
        assert!(!Outcome::Completed.job_panicked());
        assert!(!Outcome::Completed.callback_panicked());
        assert!(Outcome::Panicked.job_panicked());
        assert!(!Outcome::Panicked.callback_panicked());
        assert!(!Outcome::CompletedCallbackPanicked.job_panicked());
        assert!(Outcome::CompletedCallbackPanicked.callback_panicked());
        assert!(Outcome::PanickedCallbackPanicked.job_panicked());
        assert!(Outcome::PanickedCallbackPanicked.callback_panicked());
    }

    #[test]
    fn only_callback_jobs_and_panicking_plain_jobs_run_a_callback() {
        for outcome in [Outcome::Completed, Outcome::Panicked] {
            assert!(runs_callback(JobKind::Callback, outcome));
            assert!(!runs_callback(JobKind::Handle, outcome));
            assert!(!runs_callback(JobKind::ResultQueue, outcome));
        }
        assert!(!runs_callback(JobKind::Plain, Outcome::Completed));
        assert!(runs_callback(JobKind::Plain, Outcome::Panicked));
    }
}
