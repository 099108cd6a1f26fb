//! The pool's policy as plain functions over plain numbers (twisted's `Team` idea): when to
//! spawn, queue, refuse, grow and shrink. The model's methods gather the numbers, call these,
//! and apply the answer; each function is tested here on its own.
//!
//! A recurring quantity is the *staying* workers, `live - pending_stops`: the workers that
//! will still be alive once every queued sentinel is taken. Sentinels are only taken, never
//! withdrawn, so a worker covered by a pending stop is leaving.

use crate::report::PoolState;

/// Where an incoming job goes (DECISIONS, "Admission", steps 1-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Step 1: stop was requested; refuse with `ShutDown`.
    ShutDown,
    /// Step 2: claim an idle worker, enqueue.
    ClaimIdle,
    /// Step 3: spawn a worker for it, enqueue.
    Spawn,
    /// Step 4: enqueue (the backlog has room).
    Enqueue,
    /// Step 5: the queue is full; the wait (if any) and then the policy decide.
    Full,
}

/// The numbers admission looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdmitInput {
    pub(crate) state: PoolState,
    /// Parked, unclaimed workers.
    pub(crate) idle: usize,
    /// Live workers.
    pub(crate) live: usize,
    /// Sentinels queued, not yet taken.
    pub(crate) pending_stops: usize,
    pub(crate) max: Option<usize>,
    /// Queued jobs beyond the workers on their way (starting or claimed), counting on those
    /// only beyond the pending stop sentinels (any of them may take one). In a settled pool,
    /// every queued job.
    pub(crate) backlog: usize,
    pub(crate) capacity: Option<usize>,
}

/// `n < bound`, where `None` is unbounded.
fn below(n: usize, bound: Option<usize>) -> bool {
    bound.is_none_or(|bound| n < bound)
}

/// `min(n, bound)`, where `None` is unbounded.
fn cap(n: usize, bound: Option<usize>) -> usize {
    bound.map_or(n, |bound| n.min(bound))
}

/// Admission steps 1-4 in order; `Full` when none applies.
///
/// Step 3 also spawns at `max` when every live worker is covered by a pending stop (a
/// resolution of DECISIONS: with `min = 0` a shrink can cover them all, and a job queued
/// behind those sentinels would have no worker left to run it).
pub(crate) fn admit(input: &AdmitInput) -> Admit {
    // Workers a pending stop sentinel is waiting for are leaving: they do not count toward `max`
    // (else a job queued behind their sentinels could be stranded).
    let staying = input.live.saturating_sub(input.pending_stops);
    match input.state {
        PoolState::Stopping | PoolState::Terminated => Admit::ShutDown,
        PoolState::Running if input.idle > 0 => Admit::ClaimIdle,
        PoolState::Running if below(staying, input.max) => Admit::Spawn,
        PoolState::Created | PoolState::Running if below(input.backlog, input.capacity) => {
            Admit::Enqueue
        }
        PoolState::Created | PoolState::Running => Admit::Full,
    }
}

/// Workers `start` creates: `max(min, min(backlog, max))`.
pub(crate) fn start_count(min: usize, max: Option<usize>, backlog: usize) -> usize {
    min.max(cap(backlog, max))
}

/// Workers `grow(n)` starts on a running pool: `min(n, max - live)`, saturating.
pub(crate) fn grow_count(n: usize, live: usize, max: Option<usize>) -> usize {
    cap(n, max.map(|max| max.saturating_sub(live)))
}

/// Sentinels `shrink(n)` enqueues: `min(n, live - min - pending_stops)`, saturating at 0,
/// so repeated shrinks before any sentinel is taken cannot go below `min`.
pub(crate) fn shrink_count(n: usize, live: usize, min: usize, pending_stops: usize) -> usize {
    n.min(live.saturating_sub(min).saturating_sub(pending_stops))
}

/// What `resize` does to a running pool once the new bounds are set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResizePlan {
    /// Workers to start (they look at the queue, then park).
    pub(crate) start: usize,
    /// Sentinels to enqueue.
    pub(crate) stop: usize,
}

/// Brings the staying workers into `[min, max]`: start `min - staying` if below `min`,
/// enqueue `staying - max` sentinels (through [`shrink_count`]) if above `max`.
///
/// The grow half counts pending stops too (a resolution of DECISIONS, which says
/// `min - live`): otherwise sentinels already queued would take the pool below the new
/// `min` for good, since idle timeouts never bring it back up.
pub(crate) fn resize_plan(
    live: usize,
    pending_stops: usize,
    min: usize,
    max: Option<usize>,
) -> ResizePlan {
    let staying = live - pending_stops;
    let excess = max.map_or(0, |max| staying.saturating_sub(max));
    ResizePlan {
        start: min.saturating_sub(staying),
        stop: shrink_count(excess, live, min, pending_stops),
    }
}

/// Whether an idle worker may exit by idle timeout now: only while the staying workers
/// exceed `min`, so the pool never ends up below `min` once pending sentinels are taken (a
/// resolution of DECISIONS, which says `live > min` and also "never below min").
pub(crate) fn may_retire_idle(live: usize, pending_stops: usize, min: usize) -> bool {
    live - pending_stops > min
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(idle: usize, live: usize, max: Option<usize>) -> AdmitInput {
        AdmitInput {
            state: PoolState::Running,
            idle,
            live,
            pending_stops: 0,
            max,
            backlog: 0,
            capacity: None,
        }
    }

    #[test]
    fn admission_refuses_once_stop_is_requested_even_with_idle_workers() {
        for state in [PoolState::Stopping, PoolState::Terminated] {
            let input = AdmitInput {
                state,
                ..running(3, 3, None)
            };
            assert_eq!(admit(&input), Admit::ShutDown);
        }
    }

    #[test]
    fn admission_prefers_an_idle_worker_over_spawning() {
        assert_eq!(admit(&running(1, 1, Some(8))), Admit::ClaimIdle);
    }

    #[test]
    fn admission_spawns_below_max_and_queues_at_max() {
        assert_eq!(admit(&running(0, 1, Some(2))), Admit::Spawn);
        assert_eq!(admit(&running(0, 2, Some(2))), Admit::Enqueue);
        assert_eq!(admit(&running(0, 1000, None)), Admit::Spawn);
    }

    #[test]
    fn admission_does_not_count_leaving_workers_toward_max() {
        // Spec §3 step 3: spawn while `workers - pending_stops < max`.
        let none_leaving = running(0, 2, Some(2));
        assert_eq!(admit(&none_leaving), Admit::Enqueue);
        let one_leaving = AdmitInput {
            pending_stops: 1,
            ..running(0, 2, Some(2))
        };
        assert_eq!(admit(&one_leaving), Admit::Spawn);
        let all_leaving = AdmitInput {
            pending_stops: 2,
            ..running(0, 2, Some(2))
        };
        assert_eq!(admit(&all_leaving), Admit::Spawn);
    }

    #[test]
    fn admission_queues_in_created_until_capacity_then_is_full() {
        let created = AdmitInput {
            state: PoolState::Created,
            idle: 0,
            live: 0,
            pending_stops: 0,
            max: Some(4),
            backlog: 1,
            capacity: Some(2),
        };
        assert_eq!(admit(&created), Admit::Enqueue);
        assert_eq!(
            admit(&AdmitInput {
                backlog: 2,
                ..created
            }),
            Admit::Full
        );
        assert_eq!(
            admit(&AdmitInput {
                capacity: None,
                backlog: 99,
                ..created
            }),
            Admit::Enqueue
        );
    }

    #[test]
    fn admission_at_max_with_full_backlog_is_full() {
        let input = AdmitInput {
            backlog: 3,
            capacity: Some(3),
            ..running(0, 2, Some(2))
        };
        assert_eq!(admit(&input), Admit::Full);
    }

    #[test]
    fn start_count_is_max_of_min_and_backlog_capped_by_max() {
        assert_eq!(start_count(2, Some(8), 0), 2);
        assert_eq!(start_count(2, Some(8), 5), 5);
        assert_eq!(start_count(2, Some(4), 9), 4);
        assert_eq!(start_count(0, None, 9), 9);
        assert_eq!(start_count(3, Some(3), 1), 3);
    }

    #[test]
    fn grow_count_stops_at_max() {
        assert_eq!(grow_count(5, 2, Some(4)), 2);
        assert_eq!(grow_count(1, 2, Some(4)), 1);
        assert_eq!(grow_count(5, 6, Some(4)), 0);
        assert_eq!(grow_count(5, 6, None), 5);
    }

    #[test]
    fn shrink_count_subtracts_min_and_pending_stops() {
        assert_eq!(shrink_count(2, 5, 1, 0), 2);
        assert_eq!(shrink_count(9, 5, 1, 0), 4);
        assert_eq!(shrink_count(9, 5, 1, 3), 1);
        assert_eq!(shrink_count(9, 5, 1, 4), 0);
        assert_eq!(shrink_count(9, 1, 3, 0), 0);
    }

    #[test]
    fn resize_plan_brings_staying_workers_into_bounds() {
        // Grow to min.
        assert_eq!(
            resize_plan(1, 0, 3, Some(5)),
            ResizePlan { start: 2, stop: 0 }
        );
        // Shrink to max.
        assert_eq!(
            resize_plan(5, 0, 1, Some(2)),
            ResizePlan { start: 0, stop: 3 }
        );
        // Pending stops already cover part of the excess.
        assert_eq!(
            resize_plan(5, 2, 1, Some(2)),
            ResizePlan { start: 0, stop: 1 }
        );
        // Pending stops would take the pool below the new min: replace them.
        assert_eq!(
            resize_plan(4, 3, 2, Some(4)),
            ResizePlan { start: 1, stop: 0 }
        );
        // Within bounds: nothing.
        assert_eq!(resize_plan(3, 0, 1, None), ResizePlan { start: 0, stop: 0 });
    }

    #[test]
    fn idle_retirement_needs_staying_workers_above_min() {
        assert!(may_retire_idle(3, 0, 2));
        assert!(!may_retire_idle(2, 0, 2));
        assert!(!may_retire_idle(3, 1, 2));
        assert!(may_retire_idle(1, 0, 0));
        assert!(!may_retire_idle(1, 1, 0));
    }
}
