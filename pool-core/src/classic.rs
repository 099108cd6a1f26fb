//! The classic backend: one `Mutex` over all shared state, three `Condvar`s, typed sentinels.
//!
//! It is the plainly correct reference implementation of `docs/semantics.md`: every decision is
//! made under the lock by the functions in [`crate::policy`], no sleeps. Idle
//! accounting follows tokio's blocking pool: a put that finds a parked worker *claims* it
//! (`num_idle -= 1`, `num_notify += 1`) so two puts never count on the same idle worker, and a
//! spurious wakeup cannot corrupt the idle count.
//!
//! Events are emitted under the lock, at the moment of the state change they report, so a test
//! that waits for an event sees stats that already include it.
//!
//! One concession to speed, which decides nothing: a worker that finds the queue empty parks
//! (it is idle and claimable from that moment), but before it waits on the condvar it watches a
//! counter of pushes for up to [`WORKER_SPIN`] *without* the lock, and takes the lock again to
//! look for its claim as soon as something was pushed. A put that claims it need not notify the
//! condvar while enough parked workers are still watching (`State::must_wake`). Without the
//! watch, a worker that keeps up with a submitter sleeps after nearly every job and the
//! submitter pays a wakeup for the next one: the pool ran at half the throughput of the
//! `threadpool` crate. It used to watch *before* it counted as idle, so a put in that window
//! found no idle worker and spawned another: 1000 sequential submit+join on a large `max` left
//! ~90 workers (issue 12 item 5).
//!
//! A second one, in [`crate::sync::lock`]: a thread that finds the lock held tries again a few
//! times, backing off, before it blocks. With a submitter and two workers on one lock, std's
//! mutex otherwise stays in its "someone sleeps" mode, and every unlock and most locks became a
//! futex call (30% of the time of a one-submitter stream); two submitters putting at once paid
//! 62–65 ns per put, now 38 ns (`cargo run --release -p benches --example contended_put classic`).

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::{Clock, ClockListener, Subscription};
#[cfg(feature = "mutants")]
use crate::config::Mutation;
use crate::config::{Config, Policy};
use crate::error::{ConfigError, PutError, StartError, validate_bounds, validate_limits};
use crate::event::{Event, ExitReason, WorkerId};
use crate::job::{CancelSink, Job, JobId, Panic};
use crate::policy::{self, Admit, Load};
use crate::pool::{Admission, Pool};
use crate::stats::{PoolState, Stats, StopReport};
use crate::stopping::{self, Stopping};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, DynArc, Mutex, MutexGuard, lock, spin_until};

/// How long a worker that found the queue empty watches for a push before it parks.
const WORKER_SPIN: Duration = Duration::from_micros(50);

/// A queue entry: a job, or a typed stop sentinel (never a magic value).
enum Msg {
    Job(JobId, Job),
    Stop,
}

/// Everything the lock guards.
struct State {
    /// Jobs and sentinels in FIFO order. A sentinel pushed by stop/shrink sits behind every job
    /// queued before it.
    queue: VecDeque<Msg>,
    /// `Msg::Job` entries in `queue`.
    num_queued: usize,
    /// Workers counted by the pool (`Stats::workers`); a worker leaves this count the moment it
    /// decides to exit.
    num_live: usize,
    /// Worker threads not yet finished (exit hook included); stop waits for this to reach 0.
    num_threads: usize,
    /// Parked workers no item has claimed. Invariant: `num_idle + num_notify` = parked workers.
    num_idle: usize,
    /// Claims on parked workers not yet consumed: each is a wakeup owed to some parked worker.
    num_notify: usize,
    /// Parked workers still watching for a push without the lock (see the module docs), not yet
    /// waiting on `work`. Each relocks and looks for a claim before it waits, so a claim needs a
    /// notify only while `num_notify > num_watching` ([`State::must_wake`]).
    num_watching: usize,
    /// Workers spawned but not yet running their loop; each will take the queue head first.
    num_spawning: usize,
    /// Stop sentinels in `queue`.
    pending_stops: usize,
    /// Puts waiting for room.
    put_waiters: usize,
    /// Callers of `await_quiescence` waiting on `exited` for the pool to go quiet.
    quiet_waiters: usize,
    min: usize,
    max: Option<usize>,
    phase: PoolState,
    next_job: u64,
    next_worker: u64,
    /// Threads of live workers, so `stop` can tell it is called from inside a job.
    threads: Vec<ThreadId>,
    completed: u64,
    panicked: u64,
    cancelled: u64,
    rejected: u64,
    caller_runs: u64,
    hook_panics: u64,
    /// Workers that never ran their loop (`Stats::spawn_failures`).
    spawn_failures: u64,
    peak_workers: usize,
}

impl State {
    /// The backlog the capacity limits (`docs/semantics.md`, "Queue"): queued jobs beyond the
    /// claimed and starting workers on their way, not counting on as many of those as there are
    /// pending stop sentinels (each may take one).
    fn backlog(&self) -> usize {
        let coming = (self.num_notify + self.num_spawning).saturating_sub(self.pending_stops);
        self.num_queued.saturating_sub(coming)
    }

    fn load(&self, capacity: Option<usize>) -> Load {
        Load {
            running: self.phase == PoolState::Running,
            idle: self.num_idle,
            staying: self.num_live - self.pending_stops,
            // Unbounded means up to the backend's limit.
            max: Some(self.max.map_or(ClassicPool::MAX_WORKERS, |m| {
                m.min(ClassicPool::MAX_WORKERS)
            })),
            backlog: self.backlog(),
            capacity,
        }
    }

    fn stats(&self) -> Stats {
        Stats {
            workers: self.num_live,
            idle: self.num_idle,
            busy: self.num_live - self.num_idle,
            queued: self.num_queued,
            pending_stops: self.pending_stops,
            completed: self.completed,
            panicked: self.panicked,
            cancelled: self.cancelled,
            rejected: self.rejected,
            caller_runs: self.caller_runs,
            hook_panics: self.hook_panics,
            spawn_failures: self.spawn_failures,
            peak_workers: self.peak_workers,
            min: self.min,
            max: self.max,
            state: self.phase,
        }
    }

    fn report(&self, returned: Vec<Job>) -> StopReport {
        StopReport {
            completed: self.completed,
            panicked: self.panicked,
            cancelled: self.cancelled,
            still_running: self.num_threads,
            returned,
        }
    }

    /// Counts a new worker; the caller spawns its thread after unlocking.
    fn reserve_worker(&mut self) -> WorkerId {
        self.num_live += 1;
        self.num_threads += 1;
        self.num_spawning += 1;
        self.peak_workers = self.peak_workers.max(self.num_live);
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        id
    }

    /// Whether the claims outstanding exceed the parked workers that will look for one without
    /// being woken (those still watching): then one waiting on `work` must be notified.
    fn must_wake(&self) -> bool {
        self.num_notify > self.num_watching
    }

    /// Claims one parked worker if there is one; returns whether it did.
    fn claim_idle(&mut self) -> bool {
        if self.num_idle > 0 {
            self.num_idle -= 1;
            self.num_notify += 1;
            true
        } else {
            false
        }
    }
}

/// State shared by the pool handle and its workers.
struct Shared {
    cfg: Config,
    state: Mutex<State>,
    /// Parked workers wait here.
    work: Condvar,
    /// Puts wait here for room.
    room: Condvar,
    /// `stop` and `await_termination` wait here for workers to exit.
    exited: Condvar,
    /// Items ever pushed onto `queue` (jobs and stops). Bumped under the lock with each push;
    /// read without it only by a worker deciding whether to look at the queue again before it
    /// parks (see the module docs). Decides nothing.
    pushes: AtomicU64,
}

type Guard<'a> = MutexGuard<'a, State>;

/// What a worker got from the queue.
enum Next {
    Job(JobId, Job),
    Stop,
    IdleTimeout,
}

impl Shared {
    fn emit(&self, st: &mut State, e: Event) {
        if self.cfg.emit(&e) {
            st.hook_panics += 1;
        }
    }

    /// Waits on `cv` until notified or until `deadline` on the pool clock.
    fn wait_until<'a>(&self, cv: &Condvar, g: Guard<'a>, deadline: Option<Duration>) -> Guard<'a> {
        stopping::wait_until(&self.cfg.clock, cv, g, deadline)
    }

    fn deadline(&self, after: Duration) -> Duration {
        self.cfg.clock.deadline_after(after)
    }

    fn now(&self) -> Duration {
        self.cfg.clock.now()
    }

    /// Something that may let a waiting put in changed.
    fn room_changed(&self, st: &State) {
        if st.put_waiters > 0 {
            self.room.notify_all();
        }
    }

    /// Pushes a stop sentinel at the tail, claiming a parked worker for it if there is one.
    fn push_stop(&self, st: &mut State) {
        st.queue.push_back(Msg::Stop);
        self.pushes.fetch_add(1, Ordering::Release);
        st.pending_stops += 1;
        if st.claim_idle() && st.must_wake() {
            self.work.notify_one();
        }
    }

    /// Gives `job` an id and puts it in the queue (or counts it cancelled if its handle already
    /// cancelled it).
    fn enqueue(sh: &Arc<Shared>, st: &mut State, job: Job) -> JobId {
        let id = JobId(st.next_job);
        st.next_job += 1;
        if job.has_control() {
            let sink: DynArc<dyn CancelSink> = DynArc::new(Sink(Arc::clone(sh)));
            if !job.enqueue(id, &sink, st.phase == PoolState::Created) {
                st.cancelled += 1;
                return id;
            }
        }
        st.queue.push_back(Msg::Job(id, job));
        sh.pushes.fetch_add(1, Ordering::Release);
        st.num_queued += 1;
        id
    }

    /// Starts the threads of reserved workers; returns how many started. At the first thread
    /// the OS refuses, that worker and the ones not yet tried are uncounted (the refused one is
    /// a spawn failure, with its event): the jobs they were for stay queued.
    fn spawn_workers(sh: &Arc<Shared>, ids: Vec<WorkerId>) -> usize {
        let total = ids.len();
        for (started, id) in ids.into_iter().enumerate() {
            let mut b = thread::Builder::new().name(format!("{}-{}", sh.cfg.thread_name, id.0));
            if let Some(size) = sh.cfg.stack_size {
                b = b.stack_size(size);
            }
            let shared = Arc::clone(sh);
            if let Err(e) = b.spawn(move || Shared::worker_main(&shared, id)) {
                Shared::spawn_failed_cold(sh, id, total - started, &e);
                return started;
            }
        }
        total
    }

    #[cold]
    fn spawn_failed_cold(sh: &Shared, id: WorkerId, uncount: usize, e: &std::io::Error) {
        tracing::error!(target: "pool", worker = id.0, error = %e, not_started = uncount, "the OS refused a worker thread");
        let mut st = lock(&sh.state);
        st.num_live -= uncount;
        st.num_threads -= uncount;
        st.num_spawning -= uncount;
        st.spawn_failures += 1;
        sh.emit(
            &mut st,
            Event::WorkerSpawnFailed {
                worker: id,
                start_hook_panicked: false,
            },
        );
        sh.after_thread_exit(&mut st);
    }

    /// Whether nothing is queued and every live worker is idle (`Pool::await_quiescence`).
    fn quiet(st: &State) -> bool {
        st.num_queued == 0 && st.num_idle == st.num_live
    }

    /// A worker parked or a job left the queue: wake `await_quiescence` if it waits.
    fn quiet_changed(&self, st: &State) {
        if st.quiet_waiters > 0 {
            self.exited.notify_all();
        }
    }

    /// The last worker thread is gone, or a stop found none: the pool is `Terminated`.
    fn terminate(&self, st: &mut State) {
        st.phase = PoolState::Terminated;
        self.emit(st, Event::Terminated);
    }

    fn after_thread_exit(&self, st: &mut State) {
        if st.num_threads == 0 && st.phase == PoolState::Stopping {
            self.terminate(st);
        }
        self.exited.notify_all();
        self.room_changed(st);
    }

    fn worker_main(&self, me: WorkerId) {
        let start_panicked = Config::run_hook(&self.cfg.on_worker_start);
        let mut st = lock(&self.state);
        if start_panicked {
            // Never initialised: it runs no job and leaves now, as if its spawn had failed (no
            // `WorkerStarted`, no exit hook). The job it was for stays queued (docs/semantics.md
            // §4, "a panicking `on_worker_start`").
            st.hook_panics += 1;
            st.spawn_failures += 1;
            st.num_live -= 1;
            st.num_spawning -= 1;
            st.num_threads -= 1;
            self.emit(
                &mut st,
                Event::WorkerSpawnFailed {
                    worker: me,
                    start_hook_panicked: true,
                },
            );
            self.after_thread_exit(&mut st);
            return;
        }
        // Still counted in `num_spawning` (committed to the queue head) until its first `next`
        // takes something or parks, even while it watches for a push.
        let mut starting = true;
        st.hook_panics += u64::from(start_panicked);
        st.threads.push(thread::current().id());
        self.emit(&mut st, Event::WorkerStarted { worker: me });
        let reason = loop {
            let (g, next) = self.next(st, me, std::mem::take(&mut starting));
            st = g;
            match next {
                Next::Job(id, job) => {
                    self.emit(
                        &mut st,
                        Event::JobStarted {
                            job: id,
                            worker: me,
                        },
                    );
                    self.room_changed(&st);
                    drop(st);
                    #[cfg(not(feature = "mutants"))]
                    let (panicked, hook_panics) = self.cfg.run_job(id, job);
                    // MUTANT(finishing-idle): counted idle once the job returned, before
                    // `after_job`; on relocking it takes its idle slot back (or the claim a put
                    // made on it) and goes on to the queue.
                    #[cfg(feature = "mutants")]
                    let (panicked, hook_panics) = if self.cfg.mutated(Mutation::FinishingIdle) {
                        let finished = || lock(&self.state).num_idle += 1;
                        let ran = self.cfg.run_job_then(id, job, finished);
                        let mut st = lock(&self.state);
                        if st.num_idle > 0 {
                            st.num_idle -= 1;
                        } else {
                            st.num_notify = st.num_notify.saturating_sub(1);
                        }
                        ran
                    } else {
                        self.cfg.run_job(id, job)
                    };
                    st = lock(&self.state);
                    // MUTANT(double-callback): the panic handler runs again if the pool is
                    // stopping by the time the job is done.
                    #[cfg(feature = "mutants")]
                    if panicked
                        && st.phase == PoolState::Stopping
                        && self.cfg.mutated(Mutation::DoubleCallback)
                    {
                        drop(st);
                        let again = crate::job::Panic::new(Box::new("double-callback mutant"));
                        self.cfg
                            .handle_panic(id, crate::job::Outcome::Panicked(Some(again)));
                        st = lock(&self.state);
                    }
                    st.hook_panics += hook_panics;
                    if panicked {
                        st.panicked += 1;
                        self.emit(
                            &mut st,
                            Event::JobPanicked {
                                job: id,
                                worker: me,
                            },
                        );
                    } else {
                        st.completed += 1;
                        self.emit(
                            &mut st,
                            Event::JobFinished {
                                job: id,
                                worker: me,
                            },
                        );
                    }
                }
                Next::Stop => {
                    self.emit(&mut st, Event::SentinelTaken { worker: me });
                    break ExitReason::Sentinel;
                }
                Next::IdleTimeout => break ExitReason::IdleTimeout,
            }
        };
        // `num_live` already excludes this worker; its thread still counts until the hook ran.
        let tid = thread::current().id();
        st.threads.retain(|t| *t != tid);
        self.room_changed(&st);
        drop(st);
        let exit_panicked = Config::run_hook(&self.cfg.on_worker_exit);
        let mut st = lock(&self.state);
        st.hook_panics += u64::from(exit_panicked);
        st.num_threads -= 1;
        self.emit(&mut st, Event::WorkerExited { worker: me, reason });
        self.after_thread_exit(&mut st);
    }

    /// Takes the next item for worker `me`, parking while there is none. `starting`: this is the
    /// worker's first look, and it is still counted in `num_spawning` until it takes something or
    /// parks.
    fn next<'a>(
        &'a self,
        mut st: Guard<'a>,
        me: WorkerId,
        mut starting: bool,
    ) -> (Guard<'a>, Next) {
        // It takes something or parks: it is no longer on its way.
        let arrived = |st: &mut State, starting: &mut bool| {
            if std::mem::take(starting) {
                st.num_spawning -= 1;
            }
        };
        loop {
            match st.queue.pop_front() {
                Some(Msg::Stop) => {
                    arrived(&mut st, &mut starting);
                    st.pending_stops -= 1;
                    st.num_live -= 1;
                    return (st, Next::Stop);
                }
                Some(Msg::Job(id, job)) => {
                    if job.claim() {
                        arrived(&mut st, &mut starting);
                        st.num_queued -= 1;
                        return (st, Next::Job(id, job));
                    }
                    // Cancelled (the cancel finished under this lock: it took the job out of
                    // `queued`); its closure is the canceller's. Drop the shell unlocked.
                    drop(st);
                    if crate::job::catch(move || drop(job)).is_err() {
                        lock(&self.state).hook_panics += 1;
                    }
                    st = lock(&self.state);
                    continue;
                }
                None => {}
            }
            // Park: idle, and claimable, from now until claimed or timed out. It first watches
            // the push counter for a moment without the lock (module docs), then waits.
            arrived(&mut st, &mut starting);
            st.num_idle += 1;
            // The idle time counts from before the park is reported: a caller that sees
            // `WorkerParked` and then steps the clock must find the step counted.
            let since = self.now();
            self.emit(&mut st, Event::WorkerParked { worker: me });
            self.room_changed(&st);
            self.quiet_changed(&st);
            st.num_watching += 1;
            let seen = self.pushes.load(Ordering::Relaxed);
            drop(st);
            spin_until(WORKER_SPIN, || self.pushes.load(Ordering::Acquire) != seen);
            st = lock(&self.state);
            st.num_watching -= 1;
            loop {
                if st.num_notify > 0 {
                    st.num_notify -= 1;
                    break;
                }
                let deadline =
                    (st.num_live > st.min).then(|| since.saturating_add(self.cfg.keep_alive));
                let expired = deadline.is_some_and(|d| self.now() >= d);
                if expired && policy::may_retire(st.num_live, st.pending_stops, st.min) {
                    st.num_idle -= 1;
                    st.num_live -= 1;
                    return (st, Next::IdleTimeout);
                }
                st = self.wait_until(&self.work, st, deadline);
            }
        }
    }

    /// Moves to `Stopping` (or `Terminated`), refusing new work, and queues the sentinels.
    /// Returns the jobs handed back (only a pool that never started has any).
    fn begin_stop(&self, st: &mut State) -> Vec<Job> {
        let mut returned = Vec::new();
        if matches!(st.phase, PoolState::Created | PoolState::Running) {
            self.emit(st, Event::StopRequested);
        }
        match st.phase {
            PoolState::Created => {
                returned = self.drain_jobs(st);
                self.terminate(st);
            }
            PoolState::Running => {
                st.phase = PoolState::Stopping;
                if st.num_live == 0 {
                    // No worker is left to drain the queue (their spawns failed): what is
                    // queued comes back in the report instead of staying stranded.
                    returned = self.drain_jobs(st);
                }
                for _ in st.pending_stops..st.num_live {
                    self.push_stop(st);
                }
                if st.num_threads == 0 {
                    self.terminate(st);
                }
            }
            PoolState::Stopping | PoolState::Terminated => {}
        }
        self.room.notify_all();
        self.exited.notify_all();
        returned
    }

    /// Removes every job from the queue, in order, handing back those not cancelled.
    fn drain_jobs(&self, st: &mut State) -> Vec<Job> {
        let mut returned = Vec::new();
        let mut keep = VecDeque::new();
        let mut drained = 0;
        for msg in st.queue.drain(..) {
            match msg {
                Msg::Job(_, job) => {
                    drained += 1;
                    // Always true: a job whose cancel finished left the queue with it, and a
                    // cancel in flight loses to us (we hold the lock it waits for).
                    if job.release() {
                        returned.push(job);
                    }
                }
                Msg::Stop => keep.push_back(Msg::Stop),
            }
        }
        st.queue = keep;
        // Jobs a worker popped while their cancel was in flight stay counted until it finishes.
        st.num_queued -= drained;
        returned
    }

    /// `DiscardOldest`: removes the oldest live job from the queue.
    fn evict_oldest(&self, st: &mut State) -> Option<Job> {
        while let Some(pos) = st.queue.iter().position(|m| matches!(m, Msg::Job(..))) {
            let Some(Msg::Job(_, job)) = st.queue.remove(pos) else {
                unreachable!()
            };
            st.num_queued -= 1;
            if job.release() {
                return Some(job);
            }
        }
        None
    }
}

/// Tells the pool a queued job was cancelled.
struct Sink(Arc<Shared>);

impl CancelSink for Sink {
    fn cancel_queued(&self, id: JobId, finish: &mut dyn FnMut() -> bool) -> bool {
        let sh = &self.0;
        let mut st = lock(&sh.state);
        // Under the lock that `stop_now` and evictions hold while they hand jobs back.
        if !finish() {
            return false;
        }
        // It is still in the queue: a worker pops under this lock, and one that reached it
        // before this `finish` took it (then `finish` failed). It leaves `queued` now.
        let pos = st
            .queue
            .iter()
            .position(|m| matches!(m, Msg::Job(j, _) if *j == id));
        let removed = pos.and_then(|p| st.queue.remove(p));
        st.num_queued -= 1;
        st.cancelled += 1;
        sh.emit(&mut st, Event::JobCancelled { job: id });
        sh.room_changed(&st);
        sh.quiet_changed(&st);
        drop(st);
        // The closure is already gone (the canceller owns it); this drops the job's shell.
        drop(removed);
        true
    }

    fn cancelled_drop_panicked(&self) {
        lock(&self.0.state).hook_panics += 1;
    }

    fn run_unstarted(
        &self,
        id: JobId,
        decide: &mut dyn FnMut(bool) -> bool,
        run: &mut dyn FnMut(Option<Panic>) -> bool,
    ) -> bool {
        let sh = &self.0;
        let mut st = lock(&sh.state);
        if !decide(st.phase == PoolState::Created) {
            return false;
        }
        // Still queued (a hand-back or a start would have needed this lock): it leaves the
        // queue now, run by its joiner, as a `CallerRuns` job is.
        let pos = st
            .queue
            .iter()
            .position(|m| matches!(m, Msg::Job(j, _) if *j == id));
        let shell = pos.and_then(|p| st.queue.remove(p));
        st.num_queued -= 1;
        st.caller_runs += 1;
        sh.room_changed(&st);
        drop(st);
        let (panicked, hook_panics) = sh.cfg.run_hooked(id, run);
        // The closure ran out of the task; dropping the shell does nothing more.
        drop(shell);
        let mut st = lock(&sh.state);
        st.hook_panics += hook_panics;
        if panicked {
            st.panicked += 1;
        } else {
            st.completed += 1;
        }
        sh.emit(&mut st, Event::JobRanByCaller { job: id, panicked });
        true
    }
}

/// Wakes every waiter when a manual clock moves, so it re-checks its deadline.
struct Waker(Arc<Shared>);

impl ClockListener for Waker {
    fn clock_advanced(&self) {
        let _g = lock(&self.0.state);
        self.0.work.notify_all();
        self.0.room.notify_all();
        self.0.exited.notify_all();
    }
}

/// The classic pool: one `Mutex` over all its state, `Condvar`s, typed stop sentinels; the
/// plainly correct reference backend. What it does: [`crate::semantics`]; how it is built:
/// `docs/architecture.md`.
///
/// ```
/// use pool_core::{Builder, Pool, PoolExt};
/// use std::time::Duration;
/// let pool = Builder::new().min(1).max(4).classic().unwrap(); // running
/// let h = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(h.join().unwrap(), 42);
/// let report = pool.stop(Duration::from_secs(5));
/// assert!(report.is_clean());
/// ```
pub struct ClassicPool {
    shared: Arc<Shared>,
    _clock: Subscription,
}

impl ClassicPool {
    /// The most live workers a classic pool runs (65,535): `min` and `max` above it are a
    /// [`ConfigError`] (from the builder and `resize`), an unbounded pool stops growing there,
    /// and `grow` never goes past it. The queue has no limit but memory.
    pub const MAX_WORKERS: usize = 65_535;

    /// Checks `min`, `max` and the capacity against this backend's limits.
    pub(crate) fn check_limits(
        min: usize,
        max: Option<usize>,
        capacity: Option<usize>,
    ) -> Result<(), ConfigError> {
        validate_limits(
            "classic",
            (min, max, capacity),
            ClassicPool::MAX_WORKERS,
            usize::MAX,
        )
    }

    /// A pool with this configuration: running, unless `cfg` says
    /// [`queue_before_start`](crate::Builder::queue_before_start) (then `Created`).
    pub fn new(cfg: Config) -> ClassicPool {
        let state = State {
            queue: VecDeque::new(),
            num_queued: 0,
            num_live: 0,
            num_threads: 0,
            num_idle: 0,
            num_notify: 0,
            num_watching: 0,
            num_spawning: 0,
            pending_stops: 0,
            put_waiters: 0,
            quiet_waiters: 0,
            min: cfg.min,
            max: cfg.max,
            phase: PoolState::Created,
            next_job: 0,
            next_worker: 0,
            threads: Vec::new(),
            completed: 0,
            panicked: 0,
            cancelled: 0,
            rejected: 0,
            caller_runs: 0,
            hook_panics: 0,
            spawn_failures: 0,
            peak_workers: 0,
        };
        let clock = cfg.clock.clone();
        let shared = Arc::new(Shared {
            cfg,
            state: Mutex::new(state),
            work: Condvar::new(),
            room: Condvar::new(),
            exited: Condvar::new(),
            pushes: AtomicU64::new(0),
        });
        let sub = clock.subscribe(DynArc::new(Waker(Arc::clone(&shared))));
        let pool = ClassicPool {
            shared,
            _clock: sub,
        };
        if !pool.shared.cfg.queue_before_start {
            // A new pool is `Created`: this start cannot fail.
            let _ = pool.start();
        }
        pool
    }

    /// The configuration the pool was built with (bounds may have changed since; see `stats`).
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    fn refuse_full(&self, mut st: Guard<'_>, job: Job) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        match &sh.cfg.policy {
            Policy::Reject => {
                st.rejected += 1;
                Err(PutError::Full(job))
            }
            Policy::CallerRuns => {
                let id = JobId(st.next_job);
                st.next_job += 1;
                st.caller_runs += 1;
                drop(st);
                let claimed = job.claim();
                let (panicked, hook_panics) = if claimed {
                    sh.cfg.run_job(id, job)
                } else {
                    (false, 0)
                };
                let mut st = lock(&sh.state);
                st.hook_panics += hook_panics;
                if !claimed {
                    st.cancelled += 1;
                } else if panicked {
                    st.panicked += 1;
                } else {
                    st.completed += 1;
                }
                sh.emit(&mut st, Event::JobRanByCaller { job: id, panicked });
                Ok(id)
            }
            Policy::DiscardOldest(handler) => {
                let Some(evicted) = sh.evict_oldest(&mut st) else {
                    st.rejected += 1;
                    return Err(PutError::Full(job));
                };
                st.rejected += 1;
                let id = Shared::enqueue(sh, &mut st, job);
                drop(st);
                let handler = DynArc::clone(handler);
                if crate::job::catch(move || handler(evicted)).is_err() {
                    lock(&sh.state).hook_panics += 1;
                }
                Ok(id)
            }
        }
    }
}

impl Pool for ClassicPool {
    fn backend(&self) -> &'static str {
        "classic"
    }

    fn start(&self) -> Result<usize, StartError> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        match st.phase {
            PoolState::Created => {}
            PoolState::Running => return Err(StartError::AlreadyStarted),
            PoolState::Stopping | PoolState::Terminated => return Err(StartError::ShutDown),
        }
        st.phase = PoolState::Running;
        let n = policy::start_count(st.min, st.max, st.num_queued).min(ClassicPool::MAX_WORKERS);
        let ids: Vec<_> = (0..n).map(|_| st.reserve_worker()).collect();
        drop(st);
        Ok(Shared::spawn_workers(sh, ids))
    }

    fn put_with(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        // How long a put may wait for room counts from when it first finds none; reading the
        // clock only then keeps it out of every other put's critical section.
        let mut deadline = None;
        let mut waited = false;
        loop {
            let refuse = matches!(st.phase, PoolState::Stopping | PoolState::Terminated);
            // MUTANT(late-sentinel): a stopping pool still admits the job, behind the sentinels.
            #[cfg(feature = "mutants")]
            let refuse = refuse
                && !(st.phase == PoolState::Stopping && sh.cfg.mutated(Mutation::LateSentinel));
            if refuse {
                st.rejected += 1;
                return Err(PutError::ShutDown(job));
            }
            match policy::admit(st.load(sh.cfg.capacity)) {
                Admit::ClaimIdle => {
                    let id = Shared::enqueue(sh, &mut st, job);
                    st.claim_idle();
                    let wake = st.must_wake();
                    // The claim is recorded; the woken worker need not wait for our lock.
                    drop(st);
                    if wake {
                        sh.work.notify_one();
                    }
                    return Ok(id);
                }
                Admit::Spawn => {
                    let id = Shared::enqueue(sh, &mut st, job);
                    let w = st.reserve_worker();
                    drop(st);
                    // If the OS refuses it, the job stays queued for the next worker.
                    Shared::spawn_workers(sh, vec![w]);
                    return Ok(id);
                }
                Admit::Enqueue => return Ok(Shared::enqueue(sh, &mut st, job)),
                Admit::Full => {}
            }
            let deadline = *deadline.get_or_insert_with(|| match admission {
                Admission::Try => None,
                Admission::Wait => Some(sh.deadline(sh.cfg.put_timeout)),
                Admission::Timeout(t) => Some(sh.deadline(t)),
            });
            match deadline {
                Some(d) if sh.now() < d => {
                    if !waited {
                        waited = true;
                        sh.emit(&mut st, Event::PutWaiting);
                    }
                    st.put_waiters += 1;
                    st = sh.wait_until(&sh.room, st, Some(d));
                    st.put_waiters -= 1;
                }
                _ => return self.refuse_full(st, job),
            }
        }
    }

    fn grow(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if st.phase != PoolState::Running {
            return 0;
        }
        let k = policy::grow_count(n, st.num_live, st.max)
            .min(ClassicPool::MAX_WORKERS.saturating_sub(st.num_live));
        let ids: Vec<_> = (0..k).map(|_| st.reserve_worker()).collect();
        drop(st);
        Shared::spawn_workers(sh, ids)
    }

    fn shrink(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if st.phase != PoolState::Running {
            return 0;
        }
        let k = policy::shrink_count(n, st.num_live, st.min, st.pending_stops);
        // MUTANT(over-shrink): the pending stops are forgotten.
        #[cfg(feature = "mutants")]
        let k = if sh.cfg.mutated(Mutation::OverShrink) {
            policy::shrink_count(n, st.num_live, st.min, 0)
        } else {
            k
        };
        for _ in 0..k {
            sh.push_stop(&mut st);
        }
        k
    }

    fn resize(&self, min: usize, max: Option<usize>) -> Result<(), ConfigError> {
        // Everything that can fail, before anything is recorded.
        validate_bounds(min, max)?;
        ClassicPool::check_limits(min, max, None)?;
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        st.min = min;
        st.max = max;
        let mut ids = Vec::new();
        if st.phase == PoolState::Running {
            let refill = policy::refill_count(min, st.num_live, st.pending_stops);
            ids = (0..refill).map(|_| st.reserve_worker()).collect();
            let over = max.map_or(0, |m| (st.num_live - st.pending_stops).saturating_sub(m));
            for _ in 0..over {
                sh.push_stop(&mut st);
            }
            // Keep-alive eligibility and room may have changed.
            sh.work.notify_all();
            self.shared.room.notify_all();
        }
        drop(st);
        Shared::spawn_workers(sh, ids);
        Ok(())
    }

    fn stats(&self) -> Stats {
        lock(&self.shared.state).stats()
    }

    fn stop(&self, timeout: Duration) -> StopReport {
        stopping::stop_and_wait(&*self.shared, timeout)
    }

    fn stop_now(&self) -> StopReport {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let returned = if st.phase == PoolState::Created {
            sh.begin_stop(&mut st)
        } else {
            let returned = sh.drain_jobs(&mut st);
            sh.begin_stop(&mut st);
            returned
        };
        st.report(returned)
    }

    fn await_termination(&self, timeout: Duration) -> bool {
        stopping::await_termination(&*self.shared, timeout)
    }

    fn await_quiescence(&self, timeout: Duration) -> bool {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = sh.deadline(timeout);
        while !Shared::quiet(&st) && sh.now() < deadline {
            st.quiet_waiters += 1;
            st = sh.wait_until(&sh.exited, st, Some(deadline));
            st.quiet_waiters -= 1;
        }
        Shared::quiet(&st)
    }
}

impl Stopping for Shared {
    type State = State;

    fn state(&self) -> &Mutex<State> {
        &self.state
    }

    fn clock(&self) -> &Clock {
        &self.cfg.clock
    }

    fn exited(&self) -> &Condvar {
        &self.exited
    }

    fn begin(&self, st: &mut State) -> Vec<Job> {
        self.begin_stop(st)
    }

    fn num_threads(st: &State) -> usize {
        st.num_threads
    }

    fn threads(st: &State) -> &[ThreadId] {
        &st.threads
    }

    fn terminated(&self, st: &State) -> bool {
        st.phase == PoolState::Terminated
    }

    fn report(&self, st: &State, returned: Vec<Job>) -> StopReport {
        st.report(returned)
    }

    fn drop_timeout(&self) -> Duration {
        self.cfg.drop_timeout
    }

    fn queued(&self, st: &State) -> usize {
        st.num_queued
    }

    fn emit_locked(&self, st: &mut State, e: Event) {
        self.emit(st, e);
    }
}

impl Drop for ClassicPool {
    /// A non-blocking stop: no new work, queued jobs still run, workers exit after them.
    fn drop(&mut self) {
        stopping::stop_on_drop(&*self.shared);
    }
}

impl std::fmt::Debug for ClassicPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        stopping::fmt_pool(f, "ClassicPool", self.stats())
    }
}
