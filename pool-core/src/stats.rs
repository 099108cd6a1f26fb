//! Observability: the stats snapshot, the pool's state and the stop report.

use std::fmt;

use crate::job::Job;

/// Where a pool is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PoolState {
    /// Built, not started: jobs may be queued; no workers.
    #[default]
    Created,
    /// Started: accepting work.
    Running,
    /// Stop requested: refusing work; workers drain and exit.
    Stopping,
    /// Stopped and every worker has exited.
    Terminated,
}

/// A snapshot of a pool (twisted's `dumpStats`, cheroot's `idle`/`qsize`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Live workers (busy + idle).
    pub workers: usize,
    /// Workers parked waiting for work and not yet claimed by a queued item.
    pub idle: usize,
    /// `workers - idle`.
    pub busy: usize,
    /// Jobs waiting in the queue (stop sentinels and cancelled jobs excluded).
    pub queued: usize,
    /// Stop sentinels queued and not yet taken.
    pub pending_stops: usize,
    /// Jobs that ran and returned (caller-run jobs included).
    pub completed: u64,
    /// Jobs that panicked (caller-run jobs included).
    pub panicked: u64,
    /// Jobs cancelled before they started.
    pub cancelled: u64,
    /// Jobs refused (`Full`, `ShutDown`) or evicted by `DiscardOldest`.
    pub rejected: u64,
    /// Jobs run on the submitting thread by `CallerRuns`.
    pub caller_runs: u64,
    /// Panics caught in callbacks, hooks, handlers and event listeners.
    pub hook_panics: u64,
    /// Workers that never ran their loop: the OS refused the thread, or `on_worker_start`
    /// panicked (each also [`crate::Event::WorkerSpawnFailed`]). They are not in `workers`.
    pub spawn_failures: u64,
    /// Most live workers ever.
    pub peak_workers: usize,
    /// The current minimum.
    pub min: usize,
    /// The current maximum (`None`: unbounded).
    pub max: Option<usize>,
    /// The pool's state.
    pub state: PoolState,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self
            .max
            .map_or_else(|| "unbounded".to_owned(), |m| m.to_string());
        let state = format!("{:?}", self.state);
        writeln!(f, "state:         {state}")?;
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

/// What `stop` / `stop_now` found.
#[derive(Debug, Default)]
pub struct StopReport {
    /// Jobs completed over the pool's life, at the time of the report.
    pub completed: u64,
    /// Jobs that panicked over the pool's life.
    pub panicked: u64,
    /// Jobs cancelled over the pool's life.
    pub cancelled: u64,
    /// Workers still alive at the deadline: detached, never joined.
    pub still_running: usize,
    /// Jobs that never started, handed back in queue order (by `stop_now`, or by `stop` on a
    /// pool that never started).
    pub returned: Vec<Job>,
}

impl StopReport {
    /// Whether every worker had exited by the deadline.
    pub fn is_clean(&self) -> bool {
        self.still_running == 0
    }
}
