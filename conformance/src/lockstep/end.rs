//! The end of a case: every gate opened and hold let go (`release_all`), the final stop followed
//! until every worker is gone, each handle's result compared with the model's, and the ledger
//! of what became of every job checked (`settle_ledger`, `src/ledger.rs`).

use std::sync::Arc;
use std::time::Instant;

use pool_core::{JoinError, Pool, ResultQueue};
use spec_model as m;

use crate::kit::{Plan, T, Ticket};
use crate::ledger::Fate;

use super::{Driver, Res};

impl Driver {
    /// Opens every gate and lets every held worker go.
    pub(super) fn release_all(&mut self) {
        // No hook holds from now on, and every hold is let go, before any gate opens: a
        // job released below may run into its hook at once.
        self.releasing = true;
        self.logs
            .no_holds
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for (t, _) in &self.tickets {
            t.unhold();
        }
        for (t, _) in &self.tickets {
            if t.plan().is_none() {
                t.open(Plan::default());
            }
        }
    }

    /// Ends a case: releases everything, stops the pool (if it is still ours) and follows it
    /// until every worker is gone, then compares results and checks the ledger.
    pub(super) fn finish_case(
        &mut self,
        pool: Option<&Arc<dyn Pool>>,
        rq: Option<&mut ResultQueue<'_, u64>>,
    ) -> Res {
        self.release_all();
        self.held.clear();
        self.sync(pool.map(|p| &**p))?;
        if let Some(pool) = pool {
            self.stop(pool, u64::MAX / 4)?; // no deadline in reach
        }
        let deadline = Instant::now() + T;
        loop {
            self.sync(pool.map(|p| &**p))?;
            let threads_gone = self.model.stats().workers == 0 && self.pending_stops.is_empty();
            let stopped = matches!(
                self.model.state(),
                m::PoolState::Terminated | m::PoolState::Created
            );
            if threads_gone && stopped {
                break;
            }
            if !self.stream.wait_beyond(self.cursor, deadline) {
                return Err(self.describe_wait());
            }
        }
        if let Some(rq) = rq {
            self.poll(rq, false)?;
        }
        // Every handle is over now; compare what each gives.
        for (job, h) in std::mem::take(&mut self.handles) {
            let Ok(result) = h.try_join() else {
                return Err(format!(
                    "the handle of {job} is not finished after the stop"
                ));
            };
            let status = self.model.status(job);
            let disposal = self.model.disposal(job);
            let tag = self.tags.get(&job).copied();
            let ok = match (&result, status, disposal) {
                (Ok(v), Some(m::JobStatus::Completed), _) => Some(*v) == tag,
                (Ok(v), _, Some(m::Disposal::Completed)) => Some(*v) == tag,
                (Err(JoinError::Panicked(_)), Some(m::JobStatus::Panicked), _) => true,
                (Err(JoinError::Panicked(_)), _, Some(m::Disposal::Panicked)) => true,
                (Err(JoinError::Cancelled), Some(m::JobStatus::Cancelled), _) => true,
                (Err(JoinError::Cancelled), _, Some(m::Disposal::Cancelled)) => true,
                (Err(JoinError::Dropped), _, Some(m::Disposal::Dropped)) => true,
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "the handle of {job} gives {result:?}; the model has it {status:?} ({disposal:?})"
                ));
            }
        }
        self.settle_ledger()
    }

    /// Fills in the fates the model decided and checks the ledger.
    pub(super) fn settle_ledger(&mut self) -> Res {
        for (&job, &tag) in &self.tags {
            let fate = match self.model.status(job) {
                Some(m::JobStatus::Completed) => Fate::Completed,
                Some(m::JobStatus::Panicked) => Fate::Panicked,
                Some(m::JobStatus::Cancelled) => Fate::Cancelled,
                Some(m::JobStatus::Returned) => Fate::Returned,
                Some(m::JobStatus::Evicted) => Fate::Evicted,
                other => {
                    return Err(format!("{job} is still {other:?} after the pool stopped"));
                }
            };
            self.ledger.set(tag, fate);
        }
        let s = self.model.stats();
        let counters = crate::ledger::Counters {
            completed: s.completed,
            panicked: s.panicked,
            cancelled: s.cancelled,
            rejected: s.rejected,
            returned: self.model.accounted().returned,
        };
        let tickets: Vec<&Ticket> = self.tickets.iter().map(|(t, _)| t).collect();
        self.ledger.check(&tickets, Some(counters))
    }
}
