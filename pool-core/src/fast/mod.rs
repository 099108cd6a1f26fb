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

mod queue;
mod word;

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use self::queue::{JobQueue, Pop};
use self::word::{
    CREATED, IDLE_ONE, MAX_TRACKED_CAPACITY, MAX_WORKERS, RUNNING, STOPPING, TERMINATED, WAITERS,
    Word,
};
use crate::clock::{ClockListener, Subscription};
use crate::config::{Config, Policy};
use crate::error::{ConfigError, PutError, StartError, validate_bounds};
use crate::event::{Event, ExitReason, WorkerId};
use crate::job::{CancelSink, Job, JobId, catch};
use crate::policy::{self, Admit};
use crate::pool::{Admission, Pool};
use crate::stats::{Stats, StopReport};
use crate::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};
use crate::sync::park::{self, Parker, Unparker};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, DynArc, Mutex, MutexGuard, lock, poll_spaced, wait, wait_timeout};

/// How long a worker that found the queue empty keeps polling it before it parks. Long enough to
/// cover a submitter's turnaround (so submit-wait-submit never pays a wakeup), short enough that
/// an idle pool's CPU use is nil.
const WORKER_SPIN: Duration = Duration::from_micros(50);
/// The shortest and longest first gap of a worker's polling of an empty queue (see [`Poll`]).
const POLL_FIRST_GAP: (Duration, Duration) =
    (Duration::from_nanos(100), Duration::from_nanos(1_000));
/// The longest gap between two polls of an empty queue.
const POLL_MAX_GAP: Duration = Duration::from_nanos(2_000);
/// After polling an empty queue this long, a worker also yields the CPU between polls.
const POLL_YIELD_AFTER: Duration = Duration::from_micros(1);

/// A worker's own record: its id, its claim flag, and the counters only it writes.
struct WorkerSlot {
    id: WorkerId,
    /// Set (Release) to [`CLAIMED_FOR_JOB`] or [`CLAIMED_FOR_STOP`] by the claimer that popped
    /// this worker from the parked list, before it unparks it; reset to [`UNCLAIMED`] by the
    /// worker when it registers as parked. A wakeup without it is spurious, a clock advance, or
    /// a bounds change.
    claimed: AtomicU8,
    /// Counters written only by this worker (a load and a store, no read-modify-write), summed by
    /// `stats`.
    tally: CachePadded<Tally>,
}

/// `WorkerSlot::claimed`: not claimed.
const UNCLAIMED: u8 = 0;
/// `WorkerSlot::claimed`: claimed by a put for its job.
const CLAIMED_FOR_JOB: u8 = 1;
/// `WorkerSlot::claimed`: claimed by a stop sentinel being queued.
const CLAIMED_FOR_STOP: u8 = 2;

/// The claim a worker holds while it looks at the queue (see [`word`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    /// None: it finished a job, or found work itself.
    No,
    /// Made for a job: a put's claim, or a new worker's.
    ForJob,
    /// Made for a stop sentinel by the push that queued it.
    ForStop,
}

impl Held {
    fn any(self) -> bool {
        self != Held::No
    }
}

impl WorkerSlot {
    /// The claim a claimer set on this worker, if any.
    fn claim(&self) -> Option<Held> {
        match self.claimed.load(Ordering::Acquire) {
            CLAIMED_FOR_JOB => Some(Held::ForJob),
            CLAIMED_FOR_STOP => Some(Held::ForStop),
            _ => None,
        }
    }
}

/// Job outcomes and caught hook panics.
#[derive(Default)]
struct Tally {
    completed: AtomicU64,
    panicked: AtomicU64,
    hook_panics: AtomicU64,
}

impl Tally {
    /// Adds `n` to a counter that only the calling thread writes.
    fn bump(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Release);
    }

    /// Adds one to a counter that several threads write.
    fn bump_shared(c: &AtomicU64) {
        c.fetch_add(1, Ordering::AcqRel);
    }
}

/// A parked worker: its record and the half of its park token that wakes it.
struct Parked {
    slot: Arc<WorkerSlot>,
    unparker: Unparker,
}

/// What the `sleep` lock guards.
struct Sleep {
    /// Workers that registered as idle and have not been popped by a claimer (nor left on their
    /// own). Invariant: `parked.len() == idle (in the word) + claims not yet popped`, so a
    /// claimer that decremented `idle` always finds a worker here.
    parked: Vec<Parked>,
}

/// Counters folded in from workers that exited.
#[derive(Default)]
struct Retired {
    completed: u64,
    panicked: u64,
    hook_panics: u64,
}

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
    /// Puts waiting for room; `WAITERS` is set in the word while it is not 0.
    put_waiters: usize,
    min: usize,
    max: Option<usize>,
    next_worker: u64,
    /// Threads of live workers, so `stop` can tell it is called from inside a job.
    threads: Vec<ThreadId>,
    /// Records of the live workers (for their counters).
    workers: Vec<Arc<WorkerSlot>>,
    retired: Retired,
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

/// What a worker got.
enum Take {
    Job(JobId, Job),
    /// A stop sentinel; the worker exits, after starting the replacement, if any.
    Stop(Replacement),
    Empty,
}

/// A worker reserved to replace one that took a stop with work still queued behind it.
struct Replacement(Option<Arc<WorkerSlot>>);

/// How soon a worker that found the queue empty looks again: its first gap adapts to what it
/// found the last times.
///
/// Polling reads the queue's tail, which the submitter writes on every put. A worker that looks
/// again within nanoseconds finds one or two new jobs, takes them, finds the queue empty again,
/// and repeats: it keeps taking each job while the submitter is still writing it, and every put
/// pays cache misses on the tail and the slot (measured: the submitter's put goes from ~40 ns to
/// ~80 ns, and a one-submitter pool halves its throughput). So when a poll found more than one
/// job waiting (a stream of puts is coming), the next first gap doubles, up to a microsecond,
/// and the queue fills with a few dozen jobs between looks; when it found a lone job (a caller
/// that submits and waits), the gap halves back toward 100 ns, for the round trip's latency.
#[derive(Debug)]
struct Poll {
    first_gap: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            first_gap: POLL_FIRST_GAP.0,
        }
    }
}

impl Poll {
    /// A poll found `waiting` items (see [`JobQueue::work_waiting`]).
    fn found(&mut self, waiting: u64) {
        let (shortest, longest) = POLL_FIRST_GAP;
        self.first_gap = if waiting > 1 {
            (self.first_gap * 2).min(longest)
        } else {
            (self.first_gap / 2).max(shortest)
        };
    }
}

/// How a worker's idle spell ended.
enum Idle {
    /// It found work itself while spinning; it still holds the claim it had, if any.
    Spun,
    /// It found work after registering as idle, and left idle (it holds no claim).
    Work,
    /// A put or a stop claimed it.
    Claimed(Held),
    /// Its keep-alive ran out above `min`; it has left the live count.
    TimedOut,
}

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

    /// Claims an idle worker if there is one: `idle -= 1`, and one more claim in the backlog
    /// ([`Word::claim`], when tracked); true if it did. Always a
    /// read-modify-write of the word, so a worker registering as idle at the same time either is
    /// claimed here or sees what the caller published before (README: "no lost wakeup").
    fn claim_idle(&self) -> bool {
        let tracked = self.capacity.is_some();
        let old = self.update_word(|w| {
            if w.idle() == 0 {
                w
            } else if tracked {
                Word(w.0 - IDLE_ONE).claim(1)
            } else {
                Word(w.0 - IDLE_ONE)
            }
        });
        old.idle() > 0
    }

    /// What `read` reads (the word, and for `stats` the queue), as of a moment when no lock-free
    /// put was between claiming an idle worker and queueing its job (`claims_done` read before
    /// equal to `claims_begun` read after; yielding between tries, a bounded number of them), so
    /// a decision or a snapshot made on it sees both steps or neither. Such a put has taken the
    /// worker but has neither a job in the queue nor an id: a snapshot showing the worker
    /// claimed and the job missing, a spawn decided on "no idle worker" then, or a stop that
    /// found none to claim, is a state no sequential order shows (the last two found by the
    /// kit's histories). Those puts do not need the state lock to finish (a compare-exchange
    /// and a push onto a tail that no registration holds while the caller holds the lock).
    fn settled<T>(&self, mut read: impl FnMut() -> T) -> T {
        let mut tries = 0;
        loop {
            let done = self.claims_done.load(Ordering::SeqCst);
            let v = read();
            let begun = self.claims_begun.load(Ordering::SeqCst);
            tries += 1;
            if done == begun || tries == 10_000 {
                return v;
            }
            thread::yield_now();
        }
    }

    /// The word after a put's admission that claims an idle worker for its job: `idle -= 1`,
    /// and, when tracked, the job is queued and the claim counted.
    fn claimed_for_a_job(&self, w: Word) -> Word {
        let w = Word(w.0 - IDLE_ONE);
        if self.capacity.is_some() {
            w.job_queued().claim(1)
        } else {
            w
        }
    }

    /// Pops a parked worker for a claim just made in the word (for a job, or with
    /// [`Shared::wake_one_for`] for a stop) and unparks it.
    fn wake_one(&self) {
        self.wake_one_for(CLAIMED_FOR_JOB);
    }

    /// [`Shared::wake_one`], telling the worker what its claim was made for.
    fn wake_one_for(&self, kind: u8) {
        let parked = {
            let mut sl = lock(&self.sleep);
            let p = sl.parked.pop();
            // Under the lock, so "in `parked`" and "not `claimed`" change together.
            if let Some(p) = &p {
                p.slot.claimed.store(kind, Ordering::Release);
            }
            p
        };
        debug_assert!(parked.is_some(), "a claim always finds a parked worker");
        if let Some(p) = parked {
            p.unparker.unpark();
        }
    }

    /// Unparks every parked worker without claiming it, so each re-checks its keep-alive.
    fn nudge_parked(&self) {
        for p in &lock(&self.sleep).parked {
            p.unparker.unpark();
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

    /// Counts a new worker; the caller spawns its thread after unlocking, then `sync_at_max`.
    fn reserve_worker(&self, st: &mut State) -> Arc<WorkerSlot> {
        st.num_live += 1;
        st.num_threads += 1;
        st.peak_workers = st.peak_workers.max(st.num_live);
        let id = WorkerId(st.next_worker);
        st.next_worker += 1;
        let slot = Arc::new(WorkerSlot {
            id,
            claimed: AtomicU8::new(UNCLAIMED),
            tally: CachePadded::new(Tally::default()),
        });
        st.workers.push(Arc::clone(&slot));
        self.num_live.store(st.num_live, Ordering::Release);
        slot
    }

    /// Starts the threads of reserved workers; each takes the queue head first, as a claimed
    /// worker (the classic pool's `num_spawning`).
    fn spawn_workers(sh: &Arc<Shared>, slots: Vec<Arc<WorkerSlot>>) {
        for slot in slots {
            let id = slot.id;
            let mut b = thread::Builder::new().name(format!("{}-{}", sh.cfg.thread_name, id.0));
            if let Some(size) = sh.cfg.stack_size {
                b = b.stack_size(size);
            }
            let shared = Arc::clone(sh);
            let mine = Arc::clone(&slot);
            if let Err(e) = b.spawn(move || Shared::worker_main(&shared, &mine)) {
                tracing::error!(target: "pool", worker = id.0, error = %e, "could not spawn a worker");
                let mut st = lock(&sh.state);
                st.num_live -= 1;
                st.num_threads -= 1;
                st.workers.retain(|w| !Arc::ptr_eq(w, &slot));
                sh.sync_at_max(&st);
                sh.after_thread_exit(&mut st);
            }
        }
    }

    fn after_thread_exit(&self, st: &mut State) {
        if st.num_threads == 0 && self.word().phase() == STOPPING {
            self.update_word(|w| w.with_phase(TERMINATED));
        }
        self.exited.notify_all();
        self.room_changed_locked(st);
    }

    /// Puts `job` in the queue: gives it its id (its position), ties it to `sink` when it has a
    /// handle, and after it is visible wakes a worker. `claimed`: the caller claimed an idle
    /// worker (or reserved a starting one) for it; else the caller added a unit of balance (when
    /// tracked) and, should a worker have gone idle meanwhile, claims one now.
    fn enqueue(
        sh: &Arc<Shared>,
        job: Job,
        sink: &DynArc<dyn CancelSink>,
        claimed: Claimed,
        holds: u64,
        locked: Option<&State>,
    ) -> Result<JobId, PutError<Job>> {
        match Shared::enqueue_unless_held(sh, job, sink, claimed, holds, None, locked) {
            Ok(r) => r,
            Err(_) => unreachable!("a push with no generation to keep always reserves"),
        }
    }

    /// [`Shared::enqueue`]; with `Some(generation)` (the queue's [`JobQueue::tail_gen`] read
    /// before the admission), only if the tail was not held since: else `Err(job)`, nothing
    /// queued, for the caller to decide again.
    fn enqueue_unless_held(
        sh: &Arc<Shared>,
        job: Job,
        sink: &DynArc<dyn CancelSink>,
        claimed: Claimed,
        holds: u64,
        held_since: Option<u64>,
        locked: Option<&State>,
    ) -> Result<Result<JobId, PutError<Job>>, Job> {
        let mut job = Some(job);
        let mut refused = None;
        let mut dead = false;
        let mut behind_a_new_stop = false;
        // The word as read after our reservation, when our job is live and we hold no claim.
        let mut late = None;
        let reserved = sh.queue.try_push_with(held_since, |pos| {
            let job = job.take().expect("the item is asked for once");
            // A stop registered between our admission (which read `holds`) and our reservation,
            // with our position behind it: the worker our admission counted on may take that
            // stop instead (checked again below, once the job is visible). With a generation
            // to keep, only after 128 holds in between.
            behind_a_new_stop = sh.queue.holds() != holds && sh.queue.stop_at() <= pos;
            if pos >= sh.queue.closed_at() {
                // The pool stopped between our admission and our reservation: refuse.
                refused = Some(job);
            } else if job.has_control() && !job.enqueue(JobId(pos), sink) {
                // Cancelled before it was queued: it gets its id and counts as cancelled.
                dead = true;
            } else {
                if claimed == Claimed::No {
                    // Pairs with the idle registration of a worker (README, "no lost wakeup"):
                    // each side publishes (our reservation of the tail, just made; its
                    // `idle += 1`), then a SeqCst fence, then reads the other's location. The
                    // fences are totally ordered: the side whose fence comes second sees the
                    // other's publication (a worker that sees our reservation waits for our
                    // write). A fence, not a read-modify-write of the word, so concurrent
                    // submitters do not pass the word's cache line around; and before the
                    // slot's write, so it does not wait for the slot's cache line (measured:
                    // 1-2 ns of a contended put's ~30).
                    fence(Ordering::SeqCst);
                    late = Some(Word(sh.word.load(Ordering::Relaxed)));
                }
                return Some(job);
            }
            sh.num_dead.fetch_add(1, Ordering::AcqRel);
            None
        });
        let Some(pos) = reserved else {
            // Held since our admission: nothing reserved, and the job was not asked for.
            return Err(job.expect("the item was not asked for"));
        };
        let id = JobId(pos);
        if claimed == Claimed::Idle {
            // The claim's job is in the queue (or its position dead): see `Shared::stats`.
            sh.claims_done.fetch_add(1, Ordering::SeqCst);
            // Whatever we wrote, the claimed worker is owed its wakeup (the classic pool claims
            // even for a job already cancelled).
            sh.wake_one();
        }
        if refused.is_some() || dead {
            // No job queued after all: the admission counted one (a claim it made ends when
            // the claimed worker finds nothing and parks).
            match locked {
                Some(st) => sh.settle_locked(st, Word::job_removed),
                None => sh.settle(Word::job_removed),
            }
        }
        if let Some(job) = refused {
            sh.rejected.fetch_add(1, Ordering::AcqRel);
            return Ok(Err(PutError::ShutDown(job)));
        }
        if dead {
            sh.cancelled.fetch_add(1, Ordering::AcqRel);
            return Ok(Ok(id));
        }
        if locked.is_some() {
            // Admission and reservation under the state lock: no stop, bound or worker count
            // changed in between, and no worker can have gone idle unseen (the late claim
            // below still applies, for a worker registering without the lock).
        } else if behind_a_new_stop {
            // Admission, taken again now (after the stop), may say spawn.
            Shared::respawn_cold(sh, pos);
            return Ok(Ok(id));
        }
        if let Some(mut w) = late {
            // See the fence above (taken only for a live job without a claim).
            if w.idle() > 0 && !w.stopped() {
                // A worker went idle after our admission: claim it for our job (a new claim).
                if sh.claim_idle() {
                    sh.wake_one();
                    return Ok(Ok(id));
                }
                // It left idle first: claimed by another put or a stop, or timed out. The
                // failed claim was a read-modify-write of the word, so this load sees what
                // that worker's leaving wrote (a time-out clears AT_MAX).
                w = sh.word();
            }
            if w.idle() == 0 && locked.is_none() && w.phase() == RUNNING && !w.at_max() {
                // We queued as if at max, but the staying workers dropped below max meanwhile
                // (a shrink, an idle timeout): the job may have nobody to take it. Admission
                // now says spawn. (A put before `start` queues under the state lock, so `start`
                // counts it.)
                Shared::respawn_cold(sh, pos);
            }
        }
        Ok(Ok(id))
    }

    /// A put's job is queued at `pos` but the decision its admission made may be stale (see the
    /// callers): admission taken again now, under the state lock, claims an idle worker for it
    /// or spawns one if it says so, and else leaves the job to the busy workers. Only the
    /// workers that leave at a stop *ahead* of the job (boundary `<= pos`) are lost to it: a
    /// shrink whose stop is behind the job leaves its workers to take it first, as the classic
    /// pool would, had the put come before the shrink.
    #[cold]
    fn respawn_cold(sh: &Arc<Shared>, pos: u64) {
        let mut st = lock(&sh.state);
        let w = sh.word();
        if w.phase() != RUNNING {
            return;
        }
        if w.idle() > 0 {
            drop(st);
            if sh.claim_idle() {
                sh.wake_one();
            }
            return;
        }
        let ahead = st.stops.iter().filter(|&&at| at <= pos).count();
        let for_us = st.num_live - ahead;
        if st.num_live >= MAX_WORKERS || st.max.is_some_and(|m| for_us >= m) {
            return;
        }
        let slot = sh.reserve_worker(&mut st);
        sh.sync_at_max(&st);
        // A new worker on its way: a claim.
        sh.settle_locked(&st, |w| w.claim(1));
        drop(st);
        Shared::spawn_workers(sh, vec![slot]);
    }

    fn worker_main(sh: &Arc<Shared>, me: &Arc<WorkerSlot>) {
        let start_panicked = Config::run_hook(&sh.cfg.on_worker_start);
        {
            let mut st = lock(&sh.state);
            Tally::bump(&me.tally.hook_panics, u64::from(start_panicked));
            st.threads.push(thread::current().id());
            sh.emit_by(me, Event::WorkerStarted { worker: me.id });
        }
        let token = park::pair();
        // A new worker is committed to the head, like one a claim woke.
        let mut held = Held::ForJob;
        // The queue's tail as this worker last saw it (see `JobQueue::pop_seen`).
        let mut seen_tail = 0;
        let mut poll = Poll::default();
        let reason = loop {
            match sh.take(me, held, &mut seen_tail) {
                Take::Job(id, job) => {
                    held = Held::No;
                    sh.run_one(me, id, job);
                }
                Take::Stop(Replacement(replacement)) => {
                    Shared::spawn_workers(sh, replacement.into_iter().collect());
                    break ExitReason::Sentinel;
                }
                Take::Empty => match sh.idle(me, &token, held, &mut poll) {
                    Idle::Spun => {}
                    Idle::Work => held = Held::No,
                    Idle::Claimed(kind) => held = kind,
                    Idle::TimedOut => break ExitReason::IdleTimeout,
                },
            }
        };
        // `num_live` already excludes this worker; its thread still counts until the hook ran.
        {
            let mut st = lock(&sh.state);
            let tid = thread::current().id();
            st.threads.retain(|t| *t != tid);
            st.workers.retain(|w| !Arc::ptr_eq(w, me));
            let t = &me.tally;
            st.retired.completed += t.completed.load(Ordering::Acquire);
            st.retired.panicked += t.panicked.load(Ordering::Acquire);
            st.retired.hook_panics += t.hook_panics.load(Ordering::Acquire);
            sh.room_changed_locked(&st);
        }
        let exit_panicked = Config::run_hook(&sh.cfg.on_worker_exit);
        let mut st = lock(&sh.state);
        st.retired.hook_panics += u64::from(exit_panicked);
        st.num_threads -= 1;
        // The state change first (a listener that sees the last exit sees `Terminated`).
        sh.after_thread_exit(&mut st);
        if sh.cfg.emit(&Event::WorkerExited {
            worker: me.id,
            reason,
        }) {
            st.retired.hook_panics += 1;
        }
    }

    /// Whether events must come out in the order of the changes they report: when someone
    /// listens (an event listener, or a `tracing` subscriber for target `pool`). Then a worker's
    /// take and its event, and its registration as idle and `WorkerParked`, happen under the
    /// state lock, as in the classic pool; without a listener nothing is ordered or locked.
    fn ordered(&self) -> bool {
        self.cfg.has_listener()
    }

    /// Takes the next item and emits its event (`JobStarted`, or `SentinelTaken` for a stop).
    /// `claimed`: this worker holds a claim (it was woken for an item, or just started), which
    /// its first item settles (see [`word`]).
    fn take(&self, me: &WorkerSlot, held: Held, seen_tail: &mut u64) -> Take {
        let mut guard = self.ordered().then(|| lock(&self.state));
        let mut skipped = Vec::new();
        let taken = loop {
            match self.queue.pop_seen(true, seen_tail) {
                Pop::Item(_, None) => {
                    self.num_dead.fetch_sub(1, Ordering::AcqRel);
                }
                Pop::Item(pos, Some(job)) => {
                    if !job.claim() {
                        // Cancelled while queued: its handle's sink counted it. Skip it.
                        self.num_dead.fetch_sub(1, Ordering::AcqRel);
                        skipped.push(job);
                        continue;
                    }
                    // One job fewer; the claim we held, if any, ends with it.
                    let took = |w: Word| w.job_taken(held.any());
                    match &guard {
                        Some(st) => self.settle_locked(st, took),
                        None => self.settle(took),
                    }
                    let id = JobId(pos);
                    self.emit_by(
                        me,
                        Event::JobStarted {
                            job: id,
                            worker: me.id,
                        },
                    );
                    break Take::Job(id, job);
                }
                // A claim we hold is kept while we spin: we are still looking at the queue, like
                // a starting or woken worker in the classic pool. It is given up when we park.
                Pop::Empty => break Take::Empty,
                Pop::StopDue => {
                    let st = guard.get_or_insert_with(|| lock(&self.state));
                    if let Some(replacement) = self.take_stop(st, me, held) {
                        break Take::Stop(replacement);
                    }
                }
            }
        };
        drop(guard);
        // Dropped unlocked; a panicking drop of a closure is caught, like any user code.
        for job in skipped {
            if catch(move || drop(job)).is_err() {
                Tally::bump(&me.tally.hook_panics, 1);
            }
        }
        taken
    }

    /// Takes the due stop, if another worker has not taken it first (under the state lock,
    /// which `st` holds).
    fn take_stop(&self, st: &mut State, me: &WorkerSlot, held: Held) -> Option<Replacement> {
        let head = self.queue.span().0;
        if st.stops.front().is_none_or(|&at| at > head) {
            return None;
        }
        st.stops.pop_front();
        self.settle_locked(st, |w| w.stop_taken(held.any()));
        self.queue
            .set_stop_at(st.stops.front().copied().unwrap_or(u64::MAX));
        st.num_live -= 1;
        self.sync_at_max(st);
        self.emit_by(me, Event::SentinelTaken { worker: me.id });
        // We leave; what is queued behind the stop must still have a worker coming. The classic
        // pool gets this for free (a worker never looks idle while an item is queued); here a
        // worker can be claimed in the instant between registering as idle and seeing a stop,
        // and then the claim it carried must not leave with it.
        let mut replacement = None;
        let (head, tail) = self.queue.span();
        // Positions at or past `closed_at` are refused puts' dead slots: no work.
        let end = tail.min(self.queue.closed_at());
        if head < end {
            // Workers that will still be there for the last queued position: the live ones
            // minus those a stop ahead of it is waiting for.
            let leaving = st.stops.iter().filter(|&&at| at < end).count();
            if self.claim_idle() {
                self.wake_one();
            } else if st.num_live <= leaving && !st.at_max() {
                let slot = self.reserve_worker(st);
                self.settle_locked(st, |w| w.claim(1));
                if self.word().phase() == STOPPING {
                    // It must leave too, after the queued work.
                    self.push_stops(st, 1);
                }
                self.sync_at_max(st);
                replacement = Some(slot);
            }
        }
        Some(Replacement(replacement))
    }

    /// Runs a job `take` gave us (its `JobStarted` is out) and reports how it ended.
    fn run_one(&self, me: &WorkerSlot, id: JobId, job: Job) {
        let (panicked, hook_panics) = self.cfg.run_job(id, job);
        // With a listener, the count and its event are one step under the state lock, which
        // `stats` holds: a snapshot never counts an outcome whose event is still to come (the
        // kit's histories saw `completed` ahead of `JobFinished`).
        let _ordered = self.ordered().then(|| lock(&self.state));
        let t = &me.tally;
        if hook_panics > 0 {
            Tally::bump(&t.hook_panics, hook_panics);
        }
        if panicked {
            Tally::bump(&t.panicked, 1);
            self.emit_by(
                me,
                Event::JobPanicked {
                    job: id,
                    worker: me.id,
                },
            );
        } else {
            Tally::bump(&t.completed, 1);
            self.emit_by(
                me,
                Event::JobFinished {
                    job: id,
                    worker: me.id,
                },
            );
        }
    }

    /// The queue looked empty: spin a little, then park until claimed (or the keep-alive runs
    /// out above `min`).
    fn idle(
        &self,
        me: &Arc<WorkerSlot>,
        (parker, unparker): &(Parker, Unparker),
        held: Held,
        poll: &mut Poll,
    ) -> Idle {
        // Work that came while we took the empty queue's news is no sign of a stream.
        if self.queue.has_work() {
            return Idle::Spun;
        }
        let mut found = 0;
        if poll_spaced(
            WORKER_SPIN,
            poll.first_gap,
            POLL_MAX_GAP,
            POLL_YIELD_AFTER,
            || {
                found = self.queue.work_waiting();
                found > 0
            },
        ) {
            poll.found(found);
            return Idle::Spun;
        }
        // Parking gives up the claim we held (it found the queue empty).
        let give_up = if held.any() && self.capacity.is_some() {
            Word(0).claim_ended().0
        } else {
            0
        };
        // With a listener, registering, re-checking and the event happen under the state lock,
        // so `WorkerParked` is ordered with the other workers' takes (see `Shared::ordered`).
        let ordered = self.ordered().then(|| lock(&self.state));
        // Register as idle: in the parked list first, then in the word (see `Sleep::parked`).
        let before = {
            let mut sl = lock(&self.sleep);
            me.claimed.store(UNCLAIMED, Ordering::Relaxed);
            sl.parked.push(Parked {
                slot: Arc::clone(me),
                unparker: unparker.clone(),
            });
            // Pairs with a put's fence after its push: see `enqueue`. A stop's registration
            // pairs with it as a read-modify-write (see `push_stops`).
            Word(
                self.word
                    .fetch_add(IDLE_ONE.wrapping_add(give_up), Ordering::AcqRel),
            )
        };
        debug_assert!(before.idle() < MAX_WORKERS, "idle fits its bits");
        // See `enqueue`: our publication (`idle += 1`), a SeqCst fence, then the re-check below.
        fence(Ordering::SeqCst);
        // A put waiting for room may now claim us.
        match &ordered {
            Some(st) => self.room_changed_locked(st),
            None => self.room_changed(before),
        }
        // Re-check after registering (README, "no lost wakeup"): a put that queued before our
        // registration, and saw no idle worker, is visible now. Leaving idle here takes back the
        // claim we gave up: we never parked (no `WorkerParked`), so to the semantics we were
        // looking at the queue all along, committed to it as before (a put admitted meanwhile
        // was told the backlog without us, and no sequential order explains that).
        let take_back = |w: Word| Word(w.0.wrapping_sub(give_up));
        if self.queue.has_work() && self.leave_idle_with(me, take_back) {
            return if held.any() {
                Idle::Claimed(held)
            } else {
                Idle::Work
            };
        }
        // The idle time counts from before the event, so a clock step made by whoever saw the
        // event counts toward it.
        let since = self.cfg.clock.now();
        self.emit_by(me, Event::WorkerParked { worker: me.id });
        drop(ordered);
        // The keep-alive ran out but leaving was refused (at `min`, or a claim is owed to us):
        // wait for a wakeup (a claim, a clock step, a resize) instead of spinning on the deadline.
        let mut refused = false;
        loop {
            if let Some(kind) = me.claim() {
                return Idle::Claimed(kind);
            }
            let above_min =
                self.num_live.load(Ordering::Acquire) > self.min.load(Ordering::Acquire);
            let deadline = above_min.then(|| since.saturating_add(self.cfg.keep_alive));
            let wait = match self.cfg.clock.wait_for(deadline) {
                // A manual clock wakes us when it moves; real time is checked again later.
                Some(left) if left.is_zero() && refused => {
                    (!self.cfg.clock.is_manual()).then_some(self.cfg.keep_alive)
                }
                wait => wait,
            };
            match wait {
                None => parker.park(),
                Some(left) if left.is_zero() => {}
                Some(left) => parker.park_timeout(left),
            }
            if let Some(kind) = me.claim() {
                return Idle::Claimed(kind);
            }
            let expired = deadline.is_some_and(|d| self.cfg.clock.now() >= d);
            if expired && self.time_out(me) {
                return Idle::TimedOut;
            }
            refused = expired;
        }
    }

    /// Leaves the parked list unclaimed, if no claim is owed to the parked workers (then
    /// `idle > 0`), applying `also` to the word in the same compare-exchange. False when a
    /// claimer has already popped us or will pop someone (us included, eventually): then we wait
    /// for our claim.
    fn leave_idle_with(&self, me: &Arc<WorkerSlot>, also: impl Fn(Word) -> Word) -> bool {
        let mut sl = lock(&self.sleep);
        // Not claimed (read under the lock) means still in `parked`.
        if me.claimed.load(Ordering::Acquire) != UNCLAIMED {
            return false;
        }
        let old = self.update_word(|w| {
            if w.idle() > 0 {
                also(Word(w.0 - IDLE_ONE))
            } else {
                w
            }
        });
        if old.idle() == 0 {
            return false;
        }
        sl.parked.retain(|p| !Arc::ptr_eq(&p.slot, me));
        true
    }

    /// The keep-alive ran out: leave the pool if it stays at or above `min` and no claim is owed
    /// to us. True if we left (`num_live` is decremented).
    fn time_out(&self, me: &Arc<WorkerSlot>) -> bool {
        let mut st = lock(&self.state);
        if !policy::may_retire(st.num_live, st.stops.len(), st.min) {
            return false;
        }
        st.num_live -= 1;
        // Leaving idle and clearing AT_MAX are one step: a put that saw this worker idle either
        // claims it first or sees that it may spawn; none sees "no idle worker, at max" and
        // queues a job nobody will take.
        let at_max = st.at_max();
        if !self.leave_idle_with(me, |w| w.with_at_max(at_max)) {
            st.num_live += 1;
            return false;
        }
        self.num_live.store(st.num_live, Ordering::Release);
        true
    }

    /// Queues `k` stop sentinels behind everything queued so far, each claiming an idle worker
    /// if there is one.
    fn push_stops(&self, st: &mut State, k: usize) {
        if k == 0 {
            return;
        }
        // With the tail held (no put reserves a position meanwhile), in one step on the word:
        // the workers these stops wait for no longer count toward `max`, and the stops claim
        // idle workers; then the stops get their boundary. A lock-free put that read the word
        // before this step finds the tail's generation moved when the hold is released, and
        // decides again under the state lock (after a multiple of 128 holds it reserves behind
        // the stops, sees `holds` moved, and takes admission again: `Shared::respawn_cold`);
        // one that read the word after it reserves after the hold too. Either way its decision
        // and its position agree on whether the stops came first.
        // Puts between claiming an idle worker and queueing their job finish first.
        self.settled(|| ());
        let staying = st.num_live.saturating_sub(st.stops.len() + k);
        let at_max = st.num_live >= MAX_WORKERS || st.max.is_some_and(|m| staying >= m);
        let claims = |w: Word| k.min(w.idle());
        let tracked = self.capacity.is_some();
        let old = self.queue.hold_tail(|at| {
            let old = self.update_word(|w| {
                let c = claims(w);
                let mut new = Word(w.0 - c as u64 * IDLE_ONE).with_at_max(at_max);
                if tracked {
                    new = new.stops_queued(k).claim(c);
                }
                new
            });
            st.stops.extend(std::iter::repeat_n(at, k));
            self.queue
                .set_stop_at(*st.stops.front().expect("just pushed"));
            old
        });
        debug_assert_eq!(st.at_max(), at_max);
        // Then, as a put does after its push: a worker that registered as idle before this
        // read-modify-write is claimed here, one that registers after it sees the stops (README,
        // "no lost wakeup").
        let mut woken = claims(old);
        let mut w = Word(self.word.fetch_add(0, Ordering::AcqRel));
        while woken < k && w.idle() > 0 {
            if self.claim_idle() {
                woken += 1;
            }
            w = self.word();
        }
        // Wake the claimed workers only now that their stops are there.
        for _ in 0..woken {
            self.wake_one_for(CLAIMED_FOR_STOP);
        }
    }

    /// Refuses new work (puts already past admission that reserve a position later are refused
    /// by `enqueue`) and queues the sentinels. Returns the jobs handed back (only a pool that
    /// never started has any).
    fn begin_stop(&self, st: &mut State) -> Vec<Job> {
        let mut returned = Vec::new();
        match self.word().phase() {
            CREATED => {
                self.update_word(|w| w.with_phase(TERMINATED));
                self.emit_other(Event::StopRequested);
                self.queue.hold_tail(|at| self.queue.set_closed_at(at));
                returned = self.drain_jobs();
            }
            RUNNING => {
                self.update_word(|w| w.with_phase(STOPPING));
                self.emit_other(Event::StopRequested);
                // Close the queue (puts that reserve a position from now on are refused), then
                // one stop per live worker not already covered, behind every queued job.
                self.queue.hold_tail(|at| self.queue.set_closed_at(at));
                let k = st.num_live.saturating_sub(st.stops.len());
                self.push_stops(st, k);
                if st.num_threads == 0 {
                    self.update_word(|w| w.with_phase(TERMINATED));
                }
            }
            _ => {}
        }
        self.room.notify_all();
        self.exited.notify_all();
        returned
    }

    /// Takes every job out of the queue, in order, handing back those not cancelled.
    fn drain_jobs(&self) -> Vec<Job> {
        let mut returned = Vec::new();
        let mut skipped = Vec::new();
        loop {
            match self.queue.pop(false) {
                Pop::Item(_, Some(job)) if job.release() => returned.push(job),
                Pop::Item(_, item) => {
                    self.num_dead.fetch_sub(1, Ordering::AcqRel);
                    skipped.extend(item);
                }
                Pop::Empty | Pop::StopDue => break,
            }
        }
        self.drop_skipped(skipped);
        returned
    }

    /// Drops cancelled jobs taken out of the queue, catching a panicking drop of their closures.
    fn drop_skipped(&self, jobs: impl IntoIterator<Item = Job>) {
        for job in jobs {
            if catch(move || drop(job)).is_err() {
                Tally::bump_shared(&self.others.hook_panics);
            }
        }
    }

    /// `DiscardOldest`: takes the oldest live job out of the queue (the caller settles the
    /// balance).
    fn evict_oldest(&self) -> Option<Job> {
        loop {
            match self.queue.pop(false) {
                Pop::Item(_, Some(job)) if job.release() => return Some(job),
                Pop::Item(_, item) => {
                    self.num_dead.fetch_sub(1, Ordering::AcqRel);
                    self.drop_skipped(item);
                }
                Pop::Empty | Pop::StopDue => return None,
            }
        }
    }

    fn stats(&self, st: &State) -> Stats {
        // See `settled`: a snapshot never shows a worker claimed and its job missing.
        let (w, queued) = self.settled(|| (self.word(), self.queued_now()));
        let (completed, panicked, hook_panics) = self.totals(st);
        let idle = w.idle().min(st.num_live);
        Stats {
            workers: st.num_live,
            idle,
            busy: st.num_live - idle,
            queued,
            pending_stops: st.stops.len(),
            completed,
            panicked,
            cancelled: self.cancelled.load(Ordering::Acquire),
            rejected: self.rejected.load(Ordering::Acquire),
            caller_runs: self.caller_runs.load(Ordering::Acquire),
            hook_panics,
            peak_workers: st.peak_workers,
            min: st.min,
            max: st.max,
            state: w.state(),
        }
    }

    /// Jobs in the queue now (`Stats::queued`).
    fn queued_now(&self) -> usize {
        {
            // Two reads that agree, so a position popped between the span and the dead count
            // does not show as a transient miscount.
            let read = || (self.queue.span(), self.num_dead.load(Ordering::Acquire));
            let mut a = read();
            for _ in 0..8 {
                let b = read();
                if a == b {
                    break;
                }
                a = b;
            }
            let ((head, tail), dead) = a;
            ((tail - head) as i64 - dead as i64).max(0) as usize
        }
    }

    /// (completed, panicked, hook panics) over the pool's life.
    fn totals(&self, st: &State) -> (u64, u64, u64) {
        let o = &self.others;
        let mut c = st.retired.completed + o.completed.load(Ordering::Acquire);
        let mut p = st.retired.panicked + o.panicked.load(Ordering::Acquire);
        let mut h = st.retired.hook_panics + o.hook_panics.load(Ordering::Acquire);
        for w in &st.workers {
            c += w.tally.completed.load(Ordering::Acquire);
            p += w.tally.panicked.load(Ordering::Acquire);
            h += w.tally.hook_panics.load(Ordering::Acquire);
        }
        (c, p, h)
    }

    fn report(&self, st: &State, returned: Vec<Job>) -> StopReport {
        let (completed, panicked, _) = self.totals(st);
        StopReport {
            completed,
            panicked,
            cancelled: self.cancelled.load(Ordering::Acquire),
            still_running: st.num_threads,
            returned,
        }
    }

    /// Waits on `cv` until notified or until `deadline` on the pool clock.
    fn wait_until<'a>(&self, cv: &Condvar, g: Guard<'a>, deadline: Option<Duration>) -> Guard<'a> {
        match self.cfg.clock.wait_for(deadline) {
            None => wait(cv, g),
            Some(left) if left.is_zero() => g,
            Some(left) => wait_timeout(cv, g, left),
        }
    }
}

/// Whether a put has a worker committed to its job.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claimed {
    /// It claimed an idle worker, which must be woken after the push.
    Idle,
    /// It reserved a new worker, which takes the head when it starts.
    Spawned,
    /// No one: it added a unit of balance (when tracked).
    No,
}

/// Tells the pool a queued job was cancelled.
struct Sink(Arc<Shared>);

impl CancelSink for Sink {
    fn cancel_queued(&self, id: JobId, finish: &mut dyn FnMut() -> bool) -> bool {
        let sh = &self.0;
        {
            // Under the state lock, which `stop_now` and evictions hold while they hand jobs
            // back, and `stats` while it reads the counts: a snapshot sees the job either queued
            // or cancelled. Cancels are rare; puts and takes never wait for this lock.
            let st = lock(&sh.state);
            if !finish() {
                return false;
            }
            // The job stays in the queue as a dead position until a worker (or a drain) skips
            // it: none has yet, since one that reached it before this `finish` took it (and
            // `finish` failed) and a drain under the state lock handed it back.
            sh.num_dead.fetch_add(1, Ordering::AcqRel);
            sh.cancelled.fetch_add(1, Ordering::AcqRel);
            sh.settle_locked(&st, Word::job_removed);
        }
        sh.emit_other(Event::JobCancelled { job: id });
        true
    }

    fn cancelled_drop_panicked(&self) {
        Tally::bump_shared(&self.0.others.hook_panics);
    }
}

/// Wakes every waiter when a manual clock moves, so it re-checks its deadline.
struct Waker(Arc<Shared>);

impl ClockListener for Waker {
    fn clock_advanced(&self) {
        {
            let _g = lock(&self.0.state);
            self.0.room.notify_all();
            self.0.exited.notify_all();
        }
        self.0.nudge_parked();
    }
}

/// The fast pool: the classic pool's semantics with a lock-free put / take path. See the module
/// docs and `src/fast/README.md`.
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

    /// Admission under the state lock: spawning, a full queue, and whatever the lock-free path
    /// could not settle.
    #[cold]
    fn put_cold(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = match admission {
            Admission::Try => None,
            Admission::Wait => Some(sh.cfg.clock.deadline_after(sh.cfg.put_timeout)),
            Admission::Timeout(t) => Some(sh.cfg.clock.deadline_after(t)),
        };
        let mut waited = false;
        loop {
            // Registrations take the state lock, which we hold here.
            let holds = sh.queue.holds();
            let w = sh.settled(|| sh.word());
            if w.stopped() {
                sh.rejected.fetch_add(1, Ordering::AcqRel);
                return Err(PutError::ShutDown(job));
            }
            let mut load = w.load(sh.capacity);
            if st.num_live < MAX_WORKERS {
                load.staying = st.staying();
                load.max = st.max;
            }
            match policy::admit(load) {
                Admit::ClaimIdle => {
                    sh.claims_begun.fetch_add(1, Ordering::SeqCst);
                    if sh.cas_word(w, sh.claimed_for_a_job(w)).is_ok() {
                        // Reserved under the lock too, so no stop lands between the decision
                        // and the position.
                        return Shared::enqueue(
                            sh,
                            job,
                            &self.sink,
                            Claimed::Idle,
                            holds,
                            Some(&st),
                        );
                    }
                    sh.claims_done.fetch_add(1, Ordering::SeqCst);
                }
                Admit::Spawn => {
                    let slot = sh.reserve_worker(&mut st);
                    sh.sync_at_max(&st);
                    // Our job is queued and the new worker is on its way for it.
                    sh.settle_locked(&st, |w| w.job_queued().claim(1));
                    let r =
                        Shared::enqueue(sh, job, &self.sink, Claimed::Spawned, holds, Some(&st));
                    drop(st);
                    Shared::spawn_workers(sh, vec![slot]);
                    return r;
                }
                Admit::Enqueue => {
                    let step = i64::from(sh.capacity.is_some());
                    if sh.cas_word(w, w.add_jobs(step)).is_ok() {
                        return Shared::enqueue(sh, job, &self.sink, Claimed::No, holds, Some(&st));
                    }
                }
                Admit::Full => match deadline {
                    Some(d) if sh.cfg.clock.now() < d => {
                        if sh.cas_word(w, Word(w.0 | WAITERS)).is_ok() {
                            if !waited {
                                waited = true;
                                sh.emit_other(Event::PutWaiting);
                            }
                            st.put_waiters += 1;
                            st = sh.wait_until(&sh.room, st, Some(d));
                            st.put_waiters -= 1;
                            if st.put_waiters == 0 {
                                sh.word.fetch_and(!WAITERS, Ordering::AcqRel);
                            }
                        }
                    }
                    _ => return self.refuse_full(st, job),
                },
            }
        }
    }

    /// The queue stayed full: apply the policy (under the state lock, which `st` holds).
    fn refuse_full(&self, st: Guard<'_>, job: Job) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        match &sh.cfg.policy {
            Policy::Reject => {
                sh.rejected.fetch_add(1, Ordering::AcqRel);
                Err(PutError::Full(job))
            }
            Policy::CallerRuns => {
                // The job gets the next id: its position, left dead in the queue.
                sh.num_dead.fetch_add(1, Ordering::AcqRel);
                let id = JobId(sh.queue.push_with(|_| None));
                sh.caller_runs.fetch_add(1, Ordering::AcqRel);
                drop(st);
                let claimed = job.claim();
                let (panicked, hook_panics) = if claimed {
                    sh.cfg.run_job(id, job)
                } else {
                    (false, 0)
                };
                let o = &sh.others;
                o.hook_panics.fetch_add(hook_panics, Ordering::AcqRel);
                if !claimed {
                    sh.cancelled.fetch_add(1, Ordering::AcqRel);
                } else if panicked {
                    Tally::bump_shared(&o.panicked);
                } else {
                    Tally::bump_shared(&o.completed);
                }
                sh.emit_other(Event::JobRanByCaller { job: id, panicked });
                Ok(id)
            }
            Policy::DiscardOldest(handler) => {
                let Some(evicted) = sh.evict_oldest() else {
                    sh.rejected.fetch_add(1, Ordering::AcqRel);
                    return Err(PutError::Full(job));
                };
                sh.rejected.fetch_add(1, Ordering::AcqRel);
                // The eviction (-1) and the new job (+1) leave the balance as it is, so no put
                // sees room in between.
                let holds = sh.queue.holds();
                let r = Shared::enqueue(sh, job, &self.sink, Claimed::No, holds, Some(&st));
                drop(st);
                let handler = DynArc::clone(handler);
                if catch(move || handler(evicted)).is_err() {
                    Tally::bump_shared(&sh.others.hook_panics);
                }
                r
            }
        }
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
        Shared::spawn_workers(sh, slots);
        Ok(n)
    }

    fn put_with(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
        let sh = &self.shared;
        if sh.capacity.is_some() {
            // A bounded pool decides and reserves its position in one step, under the state
            // lock: a lock-free put takes its unit of room (the word) and its position (the
            // tail) at two moments, so a put preempted in between let later puts see the room
            // it took while its job was in neither the queue nor the ids yet, and got a later
            // id than puts it was admitted before (both found by the conformance kit's
            // histories). Without a capacity, admission takes no room, and a put's decision is
            // retaken when a stop lands between the two (`enqueue`).
            return self.put_cold(job, admission);
        }
        // Before the word: a stop registered after these reads is detected before the push
        // (the generation) or, after 128 of them, after it (`holds`).
        let holds = sh.queue.holds();
        let generation = sh.queue.tail_gen();
        let mut w = sh.word();
        loop {
            if w.phase() != RUNNING {
                if w.stopped() {
                    sh.rejected.fetch_add(1, Ordering::AcqRel);
                    return Err(PutError::ShutDown(job));
                }
                // Not started: queued under the state lock, so `start` (which counts the queue
                // under it) either counts this job or has started before we decide.
                return self.put_cold(job, admission);
            }
            match policy::admit(w.load(sh.capacity)) {
                Admit::ClaimIdle => {
                    sh.claims_begun.fetch_add(1, Ordering::SeqCst);
                    match sh.cas_word(w, sh.claimed_for_a_job(w)) {
                        Ok(()) => {
                            return Shared::enqueue(
                                sh,
                                job,
                                &self.sink,
                                Claimed::Idle,
                                holds,
                                None,
                            );
                        }
                        Err(now) => {
                            sh.claims_done.fetch_add(1, Ordering::SeqCst);
                            w = now;
                        }
                    }
                }
                Admit::Enqueue => {
                    match Shared::enqueue_unless_held(
                        sh,
                        job,
                        &self.sink,
                        Claimed::No,
                        holds,
                        Some(generation),
                        None,
                    ) {
                        Ok(r) => return r,
                        // A stop registration (or a close) held the tail after we decided:
                        // decide again, under the state lock, where the decision and the
                        // position are one step. Queued lock-free with the stale decision, the
                        // job was visible in the queue before the worker the new decision
                        // spawns (`respawn_cold`), a state no sequential order shows (found by
                        // the conformance kit's histories).
                        Err(job) => return self.put_cold(job, admission),
                    }
                }
                Admit::Spawn | Admit::Full => return self.put_cold(job, admission),
            }
        }
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
        Shared::spawn_workers(sh, slots);
        k
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
        validate_bounds(min, max)?;
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
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = sh.cfg.clock.deadline_after(timeout);
        let returned = sh.begin_stop(&mut st);
        let me = thread::current().id();
        let inside = usize::from(st.threads.contains(&me));
        while st.num_threads > inside && sh.cfg.clock.now() < deadline {
            st = sh.wait_until(&sh.exited, st, Some(deadline));
        }
        sh.report(&st, returned)
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
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let deadline = sh.cfg.clock.deadline_after(timeout);
        while sh.word().phase() != TERMINATED && sh.cfg.clock.now() < deadline {
            st = sh.wait_until(&sh.exited, st, Some(deadline));
        }
        sh.word().phase() == TERMINATED
    }
}

impl Drop for FastPool {
    /// A non-blocking stop: no new work, queued jobs still run, workers exit after them.
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        let returned = self.shared.begin_stop(&mut st);
        drop(st);
        drop(returned);
    }
}

impl std::fmt::Debug for FastPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The queue's operations, for the loom models in `tests/loom_fast.rs`. Compiled only under
/// loom; not part of the crate's API.
#[cfg(loom)]
pub mod loom_api {
    use super::queue::{JobQueue, Pop};
    use crate::job::Job;

    /// What [`Queue::pop`] found.
    #[derive(Debug)]
    pub enum Popped {
        /// A job and its position (its id).
        Job(u64, Job),
        /// A dead position.
        Dead(u64),
        /// Nothing queued.
        Empty,
        /// A stop is due before the next job.
        StopDue,
    }

    /// The fast backend's job queue.
    pub struct Queue(JobQueue);

    impl Default for Queue {
        fn default() -> Self {
            Queue(JobQueue::new())
        }
    }

    impl Queue {
        /// Queues `job`; returns its position.
        pub fn push(&self, job: Job) -> u64 {
            self.0.push_with(|_| Some(job))
        }

        /// Queues a dead position (as a refused or caller-run put does); returns it.
        pub fn push_dead(&self) -> u64 {
            self.0.push_with(|_| None)
        }

        /// Takes the head (see `JobQueue::pop`).
        pub fn pop(&self, honor_stops: bool) -> Popped {
            self.pop_seen(honor_stops, &mut 0)
        }

        /// Takes the head as a worker does, remembering the tail it saw in `seen_tail` (see
        /// `JobQueue::pop_seen`).
        pub fn pop_seen(&self, honor_stops: bool, seen_tail: &mut u64) -> Popped {
            match self.0.pop_seen(honor_stops, seen_tail) {
                Pop::Item(pos, Some(job)) => Popped::Job(pos, job),
                Pop::Item(pos, None) => Popped::Dead(pos),
                Pop::Empty => Popped::Empty,
                Pop::StopDue => Popped::StopDue,
            }
        }

        /// Registers a stop behind everything reserved so far (as `shrink` does); returns its
        /// boundary.
        pub fn register_stop(&self) -> u64 {
            self.0.hold_tail(|at| {
                self.0.set_stop_at(at.min(self.0.stop_at()));
                at
            })
        }

        /// Forgets the pending stop (as the worker that takes it does).
        pub fn take_stop(&self) {
            self.0.set_stop_at(u64::MAX);
        }

        /// Whether a worker about to park has something to take.
        pub fn has_work(&self) -> bool {
            self.0.has_work()
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_first_poll_gap_grows_for_a_stream_and_shrinks_for_lone_jobs() {
        let (shortest, longest) = POLL_FIRST_GAP;
        let mut poll = Poll::default();
        assert_eq!(
            poll.first_gap, shortest,
            "a new worker answers a lone job fast"
        );
        let mut last = poll.first_gap;
        while poll.first_gap < longest {
            poll.found(30);
            assert!(poll.first_gap > last, "a stream lengthens the gap");
            last = poll.first_gap;
        }
        poll.found(30);
        assert_eq!(poll.first_gap, longest, "capped");
        poll.found(1);
        assert!(poll.first_gap < longest, "a lone job shortens it");
        for _ in 0..64 {
            poll.found(1);
        }
        assert_eq!(poll.first_gap, shortest, "floored");
    }
}
