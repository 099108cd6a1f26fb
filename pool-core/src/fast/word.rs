//! The admission word: everything a put needs to decide, in one `AtomicU64`, so the decision and
//! the reservation it makes (an idle worker, a unit of backlog) are one compare-exchange.
//!
//! ```text
//!  63                    24 23          4    3        2      1 0
//! +------------------------+-------------+--------+--------+-----+
//! | backlog (40 bits)      | idle (20)   | WAITERS| AT_MAX |phase|
//! +------------------------+-------------+--------+--------+-----+
//! ```

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
const BACKLOG_SHIFT: u32 = IDLE_SHIFT + IDLE_BITS;
/// One unit of backlog: a queued job no claimed or starting worker is committed to.
pub(crate) const BACKLOG_ONE: u64 = 1 << BACKLOG_SHIFT;
/// The most live workers a fast pool runs, so that `idle` always fits its 20 bits. A pool
/// configured with a larger (or no) maximum behaves as if at max once it has this many.
pub(crate) const MAX_WORKERS: usize = (1 << IDLE_BITS) - 1;
/// The largest capacity the word tracks a backlog for (40 bits). A larger capacity cannot be
/// reached by any real queue, so it is treated as unbounded and the backlog is not tracked.
pub(crate) const MAX_TRACKED_CAPACITY: usize = (1 << (64 - BACKLOG_SHIFT)) - 1;

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

    pub(crate) fn backlog(self) -> u64 {
        self.0 >> BACKLOG_SHIFT
    }

    /// The word with `n` less backlog, never below zero.
    pub(crate) fn backlog_minus(self, n: u64) -> Word {
        Word(self.0 - n.min(self.backlog()) * BACKLOG_ONE)
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
            backlog: self.backlog() as usize,
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
        let w = Word(0)
            .with_phase(STOPPING)
            .with_at_max(true)
            .0
            .wrapping_add(3 * IDLE_ONE + 7 * BACKLOG_ONE)
            | WAITERS;
        let w = Word(w);
        assert_eq!(w.phase(), STOPPING);
        assert!(w.at_max() && w.waiters() && w.stopped());
        assert_eq!((w.idle(), w.backlog()), (3, 7));
        assert_eq!(w.backlog_minus(10).backlog(), 0);
        assert_eq!(w.backlog_minus(10).idle(), 3);
        let full = Word(MAX_WORKERS as u64 * IDLE_ONE);
        assert_eq!(
            (full.idle(), full.backlog(), full.phase()),
            (MAX_WORKERS, 0, CREATED)
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
        assert_eq!(
            admit(Word(at_max.0 + BACKLOG_ONE).load(Some(1))),
            Admit::Full
        );
        assert_eq!(admit(Word(0).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(BACKLOG_ONE).load(Some(1))), Admit::Full);
    }
}
