//! Snapshots a caller can observe: the pool state, `Stats`, `StopReport`, and the
//! conservation ledger `Accounted`.

use crate::job::JobId;
use std::fmt;

/// The pool's lifecycle: `Created -> Running -> Stopping -> Terminated`; a `Created` pool
/// can be stopped directly (it goes straight to `Terminated`: it has no workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolState {
    /// Not started: jobs may be queued, no workers.
    Created,
    /// Started, no stop requested.
    Running,
    /// Stop requested (by a stop, `stop_now` or drop), some workers still alive. New work
    /// is refused.
    Stopping,
    /// Stop requested and no live worker left.
    Terminated,
}

impl fmt::Display for PoolState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Terminated => "terminated",
        })
    }
}

/// A snapshot of the pool's counters, as `Pool::stats()` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Live workers (including those a pending stop will end).
    pub workers: usize,
    /// Parked, unclaimed workers.
    pub idle: usize,
    /// `workers - idle`: running, finishing, or claimed.
    pub busy: usize,
    /// Jobs in the queue (not sentinels).
    pub queued: usize,
    /// Sentinels in the queue, not yet taken.
    pub pending_stops: usize,
    /// Jobs that returned (on a worker or the caller).
    pub completed: u64,
    /// Jobs that panicked (on a worker or the caller).
    pub panicked: u64,
    /// Jobs cancelled while queued.
    pub cancelled: u64,
    /// Refused puts (`Full`, `ShutDown`) plus jobs evicted by `DiscardOldest`.
    pub rejected: u64,
    /// Jobs run on the caller's thread by `CallerRuns`.
    pub caller_runs: u64,
    /// Callbacks (or panic handlers) that panicked.
    pub hook_panics: u64,
    /// Most live workers at any time.
    pub peak_workers: usize,
    /// Current lower bound.
    pub min: usize,
    /// Current upper bound (`None` = unbounded).
    pub max: Option<usize>,
    /// Lifecycle state.
    pub state: PoolState,
}

impl fmt::Display for Stats {
    /// Like twisted's `dumpStats` (`working` = busy, `waiters` = idle), line for line the
    /// same text as `pool_core::Stats`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self
            .max
            .map_or_else(|| "unbounded".to_owned(), |max| max.to_string());
        writeln!(f, "state:         {:?}", self.state)?;
        writeln!(
            f,
            "workers:       {} (min {}, max {max}, peak {})",
            self.workers, self.min, self.peak_workers
        )?;
        writeln!(f, "  working:     {}", self.busy)?;
        writeln!(f, "  waiters:     {}", self.idle)?;
        writeln!(
            f,
            "queue:         {} jobs, {} pending stops",
            self.queued, self.pending_stops
        )?;
        writeln!(f, "completed:     {}", self.completed)?;
        writeln!(f, "panicked:      {}", self.panicked)?;
        writeln!(f, "cancelled:     {}", self.cancelled)?;
        writeln!(f, "rejected:      {}", self.rejected)?;
        writeln!(f, "caller runs:   {}", self.caller_runs)?;
        write!(f, "hook panics:   {}", self.hook_panics)
    }
}

/// What a stop reports to its caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StopReport {
    /// Pool-lifetime count of jobs that returned, at the time of the report.
    pub completed: u64,
    /// Pool-lifetime count of jobs that panicked, at the time of the report.
    pub panicked: u64,
    /// Pool-lifetime count of cancelled jobs, at the time of the report.
    pub cancelled: u64,
    /// Live workers when the report is taken (for `stop`, at its deadline: detached, never
    /// joined after; for `stop_now`, right away). A stop called from inside a job counts its
    /// own worker too.
    pub still_running: usize,
    /// Never-started jobs handed back by this stop call, in queue order: everything queued
    /// for `stop_now`; for `stop`, only when the pool has no worker to run them (a `Created`
    /// pool).
    pub returned: Vec<JobId>,
}

impl StopReport {
    /// Whether every worker had exited when the report was taken (`still_running == 0`).
    #[must_use]
    pub const fn is_clean(&self) -> bool {
        self.still_running == 0
    }
}

/// The conservation ledger: every accepted job is in exactly one bucket.
///
/// `accepted == completed + panicked + cancelled + returned + evicted + queued + running`
/// ([`balanced`](Accounted::balanced)); refused puts got no id and are counted apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accounted {
    /// Jobs given an id (queued or caller-run).
    pub accepted: u64,
    /// Of those, run by the caller (also counted in `completed`/`panicked`/`running`).
    pub caller_runs: u64,
    /// Finished normally.
    pub completed: u64,
    /// Finished by panicking.
    pub panicked: u64,
    /// Cancelled while queued.
    pub cancelled: u64,
    /// Handed back by a stop, never started.
    pub returned: u64,
    /// Evicted by `DiscardOldest`.
    pub evicted: u64,
    /// In the queue now.
    pub queued: u64,
    /// Running now (on a worker or the caller).
    pub running: u64,
    /// Refused puts (no id).
    pub refused: u64,
}

impl Accounted {
    /// Whether every accepted job is accounted for exactly once.
    #[must_use]
    pub const fn balanced(&self) -> bool {
        self.accepted
            == self.completed
                + self.panicked
                + self.cancelled
                + self.returned
                + self.evicted
                + self.queued
                + self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_display_lists_every_counter() {
        let stats = Stats {
            workers: 3,
            idle: 1,
            busy: 2,
            queued: 4,
            pending_stops: 1,
            completed: 5,
            panicked: 6,
            cancelled: 7,
            rejected: 8,
            caller_runs: 9,
            hook_panics: 10,
            peak_workers: 11,
            min: 1,
            max: None,
            state: PoolState::Running,
        };
        let text = stats.to_string();
        assert_eq!(
            text,
            "state:         Running\n\
             workers:       3 (min 1, max unbounded, peak 11)\n\
             \x20 working:     2\n\
             \x20 waiters:     1\n\
             queue:         4 jobs, 1 pending stops\n\
             completed:     5\n\
             panicked:      6\n\
             cancelled:     7\n\
             rejected:      8\n\
             caller runs:   9\n\
             hook panics:   10"
        );
    }

    #[test]
    fn ledger_is_unbalanced_when_a_job_is_missing() {
        let mut ledger = Accounted {
            accepted: 3,
            caller_runs: 0,
            completed: 1,
            panicked: 1,
            cancelled: 0,
            returned: 0,
            evicted: 0,
            queued: 1,
            running: 0,
            refused: 4,
        };
        assert!(ledger.balanced());
        ledger.queued = 0;
        assert!(!ledger.balanced());
    }
}
