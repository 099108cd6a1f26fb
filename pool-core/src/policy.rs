//! The pool's policy as plain functions over plain numbers: when to hand a job to an idle worker,
//! spawn one, queue it, or call the queue full; how many workers `start`, `grow` and `shrink`
//! touch. Every backend calls these; they are tested here without threads.

/// What to do with a job being admitted to a pool that accepts work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Queue it and claim an idle worker for it.
    ClaimIdle,
    /// Queue it and start a new worker for it.
    Spawn,
    /// Queue it; a busy worker will take it later.
    Enqueue,
    /// The queue is full.
    Full,
}

/// The numbers admission looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    /// The pool is running (not merely created).
    pub(crate) running: bool,
    /// Parked, unclaimed workers.
    pub(crate) idle: usize,
    /// Live workers that will stay: live minus pending stop sentinels (a worker a sentinel is
    /// waiting for is leaving; counting it would strand jobs queued behind the sentinel).
    pub(crate) staying: usize,
    /// Most workers (`None`: unbounded).
    pub(crate) max: Option<usize>,
    /// Queued jobs no claimed or starting worker is already committed to.
    pub(crate) backlog: usize,
    /// Queue capacity (`None`: unbounded).
    pub(crate) capacity: Option<usize>,
}

/// Decides admission: an idle worker first, then a new worker below `max` (a worker that is
/// finishing a job is not spare capacity), then the queue, if it has room.
pub(crate) fn admit(l: Load) -> Admit {
    if l.running && l.idle > 0 {
        Admit::ClaimIdle
    } else if l.running && l.max.is_none_or(|m| l.staying < m) {
        Admit::Spawn
    } else if l.capacity.is_none_or(|c| l.backlog < c) {
        Admit::Enqueue
    } else {
        Admit::Full
    }
}

/// Workers `start` creates: `max(min, min(backlog, max))`.
pub(crate) fn start_count(min: usize, max: Option<usize>, backlog: usize) -> usize {
    min.max(max.map_or(backlog, |m| backlog.min(m)))
}

/// Workers `resize` starts to bring the staying workers up to `min`.
pub(crate) fn refill_count(min: usize, live: usize, pending_stops: usize) -> usize {
    min.saturating_sub(live.saturating_sub(pending_stops))
}

/// Whether a parked worker whose keep-alive ran out may exit: only while the workers that stay
/// (live minus pending stops) are above `min`.
pub(crate) fn may_retire(live: usize, pending_stops: usize, min: usize) -> bool {
    live.saturating_sub(pending_stops) > min
}

/// Workers `grow(n)` creates: `min(n, max - live)`.
pub(crate) fn grow_count(n: usize, live: usize, max: Option<usize>) -> usize {
    max.map_or(n, |m| n.min(m.saturating_sub(live)))
}

/// Sentinels `shrink(n)` queues: `min(n, live - min - pending_stops)`, never negative.
pub(crate) fn shrink_count(n: usize, live: usize, min: usize, pending_stops: usize) -> usize {
    n.min(live.saturating_sub(min).saturating_sub(pending_stops))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Load {
        Load {
            running: true,
            idle: 0,
            staying: 2,
            max: Some(4),
            backlog: 0,
            capacity: Some(1),
        }
    }

    #[test]
    fn an_idle_worker_is_claimed_before_spawning() {
        assert_eq!(admit(Load { idle: 1, ..load() }), Admit::ClaimIdle);
    }

    #[test]
    fn no_idle_worker_and_room_below_max_spawns() {
        assert_eq!(admit(load()), Admit::Spawn);
        assert_eq!(
            admit(Load {
                max: None,
                staying: 1000,
                ..load()
            }),
            Admit::Spawn
        );
    }

    #[test]
    fn at_max_the_job_queues_while_there_is_room() {
        assert_eq!(
            admit(Load {
                staying: 4,
                ..load()
            }),
            Admit::Enqueue
        );
        assert_eq!(
            admit(Load {
                staying: 4,
                backlog: 1,
                ..load()
            }),
            Admit::Full
        );
        assert_eq!(
            admit(Load {
                staying: 4,
                backlog: 99,
                capacity: None,
                ..load()
            }),
            Admit::Enqueue
        );
    }

    #[test]
    fn before_start_jobs_only_queue() {
        let l = Load {
            running: false,
            idle: 0,
            staying: 0,
            ..load()
        };
        assert_eq!(admit(l), Admit::Enqueue);
        assert_eq!(admit(Load { backlog: 1, ..l }), Admit::Full);
    }

    #[test]
    fn start_creates_min_backlog_max_workers() {
        assert_eq!(start_count(2, Some(8), 0), 2);
        assert_eq!(start_count(2, Some(8), 5), 5);
        assert_eq!(start_count(2, Some(8), 50), 8);
        assert_eq!(start_count(0, None, 50), 50);
    }

    #[test]
    fn a_worker_with_a_pending_stop_does_not_count_toward_max() {
        // min=0, max=1: the only worker is busy and a shrink sentinel waits for it. A new job must
        // get a new worker, or it would sit behind the sentinel with nobody left to run it.
        let l = Load {
            staying: 0,
            max: Some(1),
            ..load()
        };
        assert_eq!(admit(l), Admit::Spawn);
    }

    #[test]
    fn resize_and_keep_alive_count_pending_stops() {
        assert_eq!(refill_count(2, 4, 3), 1);
        assert_eq!(refill_count(2, 4, 0), 0);
        assert!(!may_retire(3, 1, 2));
        assert!(may_retire(3, 0, 2));
    }

    #[test]
    fn grow_stops_at_max() {
        assert_eq!(grow_count(5, 2, Some(4)), 2);
        assert_eq!(grow_count(5, 4, Some(4)), 0);
        assert_eq!(grow_count(5, 4, None), 5);
    }

    #[test]
    fn shrink_counts_pending_stops_and_stops_at_min() {
        assert_eq!(shrink_count(10, 5, 2, 0), 3);
        assert_eq!(shrink_count(10, 5, 2, 2), 1);
        assert_eq!(shrink_count(10, 5, 2, 3), 0);
        assert_eq!(shrink_count(10, 1, 2, 0), 0);
        assert_eq!(shrink_count(1, 5, 2, 0), 1);
    }
}
