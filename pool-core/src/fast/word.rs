//! The admission word: everything a put needs to decide, in one `AtomicU64`, so the decision and
//! the reservation it makes (an idle worker, a unit of backlog) are one compare-exchange.
//!
//! ```text
//!  63              47 46                 20 19          4    3        2      1 0
//! +------------------+---------------------+-------------+--------+--------+-----+
//! | lead (17, signed)| jobs (27)           | idle (16)   | WAITERS| AT_MAX |phase|
//! +------------------+---------------------+-------------+--------+--------+-----+
//! ```
//!
//! *jobs* and *lead* are kept only when the pool has a capacity; they are the backlog of
//! `docs/semantics.md` ("Queue"): the queued jobs no worker on its way is committed to,
//!
//! ```text
//! backlog = max(0, jobs - max(0, lead)),   lead = (claimed + starting workers) - pending stops
//! ```
//!
//! A worker on its way (claimed, or starting) takes the first queue entry, which may be a stop
//! sentinel; the pool counts on it for a job only beyond the sentinels pending. Every event moves
//! the two counts by a fixed amount, whatever the order of jobs and sentinels in the queue, so
//! the word tracks the backlog exactly without knowing that order:
//!
//! | event | jobs | lead |
//! |---|---|---|
//! | a put queues a job | +1 | |
//! | a claim (a put claims an idle worker, a worker is spawned or started, a stop claims one) | | +1 |
//! | a worker takes a job | -1 | -1 if it held a claim |
//! | a worker takes a stop | | +1 unless it held a claim (the stop and the claim both end) |
//! | a worker with a claim finds nothing and parks | | -1 |
//! | a queued job is cancelled or evicted, or a put reserved but did not queue | -1 | |
//! | a stop is queued | | -1 |

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
const JOBS_SHIFT: u32 = IDLE_SHIFT + IDLE_BITS;
const JOBS_BITS: u32 = 27;
/// One queued job.
const JOB_ONE: u64 = 1 << JOBS_SHIFT;
const LEAD_SHIFT: u32 = JOBS_SHIFT + JOBS_BITS;
/// One unit of lead; the field is the top of the word, two's complement, so adding and
/// subtracting multiples of this with wrapping arithmetic moves it either way.
const LEAD_ONE: u64 = 1 << LEAD_SHIFT;
/// The most live workers a fast pool runs, so that `idle` always fits its 16 bits. A pool
/// configured with a larger (or no) maximum behaves as if at max once it has this many.
pub(crate) const MAX_WORKERS: usize = (1 << IDLE_BITS) - 1;
/// The largest capacity the word tracks (half the `jobs` field, so the jobs a put admitted by
/// spawning add beyond the capacity still fit). A larger capacity is treated as unbounded.
pub(crate) const MAX_TRACKED_CAPACITY: usize = 1 << (JOBS_BITS - 1);

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

    /// Queued jobs (when tracked).
    pub(crate) fn jobs(self) -> u64 {
        (self.0 >> JOBS_SHIFT) & ((1 << JOBS_BITS) - 1)
    }

    /// Workers on their way minus pending stops (when tracked).
    pub(crate) fn lead(self) -> i64 {
        (self.0 as i64) >> LEAD_SHIFT
    }

    /// The backlog the capacity limits (see the module docs).
    pub(crate) fn backlog(self) -> usize {
        (self.jobs() as i64 - self.lead().max(0)).max(0) as usize
    }

    /// `n` more queued jobs (negative: fewer).
    pub(crate) fn add_jobs(self, n: i64) -> Word {
        debug_assert!(self.jobs() as i64 + n >= 0, "queued jobs never go below 0");
        Word(self.0.wrapping_add((n as u64).wrapping_mul(JOB_ONE)))
    }

    /// Lead moved by `n`.
    pub(crate) fn add_lead(self, n: i64) -> Word {
        Word(self.0.wrapping_add((n as u64).wrapping_mul(LEAD_ONE)))
    }

    /// A put queued a job.
    pub(crate) fn job_queued(self) -> Word {
        self.add_jobs(1)
    }

    /// A queued (or reserved) job left without being taken: cancelled, evicted, refused.
    pub(crate) fn job_removed(self) -> Word {
        self.add_jobs(-1)
    }

    /// `n` new claims (claimed idle workers, spawned or started workers).
    pub(crate) fn claim(self, n: usize) -> Word {
        self.add_lead(n as i64)
    }

    /// A worker took a job; `claimed`: it held a claim, which ends with it.
    pub(crate) fn job_taken(self, claimed: bool) -> Word {
        self.add_jobs(-1).add_lead(-i64::from(claimed))
    }

    /// `k` stops were queued.
    pub(crate) fn stops_queued(self, k: usize) -> Word {
        self.add_lead(-(k as i64))
    }

    /// A worker took a stop; `claimed`: it held a claim (which ends with the stop).
    pub(crate) fn stop_taken(self, claimed: bool) -> Word {
        if claimed { self } else { self.add_lead(1) }
    }

    /// A worker with a claim found nothing and parks: its claim ends.
    pub(crate) fn claim_ended(self) -> Word {
        self.add_lead(-1)
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
            .add_jobs(7)
            .add_lead(-5);
        assert_eq!(w.phase(), STOPPING);
        assert!(w.at_max() && w.waiters() && w.stopped());
        assert_eq!((w.idle(), w.jobs(), w.lead(), w.backlog()), (3, 7, -5, 7));
        let w = w.add_lead(9);
        assert_eq!((w.idle(), w.jobs(), w.lead(), w.backlog()), (3, 7, 4, 3));
        assert!(w.at_max() && w.waiters() && w.phase() == STOPPING);
        let full = Word(MAX_WORKERS as u64 * IDLE_ONE)
            .add_jobs(2 * MAX_TRACKED_CAPACITY as i64 - 1)
            .add_lead(-(MAX_WORKERS as i64));
        assert_eq!(full.idle(), MAX_WORKERS);
        assert_eq!(full.jobs() as usize, 2 * MAX_TRACKED_CAPACITY - 1);
        assert_eq!(full.lead(), -(MAX_WORKERS as i64));
        let most = Word(0).add_lead(MAX_WORKERS as i64);
        assert_eq!(
            (most.lead(), most.jobs(), most.idle()),
            (MAX_WORKERS as i64, 0, 0)
        );
    }

    #[test]
    fn the_backlog_counts_claims_beyond_the_pending_stops() {
        // [J, J] with one worker on its way: it takes a job.
        let w = Word(0).job_queued().job_queued().claim(1);
        assert_eq!(w.backlog(), 1);
        // A stop queued: the claimed worker may take it instead, so it no longer counts.
        let s = w.stops_queued(1);
        assert_eq!(s.backlog(), 2);
        // The claimed worker takes the stop: still two jobs nobody is on the way for.
        assert_eq!(s.stop_taken(true).backlog(), 2);
        // A busy worker takes the stop instead: the claim counts for a job again.
        assert_eq!(s.stop_taken(false), w);
        // Taking a job with a claim, or without one, leaves one job.
        assert_eq!(w.job_taken(true).backlog(), 1);
        assert_eq!(w.job_taken(false).backlog(), 0);
        // More claims than jobs: nothing is backlog, and an extra job is still covered.
        let over = Word(0).claim(2).job_queued();
        assert_eq!(over.backlog(), 0);
        assert_eq!(over.job_queued().backlog(), 0);
        assert_eq!(over.claim_ended().job_queued().backlog(), 1);
        assert_eq!(over.job_removed(), Word(0).claim(2));
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
        assert_eq!(admit(at_max.job_queued().load(Some(1))), Admit::Full);
        assert_eq!(
            admit(at_max.job_queued().claim(1).stops_queued(1).load(Some(1))),
            Admit::Full
        );
        assert_eq!(
            admit(at_max.job_queued().claim(1).load(Some(1))),
            Admit::Enqueue
        );
        assert_eq!(admit(Word(0).load(Some(1))), Admit::Enqueue);
        assert_eq!(admit(Word(0).job_queued().load(Some(1))), Admit::Full);
    }
}
