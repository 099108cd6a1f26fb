//! The event log: what a real pool also emits (as tracing events), so a lock-step driver
//! can compare the two.

use crate::job::JobId;
use crate::worker::{ExitReason, WorkerId};

/// One observable event, appended to [`Model::events`](crate::Model::events) in the order
/// the model's steps produce them: the same events, with the same meaning, as a real pool
/// emits (`docs/semantics.md` §7).
///
/// Jobs handed back by a stop and evicted jobs produce no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A worker's thread began its loop: its first `take` (it was counted live when it was
    /// spawned, by `start`, `grow`, `resize` or admission).
    WorkerStarted {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker found the queue empty and parked (idle).
    WorkerParked {
        /// The new worker.
        worker: WorkerId,
    },
    /// A worker exited; it follows `SentinelTaken` for a sentinel exit.
    WorkerExited {
        /// The worker.
        worker: WorkerId,
        /// Why it exited.
        reason: ExitReason,
    },
    /// A worker took a job from the queue and started it.
    JobStarted {
        /// The job.
        job: JobId,
        /// The worker running it.
        worker: WorkerId,
    },
    /// A job returned normally on a worker.
    JobFinished {
        /// The job.
        job: JobId,
        /// The worker that ran it.
        worker: WorkerId,
    },
    /// A job panicked on a worker (the panic was caught).
    JobPanicked {
        /// The job.
        job: JobId,
        /// The worker that ran it.
        worker: WorkerId,
    },
    /// A worker took a stop sentinel.
    SentinelTaken {
        /// The worker, which exits next.
        worker: WorkerId,
    },
    /// A `CallerRuns` job finished on the caller's thread.
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
}
