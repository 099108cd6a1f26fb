//! The admission word: everything a put needs to decide, in one `AtomicU64`, so the decision and
//! the reservation it makes (an idle worker, a unit of backlog) are one compare-exchange.
//!
//! ```text
//!  63                    24 23          4    3        2      1 0
//! +------------------------+-------------+--------+--------+-----+
//! | balance (40, signed)   | idle (20)   | WAITERS| AT_MAX |phase|
//! +------------------------+-------------+--------+--------+-----+
//! ```
//!
//! The *balance* is kept only when the pool has a capacity. It is the classic pool's backlog seen
//! from both sides: with `C` claims outstanding (workers woken for an item, or starting) and the
//! queue's entries in order, the first `C` entries are committed to those workers. A positive
//! balance is the number of queued jobs past the committed ones (the backlog a capacity limits);
//! a negative one is the number of claims with no entry to take yet. The two are never both
//! non-zero, so one signed number carries both, and every event moves it by a fixed step:
//!
//! | event | balance |
//! |---|---|
//! | a put queues a job without claiming a worker | +1 |
//! | a put queues a job claiming an idle worker (or spawning one) | 0 |
//! | workers start with no job of their own (`start`, `grow`, `resize`) | -1 each |
//! | a worker without a claim takes a job; a job is cancelled or evicted | -1 |
//! | a worker with a claim takes a job or a stop | 0 |
//! | a worker with a claim finds the queue empty | +1 |
//! | a put claims a worker after queueing (it went idle meanwhile) | -1 |
//! | a stop is queued without claiming a worker, while the balance is negative | +1 |

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
const IDLE_BITS: u32 = 20;
/// One idle (parked, unclaimed) worker.
pub(crate) const IDLE_ONE: u64 = 1 << IDLE_SHIFT;
const BALANCE_SHIFT: u32 = IDLE_SHIFT + IDLE_BITS;
/// One unit of balance (see the module docs); the field is two's complement, so adding and
/// subtracting multiples of this with wrapping arithmetic moves it either way.
const BALANCE_ONE: u64 = 1 << BALANCE_SHIFT;
/// The most live workers a fast pool runs, so that `idle` always fits its 20 bits. A pool
/// configured with a larger (or no) maximum behaves as if at max once it has this many.
pub(crate) const MAX_WORKERS: usize = (1 << IDLE_BITS) - 1;
/// The largest capacity the word tracks a balance for (39 bits and a sign). A larger capacity
/// cannot be reached by any real queue, so it is treated as unbounded and nothing is tracked.
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

    /// The word with the balance moved by `delta`.
    pub(crate) fn add_balance(self, delta: i64) -> Word {
        Word(
            self.0
                .wrapping_add((delta as u64).wrapping_mul(BALANCE_ONE)),
        )
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
        let w = Word(Word(0).with_phase(STOPPING).with_at_max(true).0 + 3 * IDLE_ONE | WAITERS)
            .add_balance(7);
        assert_eq!(w.phase(), STOPPING);
        assert!(w.at_max() && w.waiters() && w.stopped());
        assert_eq!((w.idle(), w.balance(), w.backlog()), (3, 7, 7));
        let owed = w.add_balance(-10);
        assert_eq!((owed.idle(), owed.balance(), owed.backlog()), (3, -3, 0));
        assert_eq!(owed.phase(), STOPPING);
        assert!(owed.at_max() && owed.waiters());
        assert_eq!(owed.add_balance(3), w.add_balance(-7));
        let full = Word(MAX_WORKERS as u64 * IDLE_ONE).add_balance(MAX_TRACKED_CAPACITY as i64);
        assert_eq!(full.idle(), MAX_WORKERS);
        assert_eq!(full.backlog(), MAX_TRACKED_CAPACITY);
        let least = Word(0).add_balance(-(MAX_TRACKED_CAPACITY as i64) - 1);
        assert_eq!(
            (least.balance(), least.idle(), least.phase()),
            (-(1 << 39), 0, CREATED)
        );
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
        assert_eq!(admit(at_max.add_balance(-1).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(0).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(0).add_balance(1).load(Some(1))), Admit::Full);
    }
}
