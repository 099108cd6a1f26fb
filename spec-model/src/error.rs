//! Errors of caller operations and environment steps.

use crate::job::JobId;
use crate::worker::WorkerId;
use std::fmt;

/// Why `start` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartError {
    /// The pool was already started.
    AlreadyStarted,
    /// Stop was requested before the start.
    ShutDown,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AlreadyStarted => "the pool is already started",
            Self::ShutDown => "the pool is shut down",
        })
    }
}

impl std::error::Error for StartError {}

/// Why [`Model::poll_result`](crate::Model::poll_result) has no result to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollError {
    /// No result-queue request is outstanding: every one was delivered (or cancelled,
    /// handed back, evicted).
    NoResultsPending,
    /// Requests are outstanding but no result is ready and the pool has no live worker to
    /// run them (not started, or all workers gone).
    NoWorkersAvailable,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoResultsPending => "no results pending",
            Self::NoWorkersAvailable => "no workers available to process remaining requests",
        })
    }
}

impl std::error::Error for PollError {}

/// An environment step that is not possible in the current state (a driver bug, or an
/// exploration trying a disabled step). The model is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepError {
    /// No worker has this id.
    NoSuchWorker(WorkerId),
    /// The worker is running, exited, or idle with no claim it could take over.
    CannotTake(WorkerId),
    /// The job is not running (unknown, queued, or already finished).
    NotRunning(JobId),
    /// The outcome reports a callback panic, but this job runs no callback.
    NoCallback(JobId),
    /// The worker is not idle, its idle time has not reached `keep_alive`, or the pool is
    /// at `min`.
    CannotTimeOut(WorkerId),
    /// The job is not handed back (by a stop or an eviction), or its holder already
    /// disposed of it.
    NotHandedBack(JobId),
    /// Only a [`JobKind::Handle`](crate::JobKind::Handle) job can be cancelled.
    NoHandle(JobId),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchWorker(w) => write!(f, "{w} does not exist"),
            Self::CannotTake(w) => write!(f, "{w} cannot take from the queue now"),
            Self::NotRunning(j) => write!(f, "{j} is not running"),
            Self::NoCallback(j) => write!(f, "{j} runs no callback that could panic"),
            Self::CannotTimeOut(w) => write!(f, "{w} cannot time out now"),
            Self::NotHandedBack(j) => write!(f, "{j} is not a handed-back job still held"),
            Self::NoHandle(j) => write!(f, "{j} has no handle to cancel it with"),
        }
    }
}

impl std::error::Error for StepError {}

/// A broken model invariant, found by [`Model::check_invariants`](crate::Model::check_invariants).
/// Always a bug in the model (or a test that edited it); the message says which.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvariantViolation(pub String);

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model invariant violated: {}", self.0)
    }
}

impl std::error::Error for InvariantViolation {}
