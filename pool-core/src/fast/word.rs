//! The admission word: everything a put needs to decide, in one `AtomicU64`, so the decision and
//! the reservation it makes (an idle worker, a unit of backlog) are one compare-exchange.
//!
//! ```text
//!  63                 32 31     26 25     20 19          4    3        2      1 0
//! +---------------------+---------+---------+-------------+--------+--------+-----+
//! | balance (32, signed)| behind  | front   | idle (16)   | WAITERS| AT_MAX |phase|
//! +---------------------+---------+---------+-------------+--------+--------+-----+
//! ```
//!
//! The *balance* and the *front stops* are kept only when the pool has a capacity. Together they
//! are the classic pool's backlog seen from both sides. With `C` claims outstanding (workers
//! woken for an item, starting, or still looking at the queue with the claim they had) and the
//! queue's entries (jobs and stop sentinels) in order, the first `C` entries are committed to
//! those workers. A positive balance is the number of queued jobs past the committed ones (the
//! backlog a capacity limits); a negative one is the number of claims with no entry yet. The
//! *front* stops are the stop sentinels at the head of the uncommitted entries, before any
//! uncommitted job: a new claim commits one of those before it commits a job. The stops *behind*
//! are uncommitted stops queued behind uncommitted jobs: the word does not know how many jobs
//! are ahead of each, so a claim that reaches one is counted as committing a job, and the count
//! is corrected when the stop is taken (see the table).
//!
//! Each event moves them by a fixed rule ([`Word::commit_one`] is "a new claim commits the
//! first uncommitted entry": a front stop if there is one, else one unit of balance):
//!
//! | event | effect |
//! |---|---|
//! | a put queues a job | balance +1 |
//! | ... claiming an idle worker or spawning one for it | and `commit_one` |
//! | a worker is started without a job (`start`, `grow`, `resize`, a replacement) | `commit_one` |
//! | a put claims a worker after queueing (it went idle meanwhile) | `commit_one` |
//! | a worker without a claim takes a job | `commit_one` (the removed entry was the first uncommitted one, or a committed one whose claim moves on) |
//! | ... takes a stop | a front stop -1, else a stop behind -1 (it was uncommitted, or a claim was counted as committing a job when it reached it: either way the balance is right), else `commit_one` |
//! | a worker with a claim takes a job, or a stop it was claimed for | none |
//! | a worker claimed for a job takes a stop, with stops behind | a stop behind -1 and balance +1 (its claim reached that stop, not a job) |
//! | a worker with a claim parks (it found the queue empty) | balance +1 |
//! | a queued job is cancelled or evicted | balance -1 if positive, else `commit_one` |
//! | a stop is queued | balance +1 if negative (an excess claim takes it), else a front stop if the balance is 0 (it is the first uncommitted entry), else a stop behind |
//! | ... claiming an idle worker for it | and `commit_one` |
//!
//! What remains approximate: which stop a worker takes when several are pending behind jobs, and
//! the counts saturate at 63 stops of each kind. It needs a capacity, shrinks while the queue
//! holds uncommitted jobs, and claims racing past them; the balance is right again once those
//! stops are taken.

use crate::policy::Load;
use crate::stats::PoolState;

/// Bits of the phase.
const PHASE_MASK: u64 = 0b11;
/// Phase: built, not started; puts only queue.
pub(crate) const CREATED: u64 = 0;
/// Phase: started; puts may claim idle workers and spawn.
pub(crate) const RUNNING: u64 = 1;
/// Phase: stop requested; puts are refused; workers drain and exit.
pub(crate) const STOPPING: u64 = 2;
/// Phase: stopped, and every worker thread has finished.
pub(crate) const TERMINATED: u64 = 3;
/// Set while live workers >= max (kept by the control-lock holder whenever either changes): a
/// put seeing it clear may need to spawn, which it does under the lock.
pub(crate) const AT_MAX: u64 = 1 << 2;
/// Set while some put waits for room; whoever frees room (or changes anything a waiting put
/// looks at) and sees it notifies the pool's `room` condvar.
pub(crate) const WAITERS: u64 = 1 << 3;
const IDLE_SHIFT: u32 = 4;
const IDLE_BITS: u32 = 16;
/// One idle (parked, unclaimed) worker.
pub(crate) const IDLE_ONE: u64 = 1 << IDLE_SHIFT;
const STOPS_BITS: u32 = 6;
/// The most stops of each kind the word counts (it saturates there; see the module docs).
const MAX_STOPS: u64 = (1 << STOPS_BITS) - 1;
const FRONT_SHIFT: u32 = IDLE_SHIFT + IDLE_BITS;
/// One front stop.
const FRONT_ONE: u64 = 1 << FRONT_SHIFT;
const BEHIND_SHIFT: u32 = FRONT_SHIFT + STOPS_BITS;
/// One stop behind.
const BEHIND_ONE: u64 = 1 << BEHIND_SHIFT;
const BALANCE_SHIFT: u32 = BEHIND_SHIFT + STOPS_BITS;
/// One unit of balance (see the module docs); the field is two's complement, so adding and
/// subtracting multiples of this with wrapping arithmetic moves it either way.
const BALANCE_ONE: u64 = 1 << BALANCE_SHIFT;
/// The most live workers a fast pool runs, so that `idle` always fits its 16 bits. A pool
/// configured with a larger (or no) maximum behaves as if at max once it has this many.
pub(crate) const MAX_WORKERS: usize = (1 << IDLE_BITS) - 1;
/// The largest capacity the word tracks a balance for (31 bits and a sign). A larger capacity
/// is treated as unbounded and nothing is tracked.
pub(crate) const MAX_TRACKED_CAPACITY: usize = (1 << (63 - BALANCE_SHIFT)) - 1;

/// A decoded admission word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) fn phase(self) -> u64 {
        self.0 & PHASE_MASK
    }

    /// Whether a stop has been requested (puts are refused).
    pub(crate) fn stopped(self) -> bool {
        self.phase() >= STOPPING
    }

    pub(crate) fn state(self) -> PoolState {
        match self.phase() {
            CREATED => PoolState::Created,
            RUNNING => PoolState::Running,
            STOPPING => PoolState::Stopping,
            _ => PoolState::Terminated,
        }
    }

    pub(crate) fn with_phase(self, phase: u64) -> Word {
        Word(self.0 & !PHASE_MASK | phase)
    }

    pub(crate) fn at_max(self) -> bool {
        self.0 & AT_MAX != 0
    }

    pub(crate) fn with_at_max(self, at_max: bool) -> Word {
        Word(if at_max {
            self.0 | AT_MAX
        } else {
            self.0 & !AT_MAX
        })
    }

    pub(crate) fn waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    pub(crate) fn idle(self) -> usize {
        ((self.0 >> IDLE_SHIFT) & ((1 << IDLE_BITS) - 1)) as usize
    }

    /// The signed balance (see the module docs).
    pub(crate) fn balance(self) -> i64 {
        (self.0 as i64) >> BALANCE_SHIFT
    }

    /// The backlog: queued jobs no claimed or starting worker is committed to.
    pub(crate) fn backlog(self) -> usize {
        self.balance().max(0) as usize
    }

    /// Stop sentinels at the head of the uncommitted entries.
    pub(crate) fn front_stops(self) -> u64 {
        (self.0 >> FRONT_SHIFT) & MAX_STOPS
    }

    /// Uncommitted stop sentinels queued behind uncommitted jobs.
    pub(crate) fn stops_behind(self) -> u64 {
        (self.0 >> BEHIND_SHIFT) & MAX_STOPS
    }

    /// The word with the balance moved by `delta`.
    pub(crate) fn add_balance(self, delta: i64) -> Word {
        Word(
            self.0
                .wrapping_add((delta as u64).wrapping_mul(BALANCE_ONE)),
        )
    }

    /// A new claim commits the first uncommitted entry: a front stop if any, else a unit of
    /// balance (a job, or an excess claim when there is none).
    pub(crate) fn commit_one(self) -> Word {
        if self.front_stops() > 0 {
            Word(self.0 - FRONT_ONE)
        } else {
            self.add_balance(-1)
        }
    }

    /// `commit_one`, `n` times.
    pub(crate) fn commit(self, n: usize) -> Word {
        let stops = self.front_stops().min(n as u64);
        Word(self.0 - stops * FRONT_ONE).add_balance(stops as i64 - n as i64)
    }

    /// A queued job left the queue without being taken (cancelled, evicted).
    pub(crate) fn job_removed(self) -> Word {
        if self.balance() > 0 {
            self.add_balance(-1)
        } else {
            self.commit_one()
        }
    }

    /// A stop sentinel was queued (before any claim made for it).
    pub(crate) fn stop_queued(self) -> Word {
        match self.balance() {
            b if b < 0 => self.add_balance(1),
            0 if self.front_stops() < MAX_STOPS => Word(self.0 + FRONT_ONE),
            0 => self,
            _ if self.stops_behind() < MAX_STOPS => Word(self.0 + BEHIND_ONE),
            _ => self,
        }
    }

    /// A worker took a stop sentinel. `claimed`: it held a claim; `for_stop`: that claim was made
    /// for a stop (by the push that queued it). A claim made for a job (or a start) may have
    /// been counted as committing a job where it committed this stop.
    pub(crate) fn stop_taken(self, claimed: bool, for_stop: bool) -> Word {
        match (claimed, for_stop) {
            (true, true) => self,
            (true, false) if self.front_stops() == 0 && self.stops_behind() > 0 => {
                Word(self.0 - BEHIND_ONE).add_balance(1)
            }
            (true, false) => self,
            (false, _) if self.front_stops() > 0 => Word(self.0 - FRONT_ONE),
            (false, _) if self.stops_behind() > 0 => Word(self.0 - BEHIND_ONE),
            (false, _) => self.add_balance(-1),
        }
    }

    /// The numbers `policy::admit` looks at. The word keeps only whether the staying workers
    /// are below max (`AT_MAX`), so that is presented as `staying = max = 1` (at max) or
    /// `staying = 0, max = None` (room to spawn).
    pub(crate) fn load(self, capacity: Option<usize>) -> Load {
        Load {
            running: self.phase() == RUNNING,
            idle: self.idle(),
            staying: usize::from(self.at_max()),
            max: self.at_max().then_some(1),
            backlog: self.backlog(),
            capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Admit, admit};

    #[test]
    fn fields_do_not_overlap() {
        let w = Word((Word(0).with_phase(STOPPING).with_at_max(true).0 + 3 * IDLE_ONE) | WAITERS)
            .add_balance(7);
        assert_eq!(w.phase(), STOPPING);
        assert!(w.at_max() && w.waiters() && w.stopped());
        assert_eq!((w.idle(), w.balance(), w.backlog()), (3, 7, 7));
        let owed = w.add_balance(-10);
        assert_eq!((owed.idle(), owed.balance(), owed.backlog()), (3, -3, 0));
        assert_eq!((owed.phase(), owed.front_stops()), (STOPPING, 0));
        assert!(owed.at_max() && owed.waiters());
        assert_eq!(owed.add_balance(3), w.add_balance(-7));
        let full = Word(MAX_WORKERS as u64 * IDLE_ONE).add_balance(MAX_TRACKED_CAPACITY as i64);
        assert_eq!(full.idle(), MAX_WORKERS);
        assert_eq!(full.backlog(), MAX_TRACKED_CAPACITY);
        let least = Word(0).add_balance(-(MAX_TRACKED_CAPACITY as i64) - 1);
        assert_eq!(
            (least.balance(), least.idle(), least.front_stops()),
            (-(1 << 31), 0, 0)
        );
    }

    #[test]
    fn claims_commit_front_stops_before_jobs() {
        // Two unclaimed stops on an empty queue, then a job: [S, S, J].
        let w = Word(0).stop_queued().stop_queued().add_balance(1);
        assert_eq!((w.front_stops(), w.balance()), (2, 1));
        // Two claims take the stops; the job stays uncommitted.
        let w = w.commit(2);
        assert_eq!((w.front_stops(), w.balance()), (0, 1));
        // A third claim takes the job, a fourth is in excess.
        assert_eq!(w.commit_one().balance(), 0);
        assert_eq!(w.commit(2).balance(), -1);
        // A stop queued while a claim is in excess is that claim's.
        assert_eq!(Word(0).add_balance(-1).stop_queued(), Word(0));
        // A stop behind uncommitted jobs is counted apart.
        let w = Word(0).add_balance(2).stop_queued();
        assert_eq!((w.front_stops(), w.stops_behind(), w.balance()), (0, 1, 2));
        // Taken without a claim: it was uncommitted, the balance stays.
        assert_eq!(w.stop_taken(false, false), Word(0).add_balance(2));
        // Taken by a worker claimed for a job: that claim was counted as committing a job.
        let reached = w.commit(2);
        assert_eq!(reached.balance(), 0);
        assert_eq!(reached.stop_taken(true, false).balance(), 1);
        // Claimed for the stop itself: nothing to correct.
        assert_eq!(Word(0).stop_taken(true, true), Word(0));
        // A removed job: uncommitted if any is, else a committed one whose claim moves on.
        assert_eq!(Word(0).add_balance(2).job_removed().balance(), 1);
        let w = Word(0).stop_queued().job_removed();
        assert_eq!((w.front_stops(), w.balance()), (0, 0));
    }

    #[test]
    fn the_word_presents_policy_with_the_same_decisions() {
        let running = Word(0).with_phase(RUNNING);
        assert_eq!(
            admit(Word(running.0 + IDLE_ONE).load(None)),
            Admit::ClaimIdle
        );
        assert_eq!(admit(running.load(None)), Admit::Spawn);
        let at_max = running.with_at_max(true);
        assert_eq!(admit(at_max.load(None)), Admit::Enqueue);
        assert_eq!(admit(at_max.load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(at_max.add_balance(1).load(Some(1))), Admit::Full);
        assert_eq!(
            admit(at_max.stop_queued().add_balance(1).load(Some(1))),
            Admit::Full
        );
        assert_eq!(admit(at_max.add_balance(-1).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(0).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(0).add_balance(1).load(Some(1))), Admit::Full);
    }
}
