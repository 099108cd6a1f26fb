//! The model's invariants, checked as a whole. Every operation checks them in debug builds
//! (`Model::debug_check`); tests and drivers can call `check_invariants` after each step.

use crate::error::InvariantViolation;
use crate::job::{Item, JobId, JobKind, JobStatus, Runner};
use crate::model::Model;
use crate::report::PoolState;
use crate::worker::{WorkerId, WorkerState};

/// Returns `Err` with `message` unless `condition` holds.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), InvariantViolation> {
    if condition {
        Ok(())
    } else {
        Err(InvariantViolation(message()))
    }
}

impl Model {
    /// Checks every invariant of the model's state, returning the first broken one:
    ///
    /// - the queue holds exactly the `Queued` jobs, once each, and `pending_stops` sentinels;
    /// - a job is `Running(Worker(w))` iff worker `w` is `Running(job)`;
    /// - no queued job has as many sentinels ahead of it as there are live workers (every
    ///   queued job will be taken by a worker);
    /// - if any worker is idle, the queue holds no more items than claimed parked workers
    ///   (in a settled state: idle workers only with an empty queue);
    /// - per state: `Created` has no workers and only jobs queued; `Running` keeps
    ///   `min <= live - pending_stops <= max`; `Stopping` has live workers, all covered by
    ///   pending stops; `Terminated` has no live worker and an empty queue;
    /// - parked workers parked no later than now; `peak_workers >= live`;
    /// - the ledger balances ([`Accounted::balanced`](crate::Accounted::balanced)),
    ///   `rejected = refused + evicted`, the result queue's outstanding count matches the
    ///   result-queue jobs queued, running, handed back and still held, or answered and not
    ///   polled; only handed-back jobs are disposed of.
    ///
    /// # Errors
    /// The first violated invariant, described.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_queue()?;
        self.check_workers()?;
        self.check_state()?;
        self.check_ledger()
    }

    fn check_queue(&self) -> Result<(), InvariantViolation> {
        let stops = self
            .queue
            .iter()
            .filter(|item| **item == Item::Stop)
            .count();
        ensure(stops == self.pending_stops, || {
            format!(
                "{stops} sentinels queued but pending_stops = {}",
                self.pending_stops
            )
        })?;
        let queued_jobs = self
            .jobs
            .iter()
            .filter(|r| r.status == JobStatus::Queued)
            .count();
        ensure(queued_jobs == self.backlog(), || {
            format!(
                "{queued_jobs} jobs Queued but {} job items in the queue",
                self.backlog()
            )
        })?;
        let live = self.live();
        let mut sentinels_ahead = 0;
        for item in &self.queue {
            match *item {
                Item::Stop => sentinels_ahead += 1,
                Item::Job(job) => {
                    ensure(self.status(job) == Some(JobStatus::Queued), || {
                        format!("{job} is in the queue but {:?}", self.status(job))
                    })?;
                    ensure(
                        self.state == PoolState::Created || sentinels_ahead < live,
                        || {
                            format!(
                                "{job} has {sentinels_ahead} sentinels ahead and {live} live \
                                 workers: no worker will take it"
                            )
                        },
                    )?;
                }
            }
        }
        let idle = self.idle();
        let claimed = self.claimed();
        ensure(idle == 0 || self.queue.len() <= claimed, || {
            format!(
                "{idle} idle workers while {} items are queued for {claimed} claimed workers",
                self.queue.len()
            )
        })
    }

    fn check_workers(&self) -> Result<(), InvariantViolation> {
        for (worker, state) in (0_u64..).map(WorkerId).zip(&self.workers) {
            match *state {
                WorkerState::Running(job) => {
                    let status = self.status(job);
                    let expected = Some(JobStatus::Running(Runner::Worker(worker)));
                    ensure(status == expected, || {
                        format!("{worker} runs {job} but the job is {status:?}")
                    })?;
                }
                WorkerState::Parked { since, .. } => {
                    ensure(since <= self.now, || {
                        format!("{worker} parked at {since:?}, after now = {:?}", self.now)
                    })?;
                }
                WorkerState::Starting | WorkerState::Finishing | WorkerState::Exited(_) => {}
            }
        }
        for (job, record) in (0_u64..).map(JobId).zip(&self.jobs) {
            if let JobStatus::Running(Runner::Worker(worker)) = record.status {
                ensure(
                    self.worker(worker) == Some(WorkerState::Running(job)),
                    || format!("{job} runs on {worker}, which is {:?}", self.worker(worker)),
                )?;
            }
        }
        let live = self.live();
        ensure(self.counters.peak_workers >= live, || {
            format!(
                "peak_workers = {} < live = {live}",
                self.counters.peak_workers
            )
        })?;
        ensure(self.pending_stops <= live, || {
            format!("pending_stops = {} > live = {live}", self.pending_stops)
        })
    }

    fn check_state(&self) -> Result<(), InvariantViolation> {
        let live = self.live();
        match self.state {
            PoolState::Created => {
                ensure(self.workers.is_empty() && self.pending_stops == 0, || {
                    "a Created pool has workers or sentinels".to_owned()
                })
            }
            PoolState::Running => {
                let staying = live - self.pending_stops;
                let (min, max) = (self.config.min, self.config.max);
                ensure(
                    staying >= min && max.is_none_or(|max| staying <= max),
                    || format!("Running with {staying} staying workers outside [{min}, {max:?}]"),
                )
            }
            PoolState::Stopping => ensure(live > 0 && self.pending_stops == live, || {
                format!(
                    "Stopping with {live} live workers and {} pending stops",
                    self.pending_stops
                )
            }),
            PoolState::Terminated => ensure(live == 0 && self.queue.is_empty(), || {
                format!(
                    "Terminated with {live} live workers and {} queued items",
                    self.queue.len()
                )
            }),
        }
    }

    fn check_ledger(&self) -> Result<(), InvariantViolation> {
        let ledger = self.accounted();
        ensure(ledger.balanced(), || {
            format!("ledger does not balance: {ledger:?}")
        })?;
        ensure(
            self.counters.rejected == self.counters.refused + self.counters.evicted,
            || format!("rejected != refused + evicted: {:?}", self.counters),
        )?;
        let unanswered_requests = self
            .jobs
            .iter()
            .filter(|r| r.kind == JobKind::ResultQueue)
            .filter(|r| match r.status {
                JobStatus::Queued | JobStatus::Running(_) => true,
                JobStatus::Returned | JobStatus::Evicted => r.disposal.is_none(),
                JobStatus::Completed | JobStatus::Panicked | JobStatus::Cancelled => false,
            })
            .count();
        let expected = unanswered_requests + self.results.len();
        ensure(self.results_outstanding == expected, || {
            format!(
                "results_outstanding = {} but {expected} requests are unanswered or unpolled",
                self.results_outstanding
            )
        })?;
        let wrongly_disposed = (0_u64..).map(JobId).zip(&self.jobs).find(|(_, r)| {
            r.disposal.is_some() && !matches!(r.status, JobStatus::Returned | JobStatus::Evicted)
        });
        ensure(wrongly_disposed.is_none(), || {
            format!("{wrongly_disposed:?} is disposed of but was never handed back")
        })
    }
}
