//! The model's state and its caller operations (what a user of the pool calls and sees).
//! Environment steps (what the pool's threads do) are in `steps.rs`; the invariant check
//! is in `invariants.rs`.

use crate::admission::{Accepted, Admission, Refused};
use crate::config::{Config, ConfigError, Policy, validate_bounds};
use crate::error::{PollError, StartError, StepError};
use crate::event::Event;
use crate::job::{
    CallbackEntry, Disposal, Item, JobId, JobKind, JobRecord, JobStatus, QueuedResult, Runner,
};
use crate::policy::{self, Admit, AdmitInput};
use crate::report::{Accounted, PoolState, Stats, StopReport};
use crate::worker::{WorkerId, WorkerState};
use std::collections::VecDeque;
use std::time::Duration;

/// The reference model of one pool. See the [crate docs](crate) for how to drive it.
#[derive(Clone, Debug)]
pub struct Model {
    /// Current configuration. Always valid; `min`/`max` change only through `resize`.
    pub(crate) config: Config,
    /// Lifecycle state. `Created` has no workers and no sentinels; `Stopping` has at least
    /// one live worker and every live worker covered by a pending stop; `Terminated` has no
    /// live worker and an empty queue.
    pub(crate) state: PoolState,
    /// The pool clock; moves only in `advance_clock`/`pass_time` (and in `stop`'s wait for
    /// its deadline).
    pub(crate) now: Duration,
    /// Every worker ever spawned, indexed by `WorkerId`; exited workers stay as `Exited`.
    pub(crate) workers: Vec<WorkerState>,
    /// The shared FIFO. Holds each `Queued` job exactly once and exactly `pending_stops`
    /// sentinels. No job has as many sentinels ahead of it as there are live workers (so
    /// every queued job will be taken by some worker). If any worker is idle, the queue
    /// holds no more items than there are claimed parked workers (so in a settled state
    /// idle workers exist only beside an empty queue).
    pub(crate) queue: VecDeque<Item>,
    /// Every accepted job, indexed by `JobId`.
    pub(crate) jobs: Vec<JobRecord>,
    /// Sentinels in the queue, not yet taken. `<= live`; in `Running`,
    /// `min <= live - pending_stops <= max`.
    pub(crate) pending_stops: usize,
    /// Cumulative counters.
    pub(crate) counters: Counters,
    /// Observable events, in order.
    pub(crate) events: Vec<Event>,
    /// Callbacks run on a job's runner right after it, in order.
    pub(crate) callback_log: Vec<CallbackEntry>,
    /// Result-queue results finished but not yet polled, in completion order.
    pub(crate) results: VecDeque<QueuedResult>,
    /// Result-queue jobs accepted whose result was not polled yet: `results.len()` plus
    /// those queued, running, or handed back and not yet disposed of by their holder.
    pub(crate) results_outstanding: usize,
    /// The most recent stop call, if any.
    pub(crate) stop: Option<StopRequest>,
}

/// Cumulative counters; never decrease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    /// `refused + evicted`.
    pub(crate) rejected: u64,
    pub(crate) caller_runs: u64,
    pub(crate) hook_panics: u64,
    /// `>=` live workers at all times.
    pub(crate) peak_workers: usize,
    /// Puts refused with `Full` or `ShutDown` (no id).
    pub(crate) refused: u64,
    /// Jobs evicted by `DiscardOldest`.
    pub(crate) evicted: u64,
    /// Jobs handed back by stops.
    pub(crate) returned: u64,
}

/// What the most recent stop call asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StopRequest {
    /// Pool-clock time until which the stop waits.
    pub(crate) deadline: Duration,
    /// Jobs this call handed back, in queue order.
    pub(crate) returned: Vec<JobId>,
    /// The worker that called stop from inside a job: not waited for (still counted in
    /// `still_running`).
    pub(crate) from: Option<WorkerId>,
}

impl Model {
    /// A `Created` pool with `config` (validated first), clock at zero, no workers.
    ///
    /// # Errors
    /// The first rule `config` breaks (see [`Config::validate`]).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            state: PoolState::Created,
            now: Duration::ZERO,
            workers: Vec::new(),
            queue: VecDeque::new(),
            jobs: Vec::new(),
            pending_stops: 0,
            counters: Counters::default(),
            events: Vec::new(),
            callback_log: Vec::new(),
            results: VecDeque::new(),
            results_outstanding: 0,
            stop: None,
        })
    }

    // ----- caller operations -------------------------------------------------------------

    /// `start()`: only from `Created`. Creates `max(min, min(backlog, max))` workers
    /// (backlog = queued jobs) and returns that number. They are `Starting`: each takes the
    /// queue head when stepped, and parks when the queue is empty.
    ///
    /// # Errors
    /// [`StartError::AlreadyStarted`] when `Running`; [`StartError::ShutDown`] once stop was
    /// requested. The model is then unchanged.
    pub fn start(&mut self) -> Result<usize, StartError> {
        match self.state {
            PoolState::Created => {}
            PoolState::Running => return Err(StartError::AlreadyStarted),
            PoolState::Stopping | PoolState::Terminated => return Err(StartError::ShutDown),
        }
        self.state = PoolState::Running;
        let n = policy::start_count(self.config.min, self.config.max, self.backlog());
        for _ in 0..n {
            self.spawn();
        }
        self.debug_check();
        Ok(n)
    }

    /// `put` / `try_put` / `put_timeout(t)` of a job of `kind`, through the admission steps
    /// in order: refuse if stop was requested; claim an idle worker; spawn a worker if below
    /// `max` (or if every live worker is covered by a pending stop); enqueue if the backlog
    /// has room; else the queue is full and the policy applies at once (see [`Admission`]).
    ///
    /// The backlog the capacity limits is the queued jobs beyond the workers on their way
    /// (starting or claimed), counting on those only beyond the pending stop sentinels (in a
    /// settled pool every queued job counts).
    ///
    /// Accepted jobs get the next [`JobId`]. A caller-run job is `Running(Runner::Caller)`
    /// until [`finish`](Model::finish) reports its outcome.
    ///
    /// # Errors
    /// [`Refused::ShutDown`] after a stop, [`Refused::Full`] on a full queue under
    /// [`Policy::Reject`]; both count in `rejected` and take no id.
    pub fn put(&mut self, kind: JobKind, admission: Admission) -> Result<Accepted, Refused> {
        // Every admission resolves a full queue at once: see `Admission`.
        let _ = admission;
        let decision = policy::admit(&AdmitInput {
            state: self.state,
            idle: self.idle(),
            live: self.live(),
            pending_stops: self.pending_stops,
            max: self.config.max,
            backlog: self.uncommitted_backlog(),
            capacity: self.config.capacity,
        });
        let queued = |id| Accepted {
            id,
            caller_ran: false,
            evicted: None,
        };
        let accepted = match decision {
            Admit::ShutDown => return Err(self.refuse(Refused::ShutDown)),
            Admit::ClaimIdle => {
                let id = self.enqueue_new(kind);
                self.claim_idle();
                queued(id)
            }
            Admit::Spawn => {
                let id = self.enqueue_new(kind);
                self.spawn();
                queued(id)
            }
            Admit::Enqueue => queued(self.enqueue_new(kind)),
            Admit::Full => match self.config.policy {
                Policy::Reject => return Err(self.refuse(Refused::Full)),
                Policy::CallerRuns => {
                    let id = self.accept(kind, JobStatus::Running(Runner::Caller));
                    self.counters.caller_runs += 1;
                    Accepted {
                        id,
                        caller_ran: true,
                        evicted: None,
                    }
                }
                Policy::DiscardOldest => {
                    let evicted = self.evict_oldest();
                    Accepted {
                        evicted,
                        ..queued(self.enqueue_new(kind))
                    }
                }
            },
        };
        self.debug_check();
        Ok(accepted)
    }

    /// A batch (`submit_batch` / `makeRequests`): `count` puts of `kind`, in input order.
    /// Accepted jobs get increasing ids in input order, so reading results by id (for
    /// example with [`statuses`](Model::statuses)) gives them in input order whatever the
    /// completion order.
    pub fn put_batch(
        &mut self,
        kind: JobKind,
        count: usize,
        admission: Admission,
    ) -> Vec<Result<Accepted, Refused>> {
        (0..count).map(|_| self.put(kind, admission)).collect()
    }

    /// `grow(n)`: on a running pool start `min(n, max - live)` workers (`Starting`: they
    /// take queued items first, then park) and return how many; 0 when not running.
    pub fn grow(&mut self, n: usize) -> usize {
        if self.state != PoolState::Running {
            return 0;
        }
        let k = policy::grow_count(n, self.live(), self.config.max);
        for _ in 0..k {
            self.spawn();
        }
        self.debug_check();
        k
    }

    /// `shrink(n)`: enqueue `k = min(n, live - min - pending_stops)` sentinels (saturating)
    /// at the tail, behind queued jobs, each claiming an idle worker if there is one; return
    /// `k`. Busy workers are never interrupted. 0 when not running.
    pub fn shrink(&mut self, n: usize) -> usize {
        if self.state != PoolState::Running {
            return 0;
        }
        let k = policy::shrink_count(n, self.live(), self.config.min, self.pending_stops);
        for _ in 0..k {
            self.push_stop();
        }
        self.debug_check();
        k
    }

    /// `resize(min, max)`: validate (same errors as [`Config::validate`]), then set the
    /// bounds. On a running pool, bring the staying workers (`live - pending_stops`) into
    /// the new bounds: start `min - staying` workers if below `min`, enqueue
    /// `staying - max` sentinels if above `max`. Otherwise only record the bounds.
    ///
    /// # Errors
    /// The bound rule broken; the model is then unchanged.
    pub fn resize(&mut self, min: usize, max: Option<usize>) -> Result<(), ConfigError> {
        validate_bounds(min, max)?;
        self.config.min = min;
        self.config.max = max;
        if self.state == PoolState::Running {
            let plan = policy::resize_plan(self.live(), self.pending_stops, min, max);
            for _ in 0..plan.start {
                self.spawn();
            }
            for _ in 0..plan.stop {
                self.push_stop();
            }
        }
        self.debug_check();
        Ok(())
    }

    /// `JobHandle::cancel()` of a [`JobKind::Handle`] job (other kinds have no handle:
    /// `false`). Exactly one of a cancel and a worker taking the job wins:
    ///
    /// - queued: it leaves the queue, `cancelled += 1`, a `JobCancelled` event; `true`;
    /// - handed back (by a stop or to the eviction handler) and still held: it becomes
    ///   cancelled ([`Disposal::Cancelled`]), no counter, no event; `true`;
    /// - started, over, cancelled or disposed of: `false`, nothing changes.
    pub fn cancel(&mut self, job: JobId) -> bool {
        let Some(record) = self.record(job).copied() else {
            return false;
        };
        if record.kind != JobKind::Handle {
            return false;
        }
        match (record.status, record.disposal) {
            (JobStatus::Queued, _) => {
                self.queue.retain(|item| *item != Item::Job(job));
                self.set_status(job, JobStatus::Cancelled);
                self.counters.cancelled += 1;
                self.events.push(Event::JobCancelled { job });
            }
            (JobStatus::Returned | JobStatus::Evicted, None) => {
                self.record_mut(job).disposal = Some(Disposal::Cancelled);
            }
            _ => return false,
        }
        self.debug_check();
        true
    }

    /// The holder of handed-back job `job` (from a [`StopReport`] or an eviction) dropped it
    /// or ran it. No pool counter changes; a result-queue request gets its result (a
    /// [`ResultKind::Dropped`](crate::ResultKind::Dropped) one for a drop).
    /// [`Disposal::Cancelled`] is the same as [`cancel`](Model::cancel).
    ///
    /// # Errors
    /// [`StepError::NotHandedBack`] unless `job` is handed back and still held;
    /// [`StepError::NoHandle`] for `Cancelled` on a job that is not [`JobKind::Handle`]. The
    /// model is then unchanged.
    pub fn dispose(&mut self, job: JobId, disposal: Disposal) -> Result<(), StepError> {
        let record = *self.record(job).ok_or(StepError::NotHandedBack(job))?;
        let held = matches!(record.status, JobStatus::Returned | JobStatus::Evicted)
            && record.disposal.is_none();
        if !held {
            return Err(StepError::NotHandedBack(job));
        }
        if disposal == Disposal::Cancelled {
            return if self.cancel(job) {
                Ok(())
            } else {
                Err(StepError::NoHandle(job))
            };
        }
        self.record_mut(job).disposal = Some(disposal);
        if record.kind == JobKind::ResultQueue {
            self.results.push_back(QueuedResult {
                job,
                result: disposal.result(),
            });
        }
        self.debug_check();
        Ok(())
    }

    /// A hook panicked outside what [`finish`](Model::finish) reports (`on_worker_start`,
    /// `on_worker_exit`, `before_job`, `after_job`, the eviction handler, the event
    /// listener): `hook_panics += 1`, nothing else changes.
    pub fn hook_panicked(&mut self) {
        self.counters.hook_panics += 1;
    }

    /// Begins `stop(timeout)` without waiting: refuse new work; on a running pool enqueue
    /// one sentinel per live worker not already covered by a pending stop, behind queued
    /// jobs (they drain), and terminate at once if no worker is live; on a `Created` pool
    /// hand back the queued jobs and terminate. Idempotent: a second call adds no
    /// sentinels, it only sets a new deadline (`now + timeout`).
    ///
    /// A lock-step driver calls this when it calls the real `stop(timeout)`, mirrors the
    /// steps it observes while the real stop waits, and compares the real stop's return
    /// value with [`stop_report`](Model::stop_report).
    pub fn begin_stop(&mut self, timeout: Duration) {
        self.begin_stop_from(timeout, None);
    }

    /// [`begin_stop`](Model::begin_stop) called from inside `job`, running on a worker: the
    /// stop waits only until that worker is the only one left (its report still counts it
    /// in `still_running`). From a caller-run job it is a plain `begin_stop`.
    ///
    /// # Errors
    /// [`StepError::NotRunning`] if `job` is not running; the model is then unchanged.
    pub fn begin_stop_from_job(&mut self, job: JobId, timeout: Duration) -> Result<(), StepError> {
        let from = match self.status(job) {
            Some(JobStatus::Running(Runner::Worker(worker))) => Some(worker),
            Some(JobStatus::Running(Runner::Caller)) => None,
            _ => return Err(StepError::NotRunning(job)),
        };
        self.begin_stop_from(timeout, from);
        Ok(())
    }

    /// The report of the most recent stop call, as of now: the pool-lifetime counters, the
    /// live workers (`still_running`; a stopping job's own worker included), and the jobs
    /// that call handed back. Before any stop, `returned` is empty.
    #[must_use]
    pub fn stop_report(&self) -> StopReport {
        StopReport {
            completed: self.counters.completed,
            panicked: self.counters.panicked,
            cancelled: self.counters.cancelled,
            still_running: self.live(),
            returned: self
                .stop
                .as_ref()
                .map_or_else(Vec::new, |stop| stop.returned.clone()),
        }
    }

    /// `stop(timeout)` as a whole, for tests of the model alone: [`begin_stop`], then
    /// [`settle`](Model::settle) (every worker that can take an item takes it), then, if a
    /// worker it waits for is still alive, [`advance_clock`](Model::advance_clock) to the
    /// deadline; then [`stop_report`]. That is the outcome where no running job finishes
    /// before the deadline; finish jobs first (or use `begin_stop`) for other outcomes.
    ///
    /// [`begin_stop`]: Model::begin_stop
    /// [`stop_report`]: Model::stop_report
    pub fn stop(&mut self, timeout: Duration) -> StopReport {
        self.begin_stop(timeout);
        self.wait_for_stop(timeout)
    }

    /// [`stop`](Model::stop) called from inside `job` (see
    /// [`begin_stop_from_job`](Model::begin_stop_from_job)): waits only until the caller's
    /// own worker is the only one left; `still_running` counts it.
    ///
    /// # Errors
    /// [`StepError::NotRunning`] if `job` is not running; the model is then unchanged.
    pub fn stop_from_job(
        &mut self,
        job: JobId,
        timeout: Duration,
    ) -> Result<StopReport, StepError> {
        self.begin_stop_from_job(job, timeout)?;
        Ok(self.wait_for_stop(timeout))
    }

    /// `stop_now()`: refuse new work, remove every queued job (handed back in queue order,
    /// never run), enqueue sentinels for live workers not yet covered, and report without
    /// waiting (`still_running` = live workers now). On a pool already stopping it takes
    /// back whatever is still queued.
    pub fn stop_now(&mut self) -> StopReport {
        match self.state {
            PoolState::Created => self.state = PoolState::Terminated,
            PoolState::Running => self.state = PoolState::Stopping,
            PoolState::Stopping | PoolState::Terminated => {}
        }
        let returned = self.hand_back_queued_jobs();
        if self.state == PoolState::Stopping {
            self.cover_live_workers_with_stops();
        }
        self.stop = Some(StopRequest {
            deadline: self.now,
            returned,
            from: None,
        });
        self.terminate_if_no_workers();
        self.debug_check();
        self.stop_report()
    }

    /// Drop of the pool handle: a non-blocking stop, as [`begin_stop`](Model::begin_stop)
    /// with a zero timeout. A `Running` pool's queued jobs still run and its workers exit
    /// afterwards; a `Created` pool hands its queued jobs back and drops them
    /// ([`Disposal::Dropped`]: result-queue requests get a `Dropped` result).
    pub fn drop_pool(&mut self) {
        self.begin_stop(Duration::ZERO);
        let returned = self
            .stop
            .as_ref()
            .map_or_else(Vec::new, |stop| stop.returned.clone());
        for job in returned {
            self.dispose(job, Disposal::Dropped)
                .expect("a job this drop handed back is held");
        }
    }

    /// `await_termination`: whether stop was requested and every worker has exited. The
    /// model does not wait; drive steps (or the clock) and ask again.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == PoolState::Terminated
    }

    /// A `Stats` snapshot.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let workers = self.live();
        let idle = self.idle();
        Stats {
            workers,
            idle,
            busy: workers - idle,
            queued: self.backlog(),
            pending_stops: self.pending_stops,
            completed: self.counters.completed,
            panicked: self.counters.panicked,
            cancelled: self.counters.cancelled,
            rejected: self.counters.rejected,
            caller_runs: self.counters.caller_runs,
            hook_panics: self.counters.hook_panics,
            peak_workers: self.counters.peak_workers,
            min: self.config.min,
            max: self.config.max,
            state: self.state,
        }
    }

    /// The result queue's `poll(block)`, one result at a time: the oldest undelivered
    /// result-queue result (completion order) if one is ready. Otherwise `Ok(None)`: without
    /// `block`, nothing is ready yet; with `block`, the real poll would wait (results are
    /// outstanding and can still come).
    ///
    /// # Errors
    /// [`PollError::NoResultsPending`] when nothing is outstanding;
    /// [`PollError::NoWorkersAvailable`] with `block`, when requests are outstanding, none
    /// is ready, and the pool has no live worker and is `Created` or `Terminated`.
    pub fn poll_result(&mut self, block: bool) -> Result<Option<QueuedResult>, PollError> {
        if self.results_outstanding == 0 {
            return Err(PollError::NoResultsPending);
        }
        if let Some(result) = self.results.pop_front() {
            self.results_outstanding -= 1;
            self.debug_check();
            return Ok(Some(result));
        }
        let no_workers =
            self.live() == 0 && matches!(self.state, PoolState::Created | PoolState::Terminated);
        if block && no_workers {
            Err(PollError::NoWorkersAvailable)
        } else {
            Ok(None)
        }
    }

    /// The pool-clock deadline of the most recent stop call (`now + timeout`, saturating;
    /// `stop_now` and drop use `now`), if any.
    #[must_use]
    pub fn stop_deadline(&self) -> Option<Duration> {
        self.stop.as_ref().map(|stop| stop.deadline)
    }

    /// Result-queue requests accepted and not yet collected (`ResultQueue::pending`).
    #[must_use]
    pub const fn results_pending(&self) -> usize {
        self.results_outstanding
    }

    // ----- observations ------------------------------------------------------------------

    /// The current configuration (bounds as last resized).
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The lifecycle state.
    #[must_use]
    pub const fn state(&self) -> PoolState {
        self.state
    }

    /// The pool clock.
    #[must_use]
    pub const fn now(&self) -> Duration {
        self.now
    }

    /// Every worker ever spawned, indexed by `WorkerId` (exited ones included).
    #[must_use]
    pub fn workers(&self) -> &[WorkerState] {
        &self.workers
    }

    /// One worker's state, if it exists.
    #[must_use]
    pub fn worker(&self, worker: WorkerId) -> Option<WorkerState> {
        worker.index().and_then(|i| self.workers.get(i)).copied()
    }

    /// The shared queue, head first.
    #[must_use]
    pub const fn queue(&self) -> &VecDeque<Item> {
        &self.queue
    }

    /// The event log so far.
    #[must_use]
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the event log so far, leaving it empty (for lock-step comparison in chunks).
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Callbacks run on a job's runner right after the job, in order.
    #[must_use]
    pub fn callback_log(&self) -> &[CallbackEntry] {
        &self.callback_log
    }

    /// A job's status, if the id was given out.
    #[must_use]
    pub fn status(&self, job: JobId) -> Option<JobStatus> {
        self.record(job).map(|record| record.status)
    }

    /// The statuses of `jobs`, in the order given (a batch's results in input order).
    #[must_use]
    pub fn statuses(&self, jobs: &[JobId]) -> Vec<Option<JobStatus>> {
        jobs.iter().map(|&job| self.status(job)).collect()
    }

    /// A job's kind, if the id was given out.
    #[must_use]
    pub fn kind(&self, job: JobId) -> Option<JobKind> {
        self.record(job).map(|record| record.kind)
    }

    /// What the holder of a handed-back job did with it, if anything yet.
    #[must_use]
    pub fn disposal(&self, job: JobId) -> Option<Disposal> {
        self.record(job).and_then(|record| record.disposal)
    }

    /// The conservation ledger (see [`Accounted`]).
    #[must_use]
    pub fn accounted(&self) -> Accounted {
        let running = self
            .jobs
            .iter()
            .filter(|record| matches!(record.status, JobStatus::Running(_)))
            .count();
        Accounted {
            accepted: self.jobs.len() as u64,
            caller_runs: self.counters.caller_runs,
            completed: self.counters.completed,
            panicked: self.counters.panicked,
            cancelled: self.counters.cancelled,
            returned: self.counters.returned,
            evicted: self.counters.evicted,
            queued: self.backlog() as u64,
            running: running as u64,
            refused: self.counters.refused,
        }
    }

    // ----- helpers shared with steps.rs and invariants.rs --------------------------------

    pub(crate) fn record(&self, job: JobId) -> Option<&JobRecord> {
        job.index().and_then(|i| self.jobs.get(i))
    }

    /// An accepted job's record. Panics on an id the model never gave out: callers look
    /// the job up first.
    fn record_mut(&mut self, job: JobId) -> &mut JobRecord {
        job.index()
            .and_then(|i| self.jobs.get_mut(i))
            .expect("a job id the model gave out")
    }

    pub(crate) fn set_status(&mut self, job: JobId, status: JobStatus) {
        self.record_mut(job).status = status;
    }

    pub(crate) fn live(&self) -> usize {
        self.workers.iter().filter(|w| w.is_live()).count()
    }

    pub(crate) fn idle(&self) -> usize {
        self.workers.iter().filter(|w| w.is_idle()).count()
    }

    /// Parked workers a pushed item has claimed.
    pub(crate) fn claimed(&self) -> usize {
        let claimed = |w: &&WorkerState| matches!(w, WorkerState::Parked { claimed: true, .. });
        self.workers.iter().filter(claimed).count()
    }

    /// Jobs in the queue (not sentinels).
    pub(crate) fn backlog(&self) -> usize {
        self.queue.len() - self.pending_stops
    }

    /// The backlog the capacity limits: queued jobs beyond the workers on their way
    /// (`starting + claimed`), counting on those only beyond the pending stop sentinels, since
    /// each sentinel may be what one of them takes (whatever the order in the queue).
    pub(crate) fn uncommitted_backlog(&self) -> usize {
        let starting = self
            .workers
            .iter()
            .filter(|w| matches!(w, WorkerState::Starting))
            .count();
        let coming = (starting + self.claimed()).saturating_sub(self.pending_stops);
        self.backlog().saturating_sub(coming)
    }

    /// Live workers other than `from`.
    fn live_others(&self, from: Option<WorkerId>) -> usize {
        let own = from
            .and_then(|w| self.worker(w))
            .is_some_and(WorkerState::is_live);
        self.live() - usize::from(own)
    }

    /// Gives out the next id.
    fn accept(&mut self, kind: JobKind, status: JobStatus) -> JobId {
        let id = JobId(self.jobs.len() as u64);
        self.jobs.push(JobRecord {
            kind,
            status,
            disposal: None,
        });
        if kind == JobKind::ResultQueue {
            self.results_outstanding += 1;
        }
        id
    }

    fn enqueue_new(&mut self, kind: JobKind) -> JobId {
        let id = self.accept(kind, JobStatus::Queued);
        self.queue.push_back(Item::Job(id));
        id
    }

    fn refuse(&mut self, refused: Refused) -> Refused {
        self.counters.refused += 1;
        self.counters.rejected += 1;
        refused
    }

    /// Removes the oldest queued job (nearest the head) for `DiscardOldest`. Reached only
    /// with a full backlog, and a capacity is at least 1, so there is one.
    fn evict_oldest(&mut self) -> Option<JobId> {
        let position = self
            .queue
            .iter()
            .position(|item| matches!(item, Item::Job(_)))?;
        let Some(Item::Job(job)) = self.queue.remove(position) else {
            unreachable!("position found a job");
        };
        self.set_status(job, JobStatus::Evicted);
        self.counters.evicted += 1;
        self.counters.rejected += 1;
        Some(job)
    }

    /// Takes every queued job out of the queue, in order, as handed back.
    fn hand_back_queued_jobs(&mut self) -> Vec<JobId> {
        let mut returned = Vec::new();
        self.queue.retain(|item| match item {
            Item::Job(job) => {
                returned.push(*job);
                false
            }
            Item::Stop => true,
        });
        for &job in &returned {
            self.set_status(job, JobStatus::Returned);
        }
        self.counters.returned += returned.len() as u64;
        returned
    }

    /// Spawns a worker, `Starting`: counted live (and in `peak_workers`) now; its
    /// `WorkerStarted` event comes with its first `take`.
    fn spawn(&mut self) -> WorkerId {
        let worker = WorkerId(self.workers.len() as u64);
        self.workers.push(WorkerState::Starting);
        self.counters.peak_workers = self.counters.peak_workers.max(self.live());
        worker
    }

    /// Claims the idle worker that parked last (ties: lowest id), if any, so long-idle
    /// workers keep ageing towards their idle timeout. Which parked worker wakes is not
    /// observable in a real pool; `take` lets a driver move the claim.
    fn claim_idle(&mut self) -> bool {
        let newest = self
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| match *w {
                WorkerState::Parked {
                    since,
                    claimed: false,
                } => Some((since, i)),
                _ => None,
            })
            .max_by(|(a_since, a_i), (b_since, b_i)| a_since.cmp(b_since).then(b_i.cmp(a_i)));
        let Some((since, i)) = newest else {
            return false;
        };
        self.workers[i] = WorkerState::Parked {
            since,
            claimed: true,
        };
        true
    }

    /// Enqueues one sentinel at the tail and claims an idle worker for it.
    fn push_stop(&mut self) {
        self.queue.push_back(Item::Stop);
        self.pending_stops += 1;
        self.claim_idle();
    }

    fn cover_live_workers_with_stops(&mut self) {
        for _ in self.pending_stops..self.live() {
            self.push_stop();
        }
    }

    fn begin_stop_from(&mut self, timeout: Duration, from: Option<WorkerId>) {
        let returned = match self.state {
            PoolState::Created => {
                self.state = PoolState::Terminated;
                self.hand_back_queued_jobs()
            }
            PoolState::Running => {
                self.state = PoolState::Stopping;
                self.cover_live_workers_with_stops();
                Vec::new()
            }
            PoolState::Stopping | PoolState::Terminated => Vec::new(),
        };
        self.stop = Some(StopRequest {
            deadline: self.now.saturating_add(timeout),
            returned,
            from,
        });
        self.terminate_if_no_workers();
        self.debug_check();
    }

    fn wait_for_stop(&mut self, timeout: Duration) -> StopReport {
        self.settle();
        let from = self.stop.as_ref().and_then(|stop| stop.from);
        if self.live_others(from) > 0 {
            self.advance_clock(timeout);
        }
        self.stop_report()
    }

    /// `Stopping` with no live worker becomes `Terminated`.
    pub(crate) fn terminate_if_no_workers(&mut self) {
        if self.state == PoolState::Stopping && self.live() == 0 {
            self.state = PoolState::Terminated;
        }
    }

    /// In debug builds, panics with the broken invariant after every operation.
    pub(crate) fn debug_check(&self) {
        if cfg!(debug_assertions) {
            if let Err(violation) = self.check_invariants() {
                panic!("{violation}");
            }
        }
    }
}
