//! The fast backend: the same semantics as the classic pool (`docs/semantics.md`), with no lock
//! on the put / take hot path (a put to a pool with a capacity takes the state lock: see
//! `put_with`).
//!
//! Three pieces, each with its own invariants (the protocol between them, with the reasons no
//! wakeup is lost and an idle pool burns no CPU, is written up in `src/fast/README.md`):
//!
//! - [`queue::JobQueue`]: a lock-free unbounded MPMC FIFO whose positions are the job ids; stop
//!   sentinels are boundaries in it rather than items.
//! - [`word::Word`]: one atomic word with the phase, idle workers, whether the pool is at max,
//!   and the backlog balance, so a put decides and reserves an idle worker in one
//!   compare-exchange, with the same [`policy::admit`] as the classic pool, and a take settles
//!   the backlog of a bounded pool without a lock.
//! - Parking: a worker with nothing to take spins briefly, then registers as idle (under the
//!   `sleep` lock, which only parking and waking take), re-checks the queue, and parks. A put that
//!   claims an idle worker pops one from the parked list and unparks it.
//!
//! Control operations (start, grow, shrink, resize, stop, stop_now, spawning, a full queue) take
//! the `state` lock, as the classic pool does for everything.
//!
//! One file per part of the protocol (each opens with what it owns; the README's sections name
//! them):
//!
//! - `mod.rs` (this file): the shared state (`State` under the state lock, `Shared`), the word's
//!   read-modify-write helpers and the balance steps, and [`FastPool`] with its control
//!   operations (start, grow, shrink, resize, stats, stop, await_termination, drop).
//! - `admit.rs`: admission: a put's decision on the word, its claim of an idle worker, its
//!   reservation in the queue, the stale-decision safety net (`respawn_cold`), the locked path
//!   (`put_cold`, a full queue's policy) and cancellation of a queued job.
//! - `worker.rs`: a worker's record and life: spawning, the loop, taking an item, running a job.
//! - `idle.rs`: spinning, registering as idle, parking, being claimed and woken, the keep-alive.
//! - `stop.rs`: stop sentinels: queueing them (`push_stops`), a worker taking one, stopping the
//!   pool and draining the queue.
//! - `stats.rs`: the counters (`Tally`), `Stats` and the stop report.
//! - `queue.rs`, `word.rs`: the job queue and the admission word.

mod admit;
mod idle;
#[cfg(loom)]
pub mod loom_api;
mod queue;
mod stats;
mod stop;
mod word;
mod worker;

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use self::admit::Sink;
use self::idle::{Sleep, Waker};
use self::queue::JobQueue;
use self::stats::{Retired, Tally};
use self::word::{CREATED, MAX_TRACKED_CAPACITY, MAX_WORKERS, RUNNING, TERMINATED, WAITERS, Word};
use self::worker::WorkerSlot;
use crate::clock::{Clock, Subscription};
use crate::config::Config;
use crate::error::{ConfigError, PutError, StartError, validate_bounds, validate_limits};
use crate::event::Event;
use crate::job::{CancelSink, Job, JobId};
use crate::policy;
use crate::pool::{Admission, Pool};
use crate::stats::{Stats, StopReport};
use crate::stopping::{self, Stopping};
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::thread::ThreadId;
use crate::sync::{Arc, Condvar, DynArc, Mutex, MutexGuard, lock};

/// What the `state` lock guards: the control side of the pool.
struct State {
    /// Workers counted by the pool (`Stats::workers`); a worker leaves this count the moment it
    /// decides to exit. Mirrored in `Shared::num_live` for lock-free readers.
    num_live: usize,
    /// Worker threads not yet finished (exit hook included); stop waits for this to reach 0.
    num_threads: usize,
    /// Boundaries (dense queue positions) of the pending stop sentinels, nondecreasing; the front
    /// one is `queue.stop_at()`. Its length is `Stats::pending_stops`.
    stops: VecDeque<u64>,
    /// Puts waiting for room (and `await_quiescence` callers, woken by the same changes);
    /// `WAITERS` is set in the word while it is not 0.
    put_waiters: usize,
    min: usize,
    max: Option<usize>,
    next_worker: u64,
    /// Threads of live workers, so `stop` can tell it is called from inside a job.
    threads: Vec<ThreadId>,
    /// Records of the live workers (for their counters).
    workers: Vec<Arc<WorkerSlot>>,
    retired: Retired,
    /// Workers that never ran their loop (`Stats::spawn_failures`).
    spawn_failures: u64,
    peak_workers: usize,
}

impl State {
    /// The effective maximum: the configured one, but never above what the word can count.
    fn cap(&self) -> usize {
        self.max.map_or(MAX_WORKERS, |m| m.min(MAX_WORKERS))
    }

    /// Live workers that will stay: not counting those a pending stop is waiting for.
    fn staying(&self) -> usize {
        self.num_live.saturating_sub(self.stops.len())
    }

    /// Whether admission may not spawn: the staying workers are at `max`, or the live ones at
    /// what the word can count.
    fn at_max(&self) -> bool {
        self.num_live >= MAX_WORKERS || self.max.is_some_and(|m| self.staying() >= m)
    }
}

/// State shared by the pool handle and its workers.
struct Shared {
    cfg: Config,
    /// The capacity the word tracks a balance for; `None` when unbounded (or too large to reach),
    /// and then puts and takes never touch the balance.
    capacity: Option<usize>,
    /// The admission word (see [`word`]).
    word: CachePadded<AtomicU64>,
    queue: JobQueue,
    /// Dead positions between the queue's head and tail (dead slots, cancelled jobs not yet
    /// skipped), as a wrapping two's-complement count: `Stats::queued = tail - head - dead`.
    /// Incremented before a dead slot is written or when a queued job is cancelled; decremented
    /// when one is popped (so it may dip below zero for a moment; `stats` clamps).
    num_dead: AtomicU64,
    /// Mirror of `State::num_live`, for a parking worker's keep-alive decision.
    num_live: AtomicUsize,
    /// Mirror of `State::min`, likewise.
    min: AtomicUsize,
    rejected: AtomicU64,
    cancelled: AtomicU64,
    caller_runs: AtomicU64,
    /// Puts that began (before their compare-exchange) / finished (after their push) claiming an
    /// idle worker for their job; equal while none is between the two (see `Shared::stats`).
    claims_begun: AtomicU64,
    claims_done: AtomicU64,
    /// Outcomes and hook panics counted outside any worker (caller runs, handlers, listeners on
    /// other threads).
    others: Tally,
    state: Mutex<State>,
    /// Puts wait here for room.
    room: Condvar,
    /// `stop` and `await_termination` wait here for workers to exit.
    exited: Condvar,
    sleep: Mutex<Sleep>,
}

type Guard<'a> = MutexGuard<'a, State>;

impl Shared {
    fn word(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    fn cas_word(&self, old: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(old.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Applies `f` to the word until the compare-exchange takes; returns the old word.
    fn update_word(&self, mut f: impl FnMut(Word) -> Word) -> Word {
        let mut w = self.word();
        loop {
            match self.cas_word(w, f(w)) {
                Ok(()) => return w,
                Err(now) => w = now,
            }
        }
    }

    /// Something a waiting put looks at changed: wake the waiters, if any.
    fn room_changed(&self, w: Word) {
        if w.waiters() {
            let _g = lock(&self.state);
            self.room.notify_all();
        }
    }

    /// `room_changed` for a caller that holds the state lock.
    fn room_changed_locked(&self, st: &State) {
        if st.put_waiters > 0 {
            self.room.notify_all();
        }
    }

    fn emit_other(&self, e: Event) {
        if self.cfg.emit(&e) {
            Tally::bump_shared(&self.others.hook_panics);
        }
    }

    fn emit_by(&self, me: &WorkerSlot, e: Event) {
        if self.cfg.emit(&e) {
            Tally::bump(&me.tally.hook_panics, 1);
        }
    }

    /// Sets or clears `AT_MAX` to match `st` (after `num_live`, the pending stops or the bounds
    /// changed), and mirrors `num_live`.
    fn sync_at_max(&self, st: &State) {
        let at_max = st.at_max();
        self.update_word(|w| w.with_at_max(at_max));
        self.num_live.store(st.num_live, Ordering::Release);
    }

    /// Applies `f` (a step of the balance and front stops, see [`word`]) when they are tracked;
    /// a put waiting for room is told when the backlog went down. The caller must not hold the
    /// state lock.
    fn settle(&self, f: impl Fn(Word) -> Word) {
        if let Some(old) = self.move_balance(f) {
            self.room_changed(old);
        }
    }

    /// [`Shared::settle`] for a caller holding the state lock.
    fn settle_locked(&self, st: &State, f: impl Fn(Word) -> Word) {
        if self.move_balance(f).is_some() {
            self.room_changed_locked(st);
        }
    }

    /// Applies `f` when tracked; the old word when the backlog went down.
    fn move_balance(&self, f: impl Fn(Word) -> Word) -> Option<Word> {
        self.capacity?;
        let old = self.update_word(&f);
        (f(old).backlog() < old.backlog()).then_some(old)
    }

    /// Waits on `cv` until notified or until `deadline` on the pool clock.
    fn wait_until<'a>(&self, cv: &Condvar, g: Guard<'a>, deadline: Option<Duration>) -> Guard<'a> {
        stopping::wait_until(&self.cfg.clock, cv, g, deadline)
    }
}

/// The fast pool: the classic pool's semantics with a lock-free put / take path; the backend to
/// pick. What it does: [`crate::semantics`] (its limits, 65,535 workers and a capacity tracked up
/// to 2^26 jobs, in §2 "Backend limits"); how it is built: `pool-core/src/fast/README.md`.
///
/// ```
/// use pool_core::{Builder, Pool, PoolExt};
/// use std::time::Duration;
/// let pool = Builder::new().min(1).max(4).fast().unwrap(); // running
/// let h = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(h.join().unwrap(), 42);
/// let report = pool.stop(Duration::from_secs(5));
/// assert!(report.is_clean());
/// ```
pub struct FastPool {
    shared: Arc<Shared>,
    /// The cancel sink every job with a handle is tied to while queued.
    sink: DynArc<dyn CancelSink>,
    _clock: Subscription,
}

impl FastPool {
    /// The most live workers a fast pool runs (65,535: the idle count has 16 bits in the
    /// admission word). `min` and `max` above it are a [`ConfigError`] (from the builder and
    /// `resize`); an unbounded pool stops growing there, and `grow` never goes past it.
    pub const MAX_WORKERS: usize = MAX_WORKERS;

    /// The largest queue capacity a fast pool tracks (2^26 = 67,108,864 jobs: half the admission
    /// word's jobs field). A larger `capacity` is a [`ConfigError`]; an unbounded queue has no
    /// limit but memory.
    pub const MAX_CAPACITY: usize = MAX_TRACKED_CAPACITY;

    /// Checks `min`, `max` and the capacity against this backend's limits.
    pub(crate) fn check_limits(
        min: usize,
        max: Option<usize>,
        capacity: Option<usize>,
    ) -> Result<(), ConfigError> {
        validate_limits(
            "fast",
            (min, max, capacity),
            FastPool::MAX_WORKERS,
            FastPool::MAX_CAPACITY,
        )
    }

    /// A pool with this configuration: running, unless `cfg` says
    /// [`queue_before_start`](crate::Builder::queue_before_start) (then `Created`).
    pub fn new(cfg: Config) -> FastPool {
        let state = State {
            num_live: 0,
            num_threads: 0,
            stops: VecDeque::new(),
            put_waiters: 0,
            min: cfg.min,
            max: cfg.max,
            next_worker: 0,
            threads: Vec::new(),
            workers: Vec::new(),
            retired: Retired::default(),
            spawn_failures: 0,
            peak_workers: 0,
        };
        let clock = cfg.clock.clone();
        let capacity = cfg.capacity.filter(|&c| c <= MAX_TRACKED_CAPACITY);
        let min = cfg.min;
        let shared = Arc::new(Shared {
            cfg,
            capacity,
            word: CachePadded::new(AtomicU64::new(CREATED)),
            queue: JobQueue::new(),
            num_dead: AtomicU64::new(0),
            num_live: AtomicUsize::new(0),
            min: AtomicUsize::new(min),
            rejected: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            caller_runs: AtomicU64::new(0),
            claims_begun: AtomicU64::new(0),
            claims_done: AtomicU64::new(0),
            others: Tally::default(),
            state: Mutex::new(state),
            room: Condvar::new(),
            exited: Condvar::new(),
            sleep: Mutex::new(Sleep { parked: Vec::new() }),
        });
        let sub = clock.subscribe(DynArc::new(Waker(Arc::clone(&shared))));
        let pool = FastPool {
            sink: DynArc::new(Sink(Arc::clone(&shared))),
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
}

impl Pool for FastPool {
    fn backend(&self) -> &'static str {
        "fast"
    }

    fn start(&self) -> Result<usize, StartError> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        match sh.word().phase() {
            CREATED => {}
            RUNNING => return Err(StartError::AlreadyStarted),
            _ => return Err(StartError::ShutDown),
        }
        let queued = sh.stats(&st).queued;
        let n = policy::start_count(st.min, st.max, queued).min(MAX_WORKERS);
        let slots: Vec<_> = (0..n).map(|_| sh.reserve_worker(&mut st)).collect();
        // Every new worker holds a claim: it commits an entry (the classic pool's `num_spawning`).
        let at_max = st.at_max();
        let tracked = sh.capacity.is_some();
        sh.update_word(|w| {
            let w = w.with_phase(RUNNING).with_at_max(at_max);
            if tracked { w.claim(n) } else { w }
        });
        drop(st);
        Ok(Shared::spawn_workers(sh, slots))
    }

    fn put_with(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        // See `admit.rs`.
        self.put_hot(job, admission)
    }

    fn grow(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if sh.word().phase() != RUNNING {
            return 0;
        }
        let k = policy::grow_count(n, st.num_live, Some(st.cap()));
        let slots: Vec<_> = (0..k).map(|_| sh.reserve_worker(&mut st)).collect();
        sh.sync_at_max(&st);
        sh.settle_locked(&st, |w| w.claim(k));
        drop(st);
        Shared::spawn_workers(sh, slots)
    }

    fn shrink(&self, n: usize) -> usize {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if sh.word().phase() != RUNNING {
            return 0;
        }
        let k = policy::shrink_count(n, st.num_live, st.min, st.stops.len());
        sh.push_stops(&mut st, k);
        k
    }

    fn resize(&self, min: usize, max: Option<usize>) -> Result<(), ConfigError> {
        // Everything that can fail, before anything is recorded.
        validate_bounds(min, max)?;
        FastPool::check_limits(min, max, None)?;
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        st.min = min;
        st.max = max;
        sh.min.store(min, Ordering::Release);
        let mut slots = Vec::new();
        if sh.word().phase() == RUNNING {
            let k = policy::refill_count(min, st.num_live, st.stops.len())
                .min(MAX_WORKERS.saturating_sub(st.num_live));
            slots = (0..k).map(|_| sh.reserve_worker(&mut st)).collect();
            sh.settle_locked(&st, |w| w.claim(k));
            let over = max.map_or(0, |m| st.staying().saturating_sub(m));
            sh.push_stops(&mut st, over);
            sh.sync_at_max(&st);
            // Keep-alive eligibility and room may have changed.
            sh.room.notify_all();
        } else {
            sh.sync_at_max(&st);
        }
        drop(st);
        sh.nudge_parked();
        Shared::spawn_workers(sh, slots);
        Ok(())
    }

    fn stats(&self) -> Stats {
        let sh = &self.shared;
        sh.stats(&lock(&sh.state))
    }

    fn stop(&self, timeout: Duration) -> StopReport {
        stopping::stop_and_wait(&*self.shared, timeout)
    }

    fn stop_now(&self) -> StopReport {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let returned = if sh.word().phase() == CREATED {
            sh.begin_stop(&mut st)
        } else {
            sh.begin_stop(&mut st);
            sh.drain_jobs()
        };
        sh.report(&st, returned)
    }

    fn await_termination(&self, timeout: Duration) -> bool {
        stopping::await_termination(&*self.shared, timeout)
    }

    fn await_quiescence(&self, timeout: Duration) -> bool {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = sh.cfg.clock.deadline_after(timeout);
        let quiet = |st: &State| {
            let s = sh.stats(st);
            s.queued == 0 && s.idle == s.workers
        };
        while !quiet(&st) && sh.cfg.clock.now() < deadline {
            // Waits as a put waiting for room does: a worker registering as idle or exiting,
            // and a job leaving the queue, wake `room` while WAITERS is set.
            sh.word.fetch_or(WAITERS, Ordering::AcqRel);
            st.put_waiters += 1;
            st = sh.wait_until(&sh.room, st, Some(deadline));
            st.put_waiters -= 1;
            if st.put_waiters == 0 {
                sh.word.fetch_and(!WAITERS, Ordering::AcqRel);
            }
        }
        quiet(&st)
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

    fn terminated(&self, _: &State) -> bool {
        self.word().phase() == TERMINATED
    }

    fn report(&self, st: &State, returned: Vec<Job>) -> StopReport {
        Shared::report(self, st, returned)
    }

    fn drop_timeout(&self) -> Duration {
        self.cfg.drop_timeout
    }

    fn queued(&self, _: &State) -> usize {
        self.queued_now()
    }

    fn emit_locked(&self, _: &mut State, e: Event) {
        self.emit_other(e);
    }
}

impl Drop for FastPool {
    /// A non-blocking stop: no new work, queued jobs still run, workers exit after them.
    fn drop(&mut self) {
        stopping::stop_on_drop(&*self.shared);
    }
}

impl std::fmt::Debug for FastPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        stopping::fmt_pool(f, "FastPool", self.stats())
    }
}
