//! A worker: its record (`WorkerSlot`: id, claim flag, own counters) and its life (README:
//! "Worker states", "Events and stats").
//!
//! `reserve_worker` counts a new worker under the state lock and `spawn_workers` starts its
//! thread (a refused spawn is undone); `worker_main` is the loop: take an item (`take`: the next
//! job, a due stop, or nothing), run a job (`run_one`, counting its outcome), or go idle
//! (`idle.rs`), until a stop or the keep-alive ends it. A new worker starts holding a claim, as
//! a woken one does: it is committed to the queue head until its first item settles the claim.
//! With a listener, a take and its event, and an outcome and its event, are one step under the
//! state lock (`ordered`).

use crossbeam_utils::CachePadded;

use super::idle::{Idle, Poll};
use super::queue::Pop;
use super::stats::Tally;
use super::word::{STOPPING, TERMINATED, Word};
use super::{Shared, State};
use crate::config::Config;
use crate::event::{Event, ExitReason, WorkerId};
use crate::job::{Job, JobId, catch};
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::park;
use crate::sync::thread;
use crate::sync::{Arc, lock};

/// A worker's own record: its id, its claim flag, and the counters only it writes.
pub(super) struct WorkerSlot {
    pub(super) id: WorkerId,
    /// Set (Release) to [`CLAIMED_FOR_JOB`] or [`CLAIMED_FOR_STOP`] by the claimer that popped
    /// this worker from the parked list, before it unparks it; reset to [`UNCLAIMED`] by the
    /// worker when it registers as parked. A wakeup without it is spurious, a clock advance, or
    /// a bounds change.
    pub(super) claimed: AtomicU8,
    /// Counters written only by this worker (a load and a store, no read-modify-write), summed by
    /// `stats`.
    pub(super) tally: CachePadded<Tally>,
}

/// `WorkerSlot::claimed`: not claimed.
pub(super) const UNCLAIMED: u8 = 0;

/// `WorkerSlot::claimed`: claimed by a put for its job.
pub(super) const CLAIMED_FOR_JOB: u8 = 1;

/// `WorkerSlot::claimed`: claimed by a stop sentinel being queued.
pub(super) const CLAIMED_FOR_STOP: u8 = 2;

/// The claim a worker holds while it looks at the queue (see [`word`](super::word)).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// None: it finished a job, or found work itself.
    No,
    /// Made for a job: a put's claim, or a new worker's.
    ForJob,
    /// Made for a stop sentinel by the push that queued it.
    ForStop,
}

impl Held {
    pub(super) fn any(self) -> bool {
        self != Held::No
    }
}

impl WorkerSlot {
    /// The claim a claimer set on this worker, if any.
    pub(super) fn claim(&self) -> Option<Held> {
        match self.claimed.load(Ordering::Acquire) {
            CLAIMED_FOR_JOB => Some(Held::ForJob),
            CLAIMED_FOR_STOP => Some(Held::ForStop),
            _ => None,
        }
    }
}

/// What a worker got.
pub(super) enum Take {
    Job(JobId, Job),
    /// A stop sentinel; the worker exits, after starting the replacement, if any.
    Stop(Replacement),
    Empty,
}

/// A worker reserved to replace one that took a stop with work still queued behind it.
pub(super) struct Replacement(pub(super) Option<Arc<WorkerSlot>>);

impl Shared {
    /// Counts a new worker; the caller spawns its thread after unlocking, then `sync_at_max`.
    pub(super) fn reserve_worker(&self, st: &mut State) -> Arc<WorkerSlot> {
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
    /// worker (the classic pool's `num_spawning`). Returns how many started: at the first thread
    /// the OS refuses, that worker and the ones not yet tried are uncounted, with their claims
    /// (the refused one is a spawn failure, with its event); the jobs they were for stay queued.
    pub(super) fn spawn_workers(sh: &Arc<Shared>, slots: Vec<Arc<WorkerSlot>>) -> usize {
        let total = slots.len();
        for (started, slot) in slots.iter().enumerate() {
            let id = slot.id;
            let mut b = thread::Builder::new().name(format!("{}-{}", sh.cfg.thread_name, id.0));
            if let Some(size) = sh.cfg.stack_size {
                b = b.stack_size(size);
            }
            let shared = Arc::clone(sh);
            let mine = Arc::clone(slot);
            if let Err(e) = b.spawn(move || Shared::worker_main(&shared, &mine)) {
                Shared::spawn_failed_cold(sh, &slots[started..], &e);
                return started;
            }
        }
        total
    }

    /// `failed[0]`'s thread was refused; `failed` are uncounted (see `spawn_workers`).
    #[cold]
    fn spawn_failed_cold(sh: &Shared, failed: &[Arc<WorkerSlot>], e: &std::io::Error) {
        let id = failed[0].id;
        tracing::error!(target: "pool", worker = id.0, error = %e, not_started = failed.len(), "the OS refused a worker thread");
        let mut st = lock(&sh.state);
        for slot in failed {
            sh.uncount_unstarted(&mut st, slot);
        }
        st.spawn_failures += 1;
        sh.emit_other(Event::WorkerSpawnFailed {
            worker: id,
            start_hook_panicked: false,
        });
        if sh.after_thread_exit(&mut st) {
            sh.emit_other(Event::Terminated);
        }
    }

    /// Uncounts a reserved worker that never ran its loop, with the claim it held.
    fn uncount_unstarted(&self, st: &mut State, slot: &Arc<WorkerSlot>) {
        st.num_live -= 1;
        st.num_threads -= 1;
        st.workers.retain(|w| !Arc::ptr_eq(w, slot));
        self.num_live.store(st.num_live, Ordering::Release);
        self.settle_locked(st, Word::claim_ended);
        self.sync_at_max(st);
    }

    /// A worker thread is gone. Returns whether that made the pool `Terminated`: the caller
    /// then emits `Event::Terminated`, after its own event.
    #[must_use]
    pub(super) fn after_thread_exit(&self, st: &mut State) -> bool {
        let terminated = st.num_threads == 0 && self.word().phase() == STOPPING;
        if terminated {
            self.update_word(|w| w.with_phase(TERMINATED));
        }
        self.exited.notify_all();
        self.room_changed_locked(st);
        terminated
    }

    pub(super) fn worker_main(sh: &Arc<Shared>, me: &Arc<WorkerSlot>) {
        let start_panicked = Config::run_hook(&sh.cfg.on_worker_start);
        if start_panicked {
            // Never initialised: it runs no job and leaves now, as if its spawn had failed (no
            // `WorkerStarted`, no exit hook). The job it was for stays queued (docs/semantics.md
            // §4, "a panicking `on_worker_start`").
            let mut st = lock(&sh.state);
            sh.uncount_unstarted(&mut st, me);
            st.retired.hook_panics += 1;
            st.spawn_failures += 1;
            sh.emit_other(Event::WorkerSpawnFailed {
                worker: me.id,
                start_hook_panicked: true,
            });
            if sh.after_thread_exit(&mut st) {
                sh.emit_other(Event::Terminated);
            }
            return;
        }
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
        let terminated = sh.after_thread_exit(&mut st);
        if sh.cfg.emit(&Event::WorkerExited {
            worker: me.id,
            reason,
        }) {
            st.retired.hook_panics += 1;
        }
        if terminated && sh.cfg.emit(&Event::Terminated) {
            st.retired.hook_panics += 1;
        }
    }

    /// Whether events must come out in the order of the changes they report: when someone
    /// listens (an event listener, or a `tracing` subscriber for target `pool`). Then a worker's
    /// take and its event, and its registration as idle and `WorkerParked`, happen under the
    /// state lock, as in the classic pool; without a listener nothing is ordered or locked.
    pub(super) fn ordered(&self) -> bool {
        self.cfg.has_listener()
    }

    /// Takes the next item and emits its event (`JobStarted`, or `SentinelTaken` for a stop).
    /// `claimed`: this worker holds a claim (it was woken for an item, or just started), which
    /// its first item settles (see [`word`](super::word)).
    pub(super) fn take(&self, me: &WorkerSlot, held: Held, seen_tail: &mut u64) -> Take {
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
                    let claimed = held.any();
                    // MUTANT(claim-kept): the claim we held outlives the job that settles it.
                    #[cfg(feature = "mutants")]
                    let claimed = claimed && !self.cfg.mutated(crate::config::Mutation::ClaimKept);
                    let took = |w: Word| w.job_taken(claimed);
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

    /// Runs a job `take` gave us (its `JobStarted` is out) and reports how it ended.
    pub(super) fn run_one(&self, me: &WorkerSlot, id: JobId, job: Job) {
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
}
