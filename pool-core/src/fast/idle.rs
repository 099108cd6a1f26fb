//! Idle workers: spinning on an empty queue, registering as idle, parking, being claimed and
//! woken, and timing out (README: "Worker states", "Who wakes whom", "Why no wakeup is lost"
//! (the worker's side), "Why an idle pool burns no CPU").
//!
//! A worker that found the queue empty polls it for a while (`Poll`: spaced polls whose first gap
//! adapts), then registers (`Sleep::parked` first, then `idle += 1` in the word, giving up its
//! claim), fences, re-checks the queue and parks until a claimer pops it (`wake_one_for` sets its
//! `claimed` flag under the `sleep` lock) or its keep-alive runs out above `min` (`time_out`). A
//! manual clock's step and `resize` unpark every parked worker unclaimed (`nudge_parked`,
//! `Waker`) so each re-checks its keep-alive.

use std::time::Duration;

use super::Shared;
use super::word::{IDLE_ONE, MAX_WORKERS, Word};
use super::worker::{CLAIMED_FOR_JOB, Held, UNCLAIMED, WorkerSlot};
use crate::clock::ClockListener;
use crate::event::Event;
use crate::policy;
use crate::sync::atomic::{Ordering, fence};
use crate::sync::park::{Parker, Unparker};
use crate::sync::{Arc, lock, poll_spaced};

/// How long a worker that found the queue empty keeps polling it before it parks. Long enough to
/// cover a submitter's turnaround (so submit-wait-submit never pays a wakeup), short enough that
/// an idle pool's CPU use is nil.
pub(super) const WORKER_SPIN: Duration = Duration::from_micros(50);

/// The shortest and longest first gap of a worker's polling of an empty queue (see [`Poll`]).
pub(super) const POLL_FIRST_GAP: (Duration, Duration) =
    (Duration::from_nanos(100), Duration::from_nanos(1_000));

/// The longest gap between two polls of an empty queue.
pub(super) const POLL_MAX_GAP: Duration = Duration::from_nanos(2_000);

/// After polling an empty queue this long, a worker also yields the CPU between polls.
pub(super) const POLL_YIELD_AFTER: Duration = Duration::from_micros(1);

/// A parked worker: its record and the half of its park token that wakes it.
pub(super) struct Parked {
    pub(super) slot: Arc<WorkerSlot>,
    pub(super) unparker: Unparker,
}

/// What the `sleep` lock guards.
pub(super) struct Sleep {
    /// Workers that registered as idle and have not been popped by a claimer (nor left on their
    /// own). Invariant: `parked.len() == idle (in the word) + claims not yet popped`, so a
    /// claimer that decremented `idle` always finds a worker here.
    pub(super) parked: Vec<Parked>,
}

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
pub(super) struct Poll {
    pub(super) first_gap: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            first_gap: POLL_FIRST_GAP.0,
        }
    }
}

impl Poll {
    /// A poll found `waiting` items (see
    /// [`JobQueue::work_waiting`](super::queue::JobQueue::work_waiting)).
    pub(super) fn found(&mut self, waiting: u64) {
        let (shortest, longest) = POLL_FIRST_GAP;
        self.first_gap = if waiting > 1 {
            (self.first_gap * 2).min(longest)
        } else {
            (self.first_gap / 2).max(shortest)
        };
    }
}

/// How a worker's idle spell ended.
pub(super) enum Idle {
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
    /// Pops a parked worker for a claim just made in the word (for a job, or with
    /// [`Shared::wake_one_for`] for a stop) and unparks it.
    pub(super) fn wake_one(&self) {
        self.wake_one_for(CLAIMED_FOR_JOB);
    }

    /// [`Shared::wake_one`], telling the worker what its claim was made for.
    pub(super) fn wake_one_for(&self, kind: u8) {
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
    pub(super) fn nudge_parked(&self) {
        for p in &lock(&self.sleep).parked {
            p.unparker.unpark();
        }
    }

    /// The queue looked empty: spin a little, then park until claimed (or the keep-alive runs
    /// out above `min`).
    pub(super) fn idle(
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
        // MUTANT(lost-wakeup): no re-check, so a put that saw no idle worker is left behind us.
        #[cfg(feature = "mutants")]
        let recheck = !self.cfg.mutated(crate::config::Mutation::LostWakeup);
        #[cfg(not(feature = "mutants"))]
        let recheck = true;
        if recheck && self.queue.has_work() && self.leave_idle_with(me, take_back) {
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
    pub(super) fn leave_idle_with(
        &self,
        me: &Arc<WorkerSlot>,
        also: impl Fn(Word) -> Word,
    ) -> bool {
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
    pub(super) fn time_out(&self, me: &Arc<WorkerSlot>) -> bool {
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
}

/// Wakes every waiter when a manual clock moves, so it re-checks its deadline.
pub(super) struct Waker(pub(super) Arc<Shared>);

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
