//! Stop sentinels (README: "Stop sentinels are boundaries", "No job is stranded").
//!
//! A stop is a boundary in the queue, not an item. `push_stops` registers `k` of them behind
//! everything queued so far with the tail held, claiming idle workers in the same step on the
//! word (and again after, for a worker that registered in between); `take_stop` is a worker
//! taking the due one under the state lock, with the safety net for work still queued behind
//! it (claim an idle worker, or reserve a replacement). `begin_stop` refuses new work (phase,
//! then `closed_at`) and queues one stop per live worker; `drain_jobs` hands the queue back
//! (`stop_now`, a pool that never started).

use super::queue::Pop;
use super::stats::Tally;
use super::word::{CREATED, IDLE_ONE, MAX_WORKERS, RUNNING, STOPPING, TERMINATED, Word};
use super::worker::{CLAIMED_FOR_STOP, Held, Replacement, WorkerSlot};
use super::{Shared, State};
use crate::event::Event;
use crate::job::{Job, catch};
use crate::sync::atomic::Ordering;

impl Shared {
    /// Takes the due stop, if another worker has not taken it first (under the state lock,
    /// which `st` holds).
    pub(super) fn take_stop(
        &self,
        st: &mut State,
        me: &WorkerSlot,
        held: Held,
    ) -> Option<Replacement> {
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

    /// Queues `k` stop sentinels behind everything queued so far, each claiming an idle worker
    /// if there is one.
    pub(super) fn push_stops(&self, st: &mut State, k: usize) {
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
            // MUTANT(early-stop): a shrink's boundary one position early, ahead of the last
            // job (only while running: a stop's replacement workers would overtake it forever).
            #[cfg(feature = "mutants")]
            let at = if self.cfg.mutated(crate::config::Mutation::EarlyStop)
                && self.word().phase() == super::word::RUNNING
            {
                at.saturating_sub(1)
            } else {
                at
            };
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
    pub(super) fn begin_stop(&self, st: &mut State) -> Vec<Job> {
        let mut returned = Vec::new();
        match self.word().phase() {
            CREATED => {
                self.update_word(|w| w.with_phase(TERMINATED));
                self.emit_other(Event::StopRequested);
                self.emit_other(Event::Terminated);
                self.queue.hold_tail(|at| self.queue.set_closed_at(at));
                returned = self.drain_jobs();
            }
            RUNNING => {
                self.update_word(|w| w.with_phase(STOPPING));
                self.emit_other(Event::StopRequested);
                // Close the queue (puts that reserve a position from now on are refused), then
                // one stop per live worker not already covered, behind every queued job.
                self.queue.hold_tail(|at| self.queue.set_closed_at(at));
                if st.num_live == 0 {
                    // No worker is left to drain the queue (their spawns failed): what is
                    // queued comes back in the report instead of staying stranded.
                    returned = self.drain_jobs();
                }
                let k = st.num_live.saturating_sub(st.stops.len());
                self.push_stops(st, k);
                if st.num_threads == 0 {
                    self.update_word(|w| w.with_phase(TERMINATED));
                    self.emit_other(Event::Terminated);
                }
            }
            _ => {}
        }
        self.room.notify_all();
        self.exited.notify_all();
        returned
    }

    /// Takes every job out of the queue, in order, handing back those not cancelled.
    pub(super) fn drain_jobs(&self) -> Vec<Job> {
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
    pub(super) fn drop_skipped(&self, jobs: impl IntoIterator<Item = Job>) {
        for job in jobs {
            if catch(move || drop(job)).is_err() {
                Tally::bump_shared(&self.others.hook_panics);
            }
        }
    }
}
