//! Environment steps: what the pool's own threads and its clock do. A real pool does these
//! nondeterministically; the model does them only when told, so a driver can follow the
//! real pool (or explore interleavings with [`Model::enabled_steps`]).

use crate::error::StepError;
use crate::event::Event;
use crate::job::{
    CallbackEntry, Item, JobId, JobKind, JobStatus, Outcome, QueuedResult, ResultKind, Runner,
    runs_callback,
};
use crate::model::Model;
use crate::policy;
use crate::worker::{ExitReason, WorkerId, WorkerState};
use std::time::Duration;

/// What a worker found at the head of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Taken {
    /// A job, which it now runs.
    Job(JobId),
    /// A stop sentinel: it exited.
    Stop,
    /// Nothing: it parked idle.
    Nothing,
}

/// An environment step enabled in the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// [`Model::take`] by this worker (starting, finishing, or parked and claimed).
    Take(WorkerId),
    /// [`Model::finish`] of this running job, with any outcome its kind allows.
    Finish(JobId),
    /// [`Model::time_out`] of this idle worker: its idle time reached `keep_alive` and the
    /// pool is above `min`.
    TimeOut(WorkerId),
}

impl Model {
    /// Worker `worker` takes the queue head. A `Starting` worker first emits
    /// `WorkerStarted`. Then a job starts (`JobStarted`); a sentinel ends the worker
    /// (`SentinelTaken`, `WorkerExited`); an empty queue parks it idle from now
    /// (`WorkerParked`).
    ///
    /// Enabled for a starting, finishing, or claimed parked worker. Also accepted for an
    /// idle worker while another parked worker holds a claim: which parked thread a push
    /// wakes is not observable in a real pool, so the claim moves to `worker` (the lowest-id
    /// claimed worker gives it up and is idle again, parked since when it parked).
    ///
    /// # Errors
    /// [`StepError::NoSuchWorker`], or [`StepError::CannotTake`] for a running or exited
    /// worker, or an idle one with no claim to take over. The model is then unchanged.
    pub fn take(&mut self, worker: WorkerId) -> Result<Taken, StepError> {
        let index = worker
            .index()
            .filter(|&i| i < self.workers.len())
            .ok_or(StepError::NoSuchWorker(worker))?;
        match self.workers[index] {
            WorkerState::Starting => self.events.push(Event::WorkerStarted { worker }),
            WorkerState::Finishing | WorkerState::Parked { claimed: true, .. } => {}
            WorkerState::Parked { claimed: false, .. } => {
                let donor = self
                    .workers
                    .iter()
                    .position(|w| matches!(w, WorkerState::Parked { claimed: true, .. }))
                    .ok_or(StepError::CannotTake(worker))?;
                if let WorkerState::Parked { since, .. } = self.workers[donor] {
                    self.workers[donor] = WorkerState::Parked {
                        since,
                        claimed: false,
                    };
                }
            }
            WorkerState::Running(_) | WorkerState::Exited(_) => {
                return Err(StepError::CannotTake(worker));
            }
        }
        let taken = match self.queue.pop_front() {
            Some(Item::Job(job)) => {
                self.workers[index] = WorkerState::Running(job);
                self.set_status(job, JobStatus::Running(Runner::Worker(worker)));
                self.events.push(Event::JobStarted { job, worker });
                Taken::Job(job)
            }
            Some(Item::Stop) => {
                let reason = ExitReason::Sentinel;
                self.workers[index] = WorkerState::Exited(reason);
                self.pending_stops -= 1;
                self.events.push(Event::SentinelTaken { worker });
                self.events.push(Event::WorkerExited { worker, reason });
                self.terminate_if_no_workers();
                Taken::Stop
            }
            None => {
                self.workers[index] = WorkerState::Parked {
                    since: self.now,
                    claimed: false,
                };
                self.events.push(Event::WorkerParked { worker });
                Taken::Nothing
            }
        };
        self.debug_check();
        Ok(taken)
    }

    /// Running job `job` ended with `outcome`. On its runner, right after the job: a
    /// [`JobKind::Callback`] job's callback runs (logged in
    /// [`callback_log`](Model::callback_log)), a callback panic counts in `hook_panics`, a
    /// [`JobKind::ResultQueue`] result joins the results the caller polls. Then the job
    /// counts in `completed` or `panicked`, with a `JobFinished`/`JobPanicked` event and its
    /// worker `Finishing` (busy until it takes from the queue again), or, for a caller-run
    /// job, a `JobRanByCaller` event.
    ///
    /// # Errors
    /// [`StepError::NotRunning`] if `job` is not running; [`StepError::NoCallback`] if the
    /// outcome reports a callback panic for a job that runs no callback (see [`Outcome`]).
    /// The model is then unchanged.
    pub fn finish(&mut self, job: JobId, outcome: Outcome) -> Result<(), StepError> {
        let record = *self.record(job).ok_or(StepError::NotRunning(job))?;
        let JobStatus::Running(runner) = record.status else {
            return Err(StepError::NotRunning(job));
        };
        if outcome.callback_panicked() && !runs_callback(record.kind, outcome) {
            return Err(StepError::NoCallback(job));
        }
        let panicked = outcome.job_panicked();
        if record.kind == JobKind::Callback {
            self.callback_log.push(CallbackEntry {
                job,
                runner,
                job_panicked: panicked,
                callback_panicked: outcome.callback_panicked(),
            });
        }
        if outcome.callback_panicked() {
            self.counters.hook_panics += 1;
        }
        if record.kind == JobKind::ResultQueue {
            let result = if panicked {
                ResultKind::Panicked
            } else {
                ResultKind::Value
            };
            self.results.push_back(QueuedResult { job, result });
        }
        if panicked {
            self.counters.panicked += 1;
            self.set_status(job, JobStatus::Panicked);
        } else {
            self.counters.completed += 1;
            self.set_status(job, JobStatus::Completed);
        }
        match runner {
            Runner::Worker(worker) => {
                if let Some(i) = worker.index() {
                    self.workers[i] = WorkerState::Finishing;
                }
                self.events.push(if panicked {
                    Event::JobPanicked { job, worker }
                } else {
                    Event::JobFinished { job, worker }
                });
            }
            Runner::Caller => self.events.push(Event::JobRanByCaller { job, panicked }),
        }
        self.debug_check();
        Ok(())
    }

    /// Moves the pool clock forward by `d` (saturating), then retires every idle worker
    /// whose idle time reached `keep_alive`, oldest-idle first (ties: lowest id), while the
    /// staying workers (`live - pending_stops`) exceed `min`. Returns the retired workers.
    ///
    /// Use [`pass_time`](Model::pass_time) and [`time_out`](Model::time_out) instead to
    /// choose which expired workers exit, as a real pool's wakeup order decides.
    pub fn advance_clock(&mut self, d: Duration) -> Vec<WorkerId> {
        self.pass_time(d);
        let mut retired = Vec::new();
        while let Some(worker) = self.oldest_expired_idle() {
            self.time_out(worker)
                .expect("an expired idle worker above min can time out");
            retired.push(worker);
        }
        retired
    }

    /// Moves the pool clock forward by `d` (saturating) and nothing else: expired idle
    /// workers exit only through [`time_out`](Model::time_out) steps.
    pub fn pass_time(&mut self, d: Duration) {
        self.now = self.now.saturating_add(d);
        self.debug_check();
    }

    /// Idle worker `worker` exits on its idle timeout (`WorkerExited { IdleTimeout }`):
    /// enabled when its idle time reached `keep_alive` and the staying workers
    /// (`live - pending_stops`) exceed `min`, so the pool never ends up below `min`. A claimed
    /// parked worker may time out too while another parked worker is unclaimed: the claim
    /// passes to that one (claims are anonymous, as in `take`).
    ///
    /// # Errors
    /// [`StepError::NoSuchWorker`], or [`StepError::CannotTimeOut`] when that is not so. The
    /// model is then unchanged.
    pub fn time_out(&mut self, worker: WorkerId) -> Result<(), StepError> {
        let index = worker
            .index()
            .filter(|&i| i < self.workers.len())
            .ok_or(StepError::NoSuchWorker(worker))?;
        let handover = match self.workers[index] {
            // A claim names no particular parked worker (see `take`: any parked worker may take
            // one over), so a claimed worker whose keep-alive ran out may time out while another
            // parked worker is unclaimed: that one holds the claim from now on.
            WorkerState::Parked {
                since,
                claimed: true,
            } => {
                let unclaimed = WorkerState::Parked {
                    since,
                    claimed: false,
                };
                let heir = self
                    .workers
                    .iter()
                    .position(|w| matches!(w, WorkerState::Parked { claimed: false, .. }));
                match heir {
                    Some(heir) if self.may_time_out(unclaimed) => Some(heir),
                    _ => return Err(StepError::CannotTimeOut(worker)),
                }
            }
            w if self.may_time_out(w) => None,
            _ => return Err(StepError::CannotTimeOut(worker)),
        };
        if let Some(heir) = handover
            && let WorkerState::Parked { since, .. } = self.workers[heir]
        {
            self.workers[heir] = WorkerState::Parked {
                since,
                claimed: true,
            };
        }
        let reason = ExitReason::IdleTimeout;
        self.workers[index] = WorkerState::Exited(reason);
        self.events.push(Event::WorkerExited { worker, reason });
        self.terminate_if_no_workers();
        self.debug_check();
        Ok(())
    }

    /// The pool-clock time at which the next idle timeout would fire if the clock reached
    /// it with nothing else happening, or `None` if none would (no idle worker, or the pool
    /// is at `min`).
    #[must_use]
    pub fn next_idle_timeout(&self) -> Option<Duration> {
        if !policy::may_retire_idle(self.live(), self.pending_stops, self.config.min) {
            return None;
        }
        self.workers
            .iter()
            .filter_map(|w| match *w {
                WorkerState::Parked {
                    since,
                    claimed: false,
                } => Some(since),
                _ => None,
            })
            .min()
            .map(|since| since.saturating_add(self.config.keep_alive).max(self.now))
    }

    /// Applies every deterministic pending step: each worker that can take from the queue
    /// (starting, finishing, or claimed) takes the head item, lowest `WorkerId` first, until
    /// the model is [settled](Model::is_settled). Returns the steps taken, in order. Idle
    /// timeouts are not applied (they need time to pass).
    pub fn settle(&mut self) -> Vec<(WorkerId, Taken)> {
        let mut taken = Vec::new();
        while let Some(worker) = self.first_looking_worker() {
            let found = self.take(worker).expect("a looking worker can always take");
            taken.push((worker, found));
        }
        taken
    }

    /// Whether every live worker is running a job or parked unclaimed (none starting,
    /// finishing or claimed). Then idle workers exist only when the queue is empty.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        self.first_looking_worker().is_none()
    }

    /// The environment steps possible now: `Take` for every starting, finishing or claimed
    /// worker (by id); `Finish` for every running job (workers' jobs by worker id, then
    /// caller-run jobs); `TimeOut` for every idle worker that may time out (by id). Takes
    /// by idle workers that move a claim, and the passing of time, are always possible too
    /// and are not listed.
    #[must_use]
    pub fn enabled_steps(&self) -> Vec<Step> {
        let ids = || (0_u64..).zip(self.workers.iter().copied());
        let takes = ids()
            .filter(|(_, w)| w.is_looking())
            .map(|(i, _)| Step::Take(WorkerId(i)));
        let worker_jobs = self.workers.iter().filter_map(|w| match *w {
            WorkerState::Running(job) => Some(Step::Finish(job)),
            _ => None,
        });
        let caller_jobs = (0_u64..)
            .zip(&self.jobs)
            .filter(|(_, record)| record.status == JobStatus::Running(Runner::Caller))
            .map(|(i, _)| Step::Finish(JobId(i)));
        let time_outs = ids()
            .filter(|&(_, w)| self.may_time_out(w))
            .map(|(i, _)| Step::TimeOut(WorkerId(i)));
        takes
            .chain(worker_jobs)
            .chain(caller_jobs)
            .chain(time_outs)
            .collect()
    }

    /// Whether a worker in state `w` may exit on its idle timeout now.
    fn may_time_out(&self, w: WorkerState) -> bool {
        let WorkerState::Parked {
            since,
            claimed: false,
        } = w
        else {
            return false;
        };
        self.now.saturating_sub(since) >= self.config.keep_alive
            && policy::may_retire_idle(self.live(), self.pending_stops, self.config.min)
    }

    fn first_looking_worker(&self) -> Option<WorkerId> {
        (0_u64..)
            .zip(&self.workers)
            .find(|(_, w)| w.is_looking())
            .map(|(i, _)| WorkerId(i))
    }

    /// The expired idle worker that parked first (ties: lowest id), if one may time out.
    fn oldest_expired_idle(&self) -> Option<WorkerId> {
        (0_u64..)
            .zip(self.workers.iter().copied())
            .filter(|&(_, w)| self.may_time_out(w))
            .filter_map(|(i, w)| match w {
                WorkerState::Parked { since, .. } => Some((since, i)),
                _ => None,
            })
            .min()
            .map(|(_, i)| WorkerId(i))
    }
}
