//! Workers: ids and the per-worker state machine.
//!
//! ```text
//!   spawn ──► Starting ──┐
//!                        ├─take: job──────► Running(job) ──finish──► Finishing ──┐
//!   Parked{claimed} ─────┤                                                       │
//!     ▲      ▲           ├─take: Stop─────► Exited(Sentinel)          (take, as  │
//!     │      │           └─take: nothing──► Parked{claimed: false}     Starting) │
//!     │      └── a pushed item claims an idle worker ◄──┘                        │
//!     └──────────────────────────────────────────────────────────────────────────┘
//!   Parked{claimed: false} ──idle for keep_alive above min──► Exited(IdleTimeout)
//! ```
//!
//! `Starting`, `Finishing` and claimed `Parked` workers are *looking*: each will take the
//! queue head next; a `take` step is enabled for them.

use crate::job::JobId;
use std::fmt;
use std::time::Duration;

/// A worker's id: 0, 1, 2, ... in spawn order per pool, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u64);

impl WorkerId {
    /// The position of this worker in a `Vec` indexed by id, if it fits in `usize`.
    pub(crate) fn index(self) -> Option<usize> {
        usize::try_from(self.0).ok()
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker#{}", self.0)
    }
}

/// Why a worker exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// It took a stop sentinel from the queue.
    Sentinel,
    /// It stayed idle for `keep_alive` while the pool was above `min`.
    IdleTimeout,
}

/// Where one worker is in its loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkerState {
    /// Spawned (by `start`, `grow`, `resize` or admission) and counted live, but its thread
    /// has not begun its loop: busy, not idle. Its first `take` emits `WorkerStarted`, then
    /// it takes the queue head, like a finishing worker.
    Starting,
    /// Parked, waiting for the queue.
    ///
    /// `claimed: false` is *idle*: counted in `Stats.idle`, claimable by the next pushed
    /// item, subject to the idle timeout; `since` is when it found the queue empty (its idle
    /// time is `now - since`). `claimed: true` means a pushed item claimed it: a wakeup is
    /// owed to it, it is busy, it will take the queue head, and it never times out.
    Parked {
        /// Pool-clock time at which it parked (or was spawned).
        since: Duration,
        /// Whether a pushed item has claimed it (it is then not idle).
        claimed: bool,
    },
    /// Running a job (not interruptible: `shrink` and `stop` never touch it).
    Running(JobId),
    /// Finished a job (and its callback) and has not looked at the queue yet. Busy: not
    /// idle, not claimable, so not spare capacity for admission.
    Finishing,
    /// Gone; the slot stays so ids index the worker list.
    Exited(ExitReason),
}

impl WorkerState {
    /// Whether the worker's thread is still alive (anything but `Exited`).
    #[must_use]
    pub const fn is_live(self) -> bool {
        !matches!(self, Self::Exited(_))
    }

    /// Whether it is idle: parked and unclaimed.
    #[must_use]
    pub const fn is_idle(self) -> bool {
        matches!(self, Self::Parked { claimed: false, .. })
    }

    /// Whether it will take the queue head next without a new wakeup: starting, finishing,
    /// or parked and claimed. These are the workers a `take` step is enabled for.
    #[must_use]
    pub const fn is_looking(self) -> bool {
        matches!(
            self,
            Self::Starting | Self::Parked { claimed: true, .. } | Self::Finishing
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unclaimed_parked_workers_are_idle() {
        let zero = Duration::ZERO;
        assert!(
            WorkerState::Parked {
                since: zero,
                claimed: false
            }
            .is_idle()
        );
        assert!(
            !WorkerState::Parked {
                since: zero,
                claimed: true
            }
            .is_idle()
        );
        assert!(!WorkerState::Finishing.is_idle());
        assert!(!WorkerState::Running(JobId(0)).is_idle());
        assert!(!WorkerState::Exited(ExitReason::Sentinel).is_idle());
    }

    #[test]
    fn claimed_and_finishing_workers_look_at_the_queue() {
        let zero = Duration::ZERO;
        assert!(
            WorkerState::Parked {
                since: zero,
                claimed: true
            }
            .is_looking()
        );
        assert!(WorkerState::Finishing.is_looking());
        assert!(WorkerState::Starting.is_looking());
        assert!(!WorkerState::Starting.is_idle());
        assert!(
            !WorkerState::Parked {
                since: zero,
                claimed: false
            }
            .is_looking()
        );
        assert!(!WorkerState::Running(JobId(1)).is_looking());
    }

    #[test]
    fn exited_workers_are_not_live() {
        assert!(!WorkerState::Exited(ExitReason::IdleTimeout).is_live());
        assert!(WorkerState::Finishing.is_live());
    }
}
