//! Conservation of jobs (`docs/semantics.md` §6), checked at the end of every test of the kit:
//! every job submitted ends in exactly one way, and no job runs twice.
//!
//! ```text
//! submitted = completed + panicked + cancelled + returned (stop_now, stop of a Created pool)
//!           + refused with the job handed back (Full, ShutDown) + evicted (DiscardOldest)
//! ```
//!
//! Each kit job carries a ticket that counts its runs and notices when its closure is dropped
//! without running, so the ledger checks the jobs themselves, not only the pool's counters.

use std::collections::BTreeMap;

use crate::kit::Ticket;

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Ran and returned.
    Completed,
    /// Ran and panicked.
    Panicked,
    /// Cancelled while queued: never ran, and the pool dropped it.
    Cancelled,
    /// Handed back by a stop (run or dropped by the test afterwards).
    Returned,
    /// Given to the `DiscardOldest` eviction handler (run or dropped by the test afterwards).
    Evicted,
    /// Refused, with the job handed back in the error (and dropped by the test).
    Refused,
}

/// The pool's counters the ledger balances against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    /// Refused plus evicted (`Stats::rejected`).
    pub(crate) rejected: u64,
    /// Jobs handed back by stops (the total length of every `StopReport::returned`).
    pub(crate) returned: u64,
}

/// What became of each job of a test, by its tag.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    fates: BTreeMap<u64, Fate>,
}

impl Ledger {
    /// Records (or corrects) the fate of job `tag`.
    pub(crate) fn set(&mut self, tag: u64, fate: Fate) {
        self.fates.insert(tag, fate);
    }

    /// Checks that every ticket has exactly one fate its runs agree with, that none ran twice,
    /// and (given the pool's counters) that the counts balance.
    pub(crate) fn check(
        &self,
        tickets: &[&Ticket],
        counters: Option<Counters>,
    ) -> Result<(), String> {
        let mut count = BTreeMap::<&'static str, u64>::new();
        for t in tickets {
            let tag = t.tag();
            let runs = t.runs();
            if runs > 1 {
                return Err(format!("conservation: job #{tag} ran {runs} times"));
            }
            let Some(&fate) = self.fates.get(&tag) else {
                return Err(format!(
                    "conservation: job #{tag} was lost: submitted, but it neither ran, nor was \
                     cancelled, handed back or refused (runs {runs}, dropped {})",
                    t.dropped_unrun()
                ));
            };
            let consistent = match fate {
                Fate::Completed | Fate::Panicked => runs == 1,
                Fate::Cancelled | Fate::Refused => runs == 0 && t.dropped_unrun(),
                Fate::Returned | Fate::Evicted => runs == 1 || t.dropped_unrun(),
            };
            if !consistent {
                return Err(format!(
                    "conservation: job #{tag} is {fate:?} but ran {runs} times (dropped unrun: {})",
                    t.dropped_unrun()
                ));
            }
            let bucket = match fate {
                Fate::Completed => "completed",
                Fate::Panicked => "panicked",
                Fate::Cancelled => "cancelled",
                Fate::Returned => "returned",
                Fate::Evicted | Fate::Refused => "rejected",
            };
            *count.entry(bucket).or_default() += 1;
        }
        if let Some(c) = counters {
            let get = |k| count.get(k).copied().unwrap_or(0);
            let mine = (
                get("completed"),
                get("panicked"),
                get("cancelled"),
                get("rejected"),
                get("returned"),
            );
            let pools = (c.completed, c.panicked, c.cancelled, c.rejected, c.returned);
            if mine != pools {
                return Err(format!(
                    "conservation: the jobs ended as (completed, panicked, cancelled, rejected, \
                     returned) = {mine:?}, the pool counts {pools:?} (submitted {})",
                    tickets.len()
                ));
            }
        }
        Ok(())
    }
}
