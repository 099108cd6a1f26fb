//! [`IocpPool`]: the [`Pool`] contract on a completion port.
//!
//! Workers park in the port ([`CompletionPort::get_until`]), so the port decides which parked
//! worker runs next (the most recent: LIFO) and how many run at once (its concurrency value).
//! The pool's decisions are the classic backend's, made under one lock by pool-core's policy
//! functions: the queue of work ([`Msg`]) and every count live in [`State`]. A packet is a
//! *claimed wake-up*: a put that finds a parked worker claims it under the lock
//! (`num_idle -= 1`, `num_notify += 1`, tokio's idea) and posts one [`ISAPI_REQUEST`] packet; a
//! stop or shrink that finds one posts one [`ISAPI_SHUTDOWN`] packet. A worker that gets any
//! packet (or a time-out) takes the lock, consumes one claim if there is one, and then does what
//! the *head of the queue* says: run the job, or exit for a stop sentinel. So a shutdown always
//! lands behind the requests queued before it, each stop makes exactly one worker exit, and
//! which worker a packet woke never decides what it does. A packet with another key is an error,
//! reported through the pool's events ([`Event::UnknownWakeup`], to `Builder::on_event`), to
//! `tracing`, in [`IocpPool::port_errors`] and to the `on_port_error` listener; the worker goes on.
//!
//! Why the queue is not the port itself: `stop_now`, `DiscardOldest` and `cancel` take queued
//! jobs out of the middle, in order, atomically with the pool's counts; a kernel port cannot
//! give a packet back. Keeping the jobs under the lock keeps every operation linearizable
//! against the model (the conformance kit checks it); the port keeps the kernel's scheduling.
//!
//! Workers count against the port's limit while they run: a new worker asks the port for its
//! slot before its first job ([`CompletionPort::attach`]), a parked one holds none, one back
//! from a [`crate::blocking`] region runs at once (the kernel's rule: the count may exceed the
//! limit a while) and, still over the limit when its job ends, waits for a slot before it takes
//! the next ([`CompletionPort::checkpoint`]), and the
//! pool's own waits made on a worker's thread (a `stop`, an `await_termination` or a put
//! waiting for room, called from inside a job) are [`crate::blocking`] regions, so they never
//! hold a slot the workers they wait for need.

use std::collections::VecDeque;
use std::time::Duration;

use pool_core::__backend::{self as core, Admit, Load};
use pool_core::{Admission, Clock};
use pool_core::{
    CancelSink, ClockListener, Config, ConfigError, Event, ExitReason, Job, JobId, Policy, Pool,
    PoolState, PutError, StartError, Stats, StopReport, WorkerId, validate_bounds,
};

use crate::port::{CompletionKey, CompletionPort, ISAPI_REQUEST, ISAPI_SHUTDOWN};
use crate::seat::blocking;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, DynArc, Mutex, MutexGuard, lock, wait, wait_timeout};

/// A queue entry: a job, or a typed stop sentinel (never a magic value).
enum Msg {
    Job(JobId, Job),
    Stop,
}

/// Something the port did that the pool did not expect: reported, never fatal.
#[derive(Debug)]
#[non_exhaustive]
pub enum PortError {
    /// A packet with a completion key the pool does not use.
    UnknownKey {
        /// The worker that dequeued it.
        worker: WorkerId,
        /// The key.
        key: CompletionKey,
    },
    /// Waiting on the port failed.
    Wait {
        /// The worker that waited.
        worker: WorkerId,
        /// The OS error.
        error: std::io::Error,
    },
    /// Posting a wake-up failed (the claimed worker is woken by the next packet or time-out).
    Post {
        /// The key of the packet.
        key: CompletionKey,
        /// The OS error.
        error: std::io::Error,
    },
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortError::UnknownKey { worker, key } => write!(
                f,
                "worker {} dequeued a packet with unknown completion key {}",
                worker.0, key.0
            ),
            PortError::Wait { worker, error } => {
                write!(f, "worker {} could not wait on the port: {error}", worker.0)
            }
            PortError::Post { key, error } => {
                write!(f, "posting a packet with key {} failed: {error}", key.0)
            }
        }
    }
}

impl std::error::Error for PortError {}

/// A listener for [`PortError`]s (it may run under the pool's lock: quick, no calls into the pool).
pub type PortErrorListener = DynArc<dyn Fn(&PortError) + Send + Sync>;

/// Everything the lock guards (the classic backend's state; the port replaces its condvar).
struct State {
    /// Jobs and sentinels in FIFO order. A sentinel sits behind every job queued before it.
    queue: VecDeque<Msg>,
    /// `Msg::Job` entries in `queue`.
    num_queued: usize,
    /// Workers counted by the pool (`Stats::workers`); a worker leaves it when it decides to exit.
    num_live: usize,
    /// Worker threads not yet finished (exit hook included); stop waits for this to reach 0.
    num_threads: usize,
    /// Parked workers no packet has claimed. Invariant: `num_idle + num_notify` = workers
    /// parked in the port (or on their way into it, or back from it and not yet relocked).
    num_idle: usize,
    /// Claims on parked workers not yet consumed; each was posted as one packet.
    num_notify: usize,
    /// Workers spawned but not yet running their loop; each will take the queue head first.
    num_spawning: usize,
    /// Stop sentinels in `queue`.
    pending_stops: usize,
    /// Puts waiting for room.
    put_waiters: usize,
    /// Callers in `await_quiescence`, woken (on `exited`) when a worker parks or a job leaves
    /// the queue without a worker.
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
    peak_workers: usize,
    /// Unexpected things the port did ([`PortError`]).
    port_errors: u64,
}

impl State {
    /// The backlog the capacity limits (`docs/semantics.md`, "Queue").
    fn backlog(&self) -> usize {
        let coming = (self.num_notify + self.num_spawning).saturating_sub(self.pending_stops);
        self.num_queued.saturating_sub(coming)
    }

    fn load(&self, capacity: Option<usize>) -> Load {
        Load {
            running: self.phase == PoolState::Running,
            idle: self.num_idle,
            staying: self.num_live - self.pending_stops,
            max: self.max,
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
            // Not tracked by this backend yet (issue 12 item 1 was done for classic and fast).
            spawn_failures: 0,
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
struct Shared<P> {
    cfg: Config,
    state: Mutex<State>,
    /// Where parked workers wait; every packet is a claimed wake-up (module docs).
    port: P,
    /// Puts wait here for room.
    room: Condvar,
    /// `stop` and `await_termination` wait here for workers to exit.
    exited: Condvar,
    on_port_error: Option<PortErrorListener>,
    /// Bumped (under the state lock) when parked workers must look at their deadline again
    /// (`resize` changed `min`, a manual clock moved); a parked worker leaves the port when it differs from the value
    /// it read under the lock before it went in.
    recheck: AtomicU64,
}

type Guard<'a> = MutexGuard<'a, State>;

/// What a worker got from the queue.
enum Next {
    Job(JobId, Job),
    Stop,
    IdleTimeout,
}

impl<P: CompletionPort<()> + 'static> Shared<P> {
    fn emit(&self, st: &mut State, e: Event) {
        if core::emit(&self.cfg, &e) {
            st.hook_panics += 1;
        }
    }

    fn port_error(&self, st: &mut State, e: PortError) {
        st.port_errors += 1;
        tracing::error!(target: "pool", error = %e, "completion port");
        if let Some(l) = &self.on_port_error
            && core::catch_panicked(|| l(&e))
        {
            st.hook_panics += 1;
        }
    }

    /// Posts a claimed wake-up.
    fn wake(&self, st: &mut State, key: CompletionKey) {
        if let Err(e) = self.port.post(key, ()) {
            self.port_error(
                st,
                PortError::Post {
                    key,
                    error: e.error,
                },
            );
        }
    }

    fn clock(&self) -> &Clock {
        self.cfg.clock()
    }

    /// Waits on `cv` until notified or until `deadline` on the pool clock.
    fn wait_until<'a>(&self, cv: &Condvar, g: Guard<'a>, deadline: Option<Duration>) -> Guard<'a> {
        let clock = self.clock();
        match deadline {
            None => wait(cv, g),
            // A manual clock wakes us through `Waker` when it moves.
            Some(_) if clock.is_manual() => wait(cv, g),
            Some(d) => {
                let left = d.saturating_sub(clock.now());
                if left.is_zero() {
                    g
                } else {
                    wait_timeout(cv, g, left)
                }
            }
        }
    }

    fn deadline(&self, after: Duration) -> Duration {
        self.clock().deadline_after(after)
    }

    fn now(&self) -> Duration {
        self.clock().now()
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

    fn room_changed(&self, st: &State) {
        if st.put_waiters > 0 {
            self.room.notify_all();
        }
    }

    /// Pushes a stop sentinel at the tail, claiming a parked worker for it if there is one.
    fn push_stop(&self, st: &mut State) {
        st.queue.push_back(Msg::Stop);
        st.pending_stops += 1;
        if st.claim_idle() {
            self.wake(st, ISAPI_SHUTDOWN);
        }
    }

    /// Gives `job` an id and queues it (or counts it cancelled if its handle already did).
    fn enqueue(sh: &Arc<Self>, st: &mut State, job: Job) -> JobId {
        let id = JobId(st.next_job);
        st.next_job += 1;
        if core::has_control(&job) {
            let sink: DynArc<dyn CancelSink> = DynArc::new(Sink(Arc::clone(sh)));
            if !core::enqueue(&job, id, &sink) {
                st.cancelled += 1;
                return id;
            }
        }
        st.queue.push_back(Msg::Job(id, job));
        st.num_queued += 1;
        id
    }

    fn spawn_workers(sh: &Arc<Self>, ids: impl IntoIterator<Item = WorkerId>) {
        for id in ids {
            let name = format!("{}-{}", sh.cfg.thread_name(), id.0);
            let mut b = thread::Builder::new().name(name);
            if let Some(size) = sh.cfg.stack_size() {
                b = b.stack_size(size);
            }
            let shared = Arc::clone(sh);
            if let Err(e) = b.spawn(move || Shared::worker_main(&shared, id)) {
                tracing::error!(target: "pool", worker = id.0, error = %e, "could not spawn a worker");
                let mut st = lock(&sh.state);
                st.num_live -= 1;
                st.num_threads -= 1;
                st.num_spawning -= 1;
                sh.after_thread_exit(&mut st);
            }
        }
    }

    fn after_thread_exit(&self, st: &mut State) {
        if st.num_threads == 0 && st.phase == PoolState::Stopping {
            st.phase = PoolState::Terminated;
        }
        self.exited.notify_all();
        self.room_changed(st);
    }

    fn worker_main(&self, me: WorkerId) {
        // Its slot first (it will run what it takes without having waited on the port).
        self.port.attach();
        let start_panicked = core::run_worker_start_hook(&self.cfg);
        let mut st = lock(&self.state);
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
                    let (panicked, hook_panics) = core::run_job(&self.cfg, id, job);
                    // Between two items: over the port's limit (it came back from a blocking
                    // region above it), the worker waits for a slot, as at a kernel port.
                    self.port.checkpoint();
                    st = lock(&self.state);
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
        let tid = thread::current().id();
        st.threads.retain(|t| *t != tid);
        self.room_changed(&st);
        drop(st);
        let exit_panicked = core::run_worker_exit_hook(&self.cfg);
        self.port.detach();
        let mut st = lock(&self.state);
        st.hook_panics += u64::from(exit_panicked);
        st.num_threads -= 1;
        self.emit(&mut st, Event::WorkerExited { worker: me, reason });
        self.after_thread_exit(&mut st);
    }

    /// Takes the next item for worker `me`, parking in the port while there is none.
    fn next<'a>(
        &'a self,
        mut st: Guard<'a>,
        me: WorkerId,
        mut starting: bool,
    ) -> (Guard<'a>, Next) {
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
                    if core::claim(&job) {
                        arrived(&mut st, &mut starting);
                        st.num_queued -= 1;
                        return (st, Next::Job(id, job));
                    }
                    // Cancelled (its cancel finished under this lock and took it out of
                    // `queued`); drop the shell unlocked.
                    drop(st);
                    if core::catch_panicked(move || drop(job)) {
                        lock(&self.state).hook_panics += 1;
                    }
                    st = lock(&self.state);
                    continue;
                }
                None => {}
            }
            // Park in the port until claimed, or until the keep-alive runs out above `min`.
            arrived(&mut st, &mut starting);
            st.num_idle += 1;
            // The idle time counts from before the park is reported: a caller that sees
            // `WorkerParked` and then steps the clock must find the step counted.
            let since = self.now();
            self.emit(&mut st, Event::WorkerParked { worker: me });
            self.room_changed(&st);
            self.quiet_changed(&st);
            loop {
                let deadline =
                    (st.num_live > st.min).then(|| since.saturating_add(self.cfg.keep_alive()));
                let seen = self.recheck.load(Ordering::SeqCst);
                drop(st);
                let interrupted = || self.recheck.load(Ordering::SeqCst) != seen;
                let got = self.port.get_until(self.clock(), deadline, &interrupted);
                st = lock(&self.state);
                match got {
                    Ok(Some(p)) if p.key == ISAPI_REQUEST || p.key == ISAPI_SHUTDOWN => {}
                    Ok(Some(p)) => {
                        // An error, reported through the pool's events (and the port-error
                        // listener); the worker stays parked and goes on.
                        self.emit(
                            &mut st,
                            Event::UnknownWakeup {
                                worker: me,
                                key: p.key.0,
                            },
                        );
                        self.port_error(
                            &mut st,
                            PortError::UnknownKey {
                                worker: me,
                                key: p.key,
                            },
                        );
                    }
                    Ok(None) => {}
                    Err(error) => {
                        self.port_error(&mut st, PortError::Wait { worker: me, error });
                        drop(st);
                        thread::yield_now();
                        st = lock(&self.state);
                    }
                }
                if st.num_notify > 0 {
                    st.num_notify -= 1;
                    break;
                }
                let expired = deadline.is_some_and(|d| self.now() >= d);
                if expired && core::may_retire(st.num_live, st.pending_stops, st.min) {
                    st.num_idle -= 1;
                    st.num_live -= 1;
                    return (st, Next::IdleTimeout);
                }
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
                st.phase = PoolState::Terminated;
            }
            PoolState::Running => {
                st.phase = PoolState::Stopping;
                // One ISAPI_SHUTDOWN per worker, behind every queued request.
                for _ in st.pending_stops..st.num_live {
                    self.push_stop(st);
                }
                if st.num_threads == 0 {
                    st.phase = PoolState::Terminated;
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
                    if core::release(&job) {
                        returned.push(job);
                    }
                }
                Msg::Stop => keep.push_back(Msg::Stop),
            }
        }
        st.queue = keep;
        st.num_queued -= drained;
        returned
    }

    /// `DiscardOldest`: removes the oldest live job from the queue.
    fn evict_oldest(&self, st: &mut State) -> Option<Job> {
        while let Some(pos) = st.queue.iter().position(|m| matches!(m, Msg::Job(..))) {
            let Some(Msg::Job(_, job)) = st.queue.remove(pos) else {
                unreachable!("the position holds a job")
            };
            st.num_queued -= 1;
            if core::release(&job) {
                return Some(job);
            }
        }
        None
    }
}

/// Tells the pool a queued job was cancelled.
struct Sink<P>(Arc<Shared<P>>);

impl<P: CompletionPort<()> + 'static> CancelSink for Sink<P> {
    fn cancel_queued(&self, id: JobId, finish: &mut dyn FnMut() -> bool) -> bool {
        let sh = &self.0;
        let mut st = lock(&sh.state);
        if !finish() {
            return false;
        }
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
        drop(removed);
        true
    }

    fn cancelled_drop_panicked(&self) {
        lock(&self.0.state).hook_panics += 1;
    }
}

/// Wakes every waiter when a manual clock moves, so it re-checks its deadline.
struct Waker<P>(Arc<Shared<P>>);

impl<P: CompletionPort<()> + 'static> ClockListener for Waker<P> {
    fn clock_advanced(&self) {
        let _g = lock(&self.0.state);
        // Parked workers leave the port and look again: at the clock, and at whether they may
        // time out now (`num_live` may have grown above `min` since they parked).
        self.0.recheck.fetch_add(1, Ordering::SeqCst);
        self.0.port.wake_getters();
        self.0.room.notify_all();
        self.0.exited.notify_all();
    }
}

/// The completion-port pool: the whole [`Pool`] contract, with workers that wait on a
/// [`CompletionPort`] (see the module docs and `docs/architecture.md`).
///
/// ```
/// use pool_iocp::IocpBuilder;
/// use pool_core::{Pool, PoolExt};
/// use std::time::Duration;
///
/// // max_workers 20 (pywin32's default), concurrency = the machine's cores.
/// let pool = IocpBuilder::new().build().unwrap();
/// let _ = pool.start();
/// assert_eq!(pool.submit(|| 6 * 7).unwrap().join().unwrap(), 42);
/// assert!(pool.stop(Duration::from_secs(5)).is_clean());
/// ```
pub struct IocpPool<P: CompletionPort<()> + 'static = crate::DefaultPort> {
    shared: Arc<Shared<P>>,
    _clock: Box<dyn std::any::Any + Send + Sync>,
}

impl<P: CompletionPort<()> + 'static> IocpPool<P> {
    /// A pool with this configuration on `port`: running, unless `cfg` says
    /// [`queue_before_start`](pool_core::Builder::queue_before_start) (then `Created`).
    pub fn with_port(cfg: Config, port: P) -> IocpPool<P> {
        IocpPool::with_port_and_listener(cfg, port, None)
    }

    pub(crate) fn with_port_and_listener(
        cfg: Config,
        port: P,
        on_port_error: Option<PortErrorListener>,
    ) -> IocpPool<P> {
        let state = State {
            queue: VecDeque::new(),
            num_queued: 0,
            num_live: 0,
            num_threads: 0,
            num_idle: 0,
            num_notify: 0,
            num_spawning: 0,
            pending_stops: 0,
            put_waiters: 0,
            quiet_waiters: 0,
            min: cfg.min(),
            max: cfg.max(),
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
            peak_workers: 0,
            port_errors: 0,
        };
        let clock = cfg.clock().clone();
        let shared = Arc::new(Shared {
            cfg,
            state: Mutex::new(state),
            port,
            room: Condvar::new(),
            exited: Condvar::new(),
            on_port_error,
            recheck: AtomicU64::new(0),
        });
        let sub = core::subscribe(&clock, DynArc::new(Waker(Arc::clone(&shared))));
        let pool = IocpPool {
            shared,
            _clock: sub,
        };
        if !pool.shared.cfg.queue_before_start() {
            // A new pool is `Created`: this start cannot fail.
            let _ = pool.start();
        }
        pool
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    /// The port the workers wait on (posting a packet with a key the pool does not use is
    /// reported as an [`Event::UnknownWakeup`] and a [`PortError::UnknownKey`], and the worker
    /// goes on).
    pub fn port(&self) -> &P {
        &self.shared.port
    }

    /// How many [`PortError`]s the pool has seen.
    pub fn port_errors(&self) -> u64 {
        lock(&self.shared.state).port_errors
    }

    fn refuse_full(&self, mut st: Guard<'_>, job: Job) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        match sh.cfg.policy() {
            Policy::Reject => {
                st.rejected += 1;
                Err(PutError::Full(job))
            }
            Policy::CallerRuns => {
                let id = JobId(st.next_job);
                st.next_job += 1;
                st.caller_runs += 1;
                drop(st);
                let claimed = core::claim(&job);
                let (panicked, hook_panics) = if claimed {
                    core::run_job(&sh.cfg, id, job)
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
                if core::catch_panicked(move || handler(evicted)) {
                    lock(&sh.state).hook_panics += 1;
                }
                Ok(id)
            }
        }
    }

    /// Admission: `Ok(result)` if decided, `Err((guard, job))` if the queue is full.
    fn admit<'a>(
        &'a self,
        mut st: Guard<'a>,
        job: Job,
    ) -> Result<Result<JobId, PutError<Job>>, (Guard<'a>, Job)> {
        let sh = &self.shared;
        if matches!(st.phase, PoolState::Stopping | PoolState::Terminated) {
            st.rejected += 1;
            return Ok(Err(PutError::ShutDown(job)));
        }
        match core::admit(st.load(sh.cfg.capacity())) {
            Admit::ClaimIdle => {
                let id = Shared::enqueue(sh, &mut st, job);
                st.claim_idle();
                sh.wake(&mut st, ISAPI_REQUEST);
                Ok(Ok(id))
            }
            Admit::Spawn => {
                let id = Shared::enqueue(sh, &mut st, job);
                let w = st.reserve_worker();
                drop(st);
                Shared::spawn_workers(sh, [w]);
                Ok(Ok(id))
            }
            Admit::Enqueue => Ok(Ok(Shared::enqueue(sh, &mut st, job))),
            Admit::Full => Err((st, job)),
        }
    }

    /// A put that found the queue full and may wait: a blocking region of its own (it must not
    /// hold a port slot the workers it waits for need).
    #[cold]
    fn put_wait_cold(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let mut job = job;
        let mut deadline = None;
        let mut waited = false;
        loop {
            (st, job) = match self.admit(st, job) {
                Ok(r) => return r,
                Err(full) => full,
            };
            let deadline = *deadline.get_or_insert_with(|| match admission {
                Admission::Try => None,
                Admission::Wait => Some(sh.deadline(sh.cfg.put_timeout())),
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
}

impl<P: CompletionPort<()> + 'static> Pool for IocpPool<P> {
    fn backend(&self) -> &'static str {
        "iocp"
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
        let n = core::start_count(st.min, st.max, st.num_queued);
        let ids: Vec<_> = (0..n).map(|_| st.reserve_worker()).collect();
        drop(st);
        Shared::spawn_workers(sh, ids);
        Ok(n)
    }

    fn put_with(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        let st = lock(&self.shared.state);
        match self.admit(st, job) {
            Ok(r) => r,
            Err((st, job)) if admission == Admission::Try => self.refuse_full(st, job),
            Err((st, job)) => {
                drop(st);
                blocking(|| self.put_wait_cold(job, admission))
            }
        }
    }

    fn grow(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if st.phase != PoolState::Running {
            return 0;
        }
        let k = core::grow_count(n, st.num_live, st.max);
        let ids: Vec<_> = (0..k).map(|_| st.reserve_worker()).collect();
        drop(st);
        Shared::spawn_workers(sh, ids);
        k
    }

    fn shrink(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if st.phase != PoolState::Running {
            return 0;
        }
        let k = core::shrink_count(n, st.num_live, st.min, st.pending_stops);
        for _ in 0..k {
            sh.push_stop(&mut st);
        }
        k
    }

    fn resize(&self, min: usize, max: Option<usize>) -> Result<(), ConfigError> {
        validate_bounds(min, max)?;
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        st.min = min;
        st.max = max;
        let mut ids = Vec::new();
        if st.phase == PoolState::Running {
            let refill = core::refill_count(min, st.num_live, st.pending_stops);
            ids = (0..refill).map(|_| st.reserve_worker()).collect();
            let over = max.map_or(0, |m| (st.num_live - st.pending_stops).saturating_sub(m));
            for _ in 0..over {
                sh.push_stop(&mut st);
            }
            // Keep-alive eligibility changed for parked workers: they look again (a packet per
            // parked worker would be a claim). Room may have changed too.
            sh.recheck.fetch_add(1, Ordering::SeqCst);
            sh.port.wake_getters();
            sh.room.notify_all();
        }
        drop(st);
        Shared::spawn_workers(sh, ids);
        Ok(())
    }

    fn stats(&self) -> Stats {
        lock(&self.shared.state).stats()
    }

    fn stop(&self, timeout: Duration) -> StopReport {
        blocking(|| {
            let sh = &self.shared;
            let mut st = lock(&sh.state);
            let deadline = sh.deadline(timeout);
            let returned = sh.begin_stop(&mut st);
            let me = thread::current().id();
            let inside = usize::from(st.threads.contains(&me));
            while st.num_threads > inside && sh.now() < deadline {
                st = sh.wait_until(&sh.exited, st, Some(deadline));
            }
            st.report(returned)
        })
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

    fn await_quiescence(&self, timeout: Duration) -> bool {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = sh.deadline(timeout);
        while !Shared::<P>::quiet(&st) && sh.now() < deadline {
            st.quiet_waiters += 1;
            st = sh.wait_until(&sh.exited, st, Some(deadline));
            st.quiet_waiters -= 1;
        }
        Shared::<P>::quiet(&st)
    }

    fn await_termination(&self, timeout: Duration) -> bool {
        blocking(|| {
            let sh = &self.shared;
            let mut st = lock(&sh.state);
            let deadline = sh.deadline(timeout);
            while st.phase != PoolState::Terminated && sh.now() < deadline {
                st = sh.wait_until(&sh.exited, st, Some(deadline));
            }
            st.phase == PoolState::Terminated
        })
    }
}

impl<P: CompletionPort<()> + 'static> Drop for IocpPool<P> {
    /// A non-blocking stop: no new work, queued jobs still run, workers exit after them.
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        let returned = self.shared.begin_stop(&mut st);
        drop(st);
        drop(returned);
    }
}

impl<P: CompletionPort<()> + 'static> std::fmt::Debug for IocpPool<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IocpPool")
            .field("concurrency", &self.shared.port.concurrency())
            .field("stats", &self.stats())
            .finish()
    }
}
