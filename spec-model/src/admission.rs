//! What a caller's `put` asks for and what it gets back.

use crate::job::JobId;
use std::fmt;
use std::time::Duration;

/// How long a `put` may wait for room in a full queue before the policy applies.
///
/// The sequential model has no other thread that could free room while a put waits, so
/// every variant resolves a full queue as "deadline reached" at once, and the model's clock
/// does not move for it. The variants are kept so a lock-step driver can pass through what
/// it called on the real pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admission {
    /// `put`: wait up to the configured `put_timeout`.
    Wait,
    /// `try_put`: do not wait; the policy applies at once.
    Try,
    /// `put_timeout(t)`: wait up to `t`.
    Timeout(Duration),
}

/// An accepted job: queued, or run by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// Its id (acceptance order).
    pub id: JobId,
    /// Whether [`Policy::CallerRuns`](crate::Policy::CallerRuns) made the caller run it. It
    /// is then `Running(Runner::Caller)` until the driver reports its outcome with
    /// [`Model::finish`](crate::Model::finish) (before its next caller operation: the real
    /// `put` returns only after running it).
    pub caller_ran: bool,
    /// The job [`Policy::DiscardOldest`](crate::Policy::DiscardOldest) removed from the
    /// queue to make room; it went to the eviction handler.
    pub evicted: Option<JobId>,
}

/// A refused job (the real pool hands the job back inside the error). Counted in
/// `rejected`; it gets no id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refused {
    /// The queue stayed full until the deadline and the policy is `Reject`.
    Full,
    /// Stop was requested (the pool is `Stopping` or `Terminated`).
    ShutDown,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the queue is full",
            Self::ShutDown => "the pool is shut down",
        })
    }
}

impl std::error::Error for Refused {}
