//! Admission: how a put becomes a queued job with a worker coming for it (README: "The word",
//! "Who wakes whom", "Why no wakeup is lost" (the put's side), "No job is stranded" and
//! "Cancel").
//!
//! A put decides with [`crate::policy::admit`] on the word and makes its
//! reservation (an idle worker's claim) in one compare-exchange (`FastPool::put_hot`), then
//! takes its position in the queue (`Shared::enqueue`), which is its id, and wakes the worker it
//! claimed. A put that claimed nobody fences and reads the word again after its reservation, so
//! a worker that registered as idle meanwhile is claimed (the put's half of the Dekker pairing
//! with `idle.rs`). A decision that a stop registered in between made stale is retaken under
//! the state lock (`FastPool::put_cold`, `Shared::respawn_cold`), where spawning and a full
//! queue's policy (`refuse_full`) are decided too. `Sink` finishes a handle's cancel of a queued
//! job under the state lock.

use super::queue::Pop;
use super::stats::Tally;
use super::word::{CREATED, IDLE_ONE, MAX_WORKERS, RUNNING, WAITERS, Word};
use super::{FastPool, Guard, Shared, State};
use crate::config::Policy;
use crate::error::PutError;
use crate::event::Event;
use crate::job::{CancelSink, Job, JobId, Panic, catch};
use crate::policy::{self, Admit};
use crate::pool::Admission;
use crate::sync::atomic::{Ordering, fence};
use crate::sync::thread;
use crate::sync::{Arc, DynArc, lock};

/// Whether a put has a worker committed to its job.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Claimed {
    /// It claimed an idle worker, which must be woken after the push.
    Idle,
    /// It reserved a new worker, which takes the head when it starts.
    Spawned,
    /// No one: it added a unit of balance (when tracked).
    No,
}

impl Shared {
    /// Claims an idle worker if there is one: `idle -= 1`, and one more claim in the backlog
    /// ([`Word::claim`], when tracked); true if it did. Always a
    /// read-modify-write of the word, so a worker registering as idle at the same time either is
    /// claimed here or sees what the caller published before (README: "no lost wakeup").
    pub(super) fn claim_idle(&self) -> bool {
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
    pub(super) fn settled<T>(&self, mut read: impl FnMut() -> T) -> T {
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
    pub(super) fn claimed_for_a_job(&self, w: Word) -> Word {
        let w = Word(w.0 - IDLE_ONE);
        if self.capacity.is_some() {
            w.job_queued().claim(1)
        } else {
            w
        }
    }

    /// Puts `job` in the queue: gives it its id (its position), ties it to `sink` when it has a
    /// handle, and after it is visible wakes a worker. `claimed`: the caller claimed an idle
    /// worker (or reserved a starting one) for it; else the caller added a unit of balance (when
    /// tracked) and, should a worker have gone idle meanwhile, claims one now.
    pub(super) fn enqueue(
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

    /// [`Shared::enqueue`]; with `Some(generation)` (the queue's
    /// [`JobQueue::tail_gen`](super::queue::JobQueue::tail_gen) read before the admission), only
    /// if the tail was not held since: else `Err(job)`, nothing queued, for the caller to decide
    /// again.
    pub(super) fn enqueue_unless_held(
        sh: &Arc<Shared>,
        job: Job,
        sink: &DynArc<dyn CancelSink>,
        claimed: Claimed,
        holds: u64,
        held_since: Option<u64>,
        locked: Option<&State>,
    ) -> Result<Result<JobId, PutError<Job>>, Job> {
        let mut job = Some(job);
        // A put before `start` queues under the state lock (`put_cold`), which `start` takes.
        let unstarted = locked.is_some() && sh.word().phase() == CREATED;
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
            } else if job.has_control() && !job.enqueue(JobId(pos), sink, unstarted) {
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
    pub(super) fn respawn_cold(sh: &Arc<Shared>, pos: u64) {
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

    /// `DiscardOldest`: takes the oldest live job out of the queue (the caller settles the
    /// balance).
    pub(super) fn evict_oldest(&self) -> Option<Job> {
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
}

impl FastPool {
    /// `Pool::put_with`: the lock-free admission of a pool without a capacity, and the way
    /// into [`FastPool::put_cold`] for everything else.
    #[inline]
    pub(super) fn put_hot(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
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

    /// Admission under the state lock: spawning, a full queue, and whatever the lock-free path
    /// could not settle.
    #[cold]
    pub(super) fn put_cold(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>> {
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

/// Tells the pool a queued job was cancelled.
pub(super) struct Sink(pub(super) Arc<Shared>);

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
            // MUTANT(cancel-keeps-room): the cancelled job keeps its unit of the capacity.
            #[cfg(feature = "mutants")]
            let keeps_room = sh.cfg.mutated(crate::config::Mutation::CancelKeepsRoom);
            #[cfg(not(feature = "mutants"))]
            let keeps_room = false;
            if !keeps_room {
                sh.settle_locked(&st, Word::job_removed);
            }
        }
        sh.emit_other(Event::JobCancelled { job: id });
        true
    }

    fn cancelled_drop_panicked(&self) {
        Tally::bump_shared(&self.0.others.hook_panics);
    }

    fn run_unstarted(
        &self,
        id: JobId,
        decide: &mut dyn FnMut(bool) -> bool,
        run: &mut dyn FnMut(Option<Panic>) -> bool,
    ) -> bool {
        let sh = &self.0;
        {
            // `start` and the hand-backs take the state lock.
            let st = lock(&sh.state);
            if !decide(sh.word().phase() == CREATED) {
                return false;
            }
            // Its position stays in the queue, dead, as a cancelled job's does.
            sh.num_dead.fetch_add(1, Ordering::AcqRel);
            sh.caller_runs.fetch_add(1, Ordering::AcqRel);
            sh.settle_locked(&st, Word::job_removed);
        }
        let (panicked, hook_panics) = sh.cfg.run_hooked(id, run);
        let o = &sh.others;
        o.hook_panics.fetch_add(hook_panics, Ordering::AcqRel);
        if panicked {
            Tally::bump_shared(&o.panicked);
        } else {
            Tally::bump_shared(&o.completed);
        }
        sh.emit_other(Event::JobRanByCaller { job: id, panicked });
        true
    }
}
