//! Counting (README: "Events and stats"): the counters each worker writes alone (`Tally`), those
//! folded in from exited workers (`Retired`), and the two snapshots built from them, `Stats`
//! (taken under the state lock, with the word read while no lock-free claim is in flight) and
//! the `StopReport`.

use super::{Shared, State};
use crate::job::Job;
use crate::stats::{Stats, StopReport};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Job outcomes and caught hook panics.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) completed: AtomicU64,
    pub(super) panicked: AtomicU64,
    pub(super) hook_panics: AtomicU64,
}

impl Tally {
    /// Adds `n` to a counter that only the calling thread writes.
    pub(super) fn bump(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Release);
    }

    /// Adds one to a counter that several threads write.
    pub(super) fn bump_shared(c: &AtomicU64) {
        c.fetch_add(1, Ordering::AcqRel);
    }
}

/// Counters folded in from workers that exited.
#[derive(Default)]
pub(super) struct Retired {
    pub(super) completed: u64,
    pub(super) panicked: u64,
    pub(super) hook_panics: u64,
}

impl Shared {
    pub(super) fn stats(&self, st: &State) -> Stats {
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
            spawn_failures: st.spawn_failures,
            peak_workers: st.peak_workers,
            min: st.min,
            max: st.max,
            state: w.state(),
        }
    }

    /// Jobs in the queue now (`Stats::queued`).
    pub(super) fn queued_now(&self) -> usize {
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
    pub(super) fn totals(&self, st: &State) -> (u64, u64, u64) {
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

    pub(super) fn report(&self, st: &State, returned: Vec<Job>) -> StopReport {
        let (completed, panicked, _) = self.totals(st);
        StopReport {
            completed,
            panicked,
            cancelled: self.cancelled.load(Ordering::Acquire),
            still_running: st.num_threads,
            returned,
        }
    }
}
