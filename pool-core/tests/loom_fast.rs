//! Loom models of the fast backend's own races, one per race, named for the property.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-core --release --test loom_fast`
//!
//! The queue models drive the lock-free job queue directly (through `pool_core::__fast_loom`,
//! which exists only under loom); under loom a block holds two slots, so three pushes cross a
//! block boundary. The pool models drive a `FastPool` with a manual clock, so a lost wakeup shows
//! up as loom's deadlock detection (a `join` or a `stop` that never returns) and a lost or
//! duplicated job as a failed assertion.
#![cfg(all(loom, feature = "fast"))]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use pool_core::__fast_loom::{Popped, Queue};
use pool_core::{Builder, Clock, FastPool, Job, JoinError, Pool, PoolExt};

/// Offers the scheduler a switch. Loom 0.7's DPOR only weighs a thread's *pending* operation
/// against past accesses, so a spawned thread whose first access is a plain load is never run
/// ahead of a parent that only loads too; yielding after a spawn makes loom explore those
/// schedules (without it, some of these models explore a single interleaving).
fn let_others_run() {
    thread::yield_now();
}

fn fast(b: Builder) -> FastPool {
    let (clock, _hand) = Clock::manual();
    b.clock(clock).fast().unwrap()
}

/// Pops everything left (stops are not registered in these models).
fn drain(q: &Queue, into: &mut Vec<u64>) {
    loop {
        match q.pop(true) {
            Popped::Job(pos, _) => into.push(pos),
            Popped::Dead(pos) => into.push(pos),
            Popped::Empty => return,
            Popped::StopDue => panic!("no stop was registered"),
        }
    }
}

/// Two producers race across a block boundary (one of them takes the block's last slot and links
/// the next block while the other waits): the positions handed out are 0, 1, 2, so they can be
/// job ids, and each item is taken exactly once.
#[test]
fn concurrent_pushes_get_dense_positions_across_a_block() {
    loom::model(|| {
        let q = Arc::new(Queue::default());
        assert_eq!(q.push(Job::new(|| ())), 0);
        let producers: Vec<_> = (0..2)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || {
                    if i == 0 {
                        q.push(Job::new(|| ()))
                    } else {
                        q.push_dead()
                    }
                })
            })
            .collect();
        let_others_run();
        let mut pushed: Vec<u64> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        pushed.sort_unstable();
        assert_eq!(pushed, vec![1, 2], "positions are dense");
        let mut taken = Vec::new();
        drain(&q, &mut taken);
        assert_eq!(taken, vec![0, 1, 2], "each item taken once, in order");
    });
}

/// A consumer racing a producer across a block boundary (the consumer may take the block's last
/// slot while the producer is still linking the next block): every item is taken exactly once,
/// in order, and the blocks are freed by whoever reads their last slot.
#[test]
fn a_consumer_racing_a_producer_takes_each_item_once_in_order() {
    loom::model(|| {
        let q = Arc::new(Queue::default());
        assert_eq!(q.push(Job::new(|| ())), 0);
        let p = q.clone();
        let producer = thread::spawn(move || {
            assert_eq!(p.push(Job::new(|| ())), 1);
            assert_eq!(p.push_dead(), 2);
        });
        let_others_run();
        let mut taken = Vec::new();
        for _ in 0..3 {
            match q.pop(true) {
                Popped::Job(pos, _) | Popped::Dead(pos) => taken.push(pos),
                Popped::Empty => {}
                Popped::StopDue => panic!("no stop was registered"),
            }
        }
        producer.join().unwrap();
        drain(&q, &mut taken);
        assert_eq!(taken, vec![0, 1, 2], "each item taken once, in order");
    });
}

/// A stop registered while a job is being pushed and a consumer is popping: the job lands either
/// before the stop's boundary (and is taken before the stop) or at/after it (and the stop is
/// taken first). A consumer never takes a job from behind a stop that is due.
#[test]
fn a_job_pushed_after_a_stop_never_overtakes_it() {
    fn take(q: &Queue) -> Option<Option<u64>> {
        match q.pop(true) {
            Popped::Job(pos, _) => Some(Some(pos)),
            Popped::StopDue => {
                q.take_stop();
                Some(None)
            }
            Popped::Empty => None,
            Popped::Dead(_) => panic!("nothing dead was pushed"),
        }
    }
    loom::model(|| {
        let q = Arc::new(Queue::default());
        let p = q.clone();
        let producer = thread::spawn(move || p.push(Job::new(|| ())));
        let c = q.clone();
        let consumer = thread::spawn(move || take(&c));
        let_others_run();
        // As `shrink` does, under the pool's lock: behind everything reserved so far.
        let stop_at = q.register_stop();
        let pos = producer.join().unwrap();
        let mut order: Vec<_> = consumer.join().unwrap().into_iter().collect();
        while order.len() < 2 {
            order.push(take(&q).expect("the job or the stop is missing"));
        }
        let expected = if pos < stop_at {
            vec![Some(pos), None]
        } else {
            vec![None, Some(pos)]
        };
        assert_eq!(order, expected, "stop at {stop_at}, job at {pos}");
    });
}

/// A put racing the only worker on its way to park: the worker either sees the job when it
/// re-checks the queue after registering as idle, or the put sees the worker idle and wakes it.
/// Either way the job runs and `join` returns (a lost wakeup is a deadlock here).
#[test]
fn a_put_racing_a_parking_worker_never_loses_the_wakeup() {
    loom::model(|| {
        let pool = fast(Builder::new().fixed(1));
        pool.start().unwrap();
        let_others_run();
        let h = pool.submit(|| 7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(report.completed, 1);
    });
}

/// A put racing `stop`: it is refused (handed back) or it runs before the worker exits; it never
/// lands behind the last stop, and `stop` never hangs.
#[test]
fn a_put_racing_stop_never_strands_a_job() {
    loom::model(|| {
        let pool = Arc::new(fast(Builder::new().fixed(1)));
        pool.start().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || {
            p.execute(move || {
                r.fetch_add(1, SeqCst);
            })
            .is_ok()
        });
        let_others_run();
        let report = pool.stop(Duration::from_secs(1));
        let accepted = submitter.join().unwrap();
        assert!(report.is_clean());
        assert_eq!(ran.load(SeqCst), usize::from(accepted));
        assert_eq!(report.completed, u64::from(accepted));
        assert_eq!(pool.stats().rejected, u64::from(!accepted));
        assert_eq!(pool.stats().queued, 0);
    });
}

/// `cancel` racing the worker taking the job: exactly one wins, and the counters say which.
#[test]
fn cancel_racing_a_worker_has_exactly_one_winner() {
    loom::model(|| {
        let pool = Arc::new(fast(Builder::new().fixed(1)));
        pool.start().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let h = Arc::new(
            pool.submit(move || {
                r.fetch_add(1, SeqCst);
            })
            .unwrap(),
        );
        let h2 = h.clone();
        let canceller = thread::spawn(move || h2.cancel());
        let_others_run();
        let cancelled = canceller.join().unwrap();
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(ran.load(SeqCst) + usize::from(cancelled), 1);
        assert_eq!(report.cancelled, u64::from(cancelled));
        assert_eq!(report.completed, u64::from(!cancelled));
        assert_eq!(
            pool.stats().queued,
            0,
            "a skipped cancelled job is not queued"
        );
        match Arc::try_unwrap(h).unwrap().join() {
            Ok(()) => assert!(!cancelled),
            Err(JoinError::Cancelled) => assert!(cancelled),
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}

/// A put racing a shrink that retires the only worker: the job still runs (a worker is spawned
/// for it when the old one is leaving), and the pool stops cleanly.
#[test]
fn a_put_racing_shrink_never_strands_a_job() {
    loom::model(|| {
        let pool = Arc::new(fast(Builder::new().min(0).max(1)));
        pool.start().unwrap();
        pool.grow(1);
        let p = pool.clone();
        let shrinker = thread::spawn(move || p.shrink(1));
        let_others_run();
        let h = pool.submit(|| 7).unwrap();
        assert!(shrinker.join().unwrap() <= 1);
        assert_eq!(
            h.join().unwrap(),
            7,
            "the job ran (a stranded one deadlocks here)"
        );
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(report.completed, 1);
    });
}

/// A put racing the keep-alive of the only (idle, above-`min`) worker: either the worker is
/// claimed before it times out, or it leaves and the put gets a new worker. The job runs once.
#[test]
fn a_put_racing_an_idle_timeout_is_run_by_exactly_one_worker() {
    loom::model(|| {
        let (clock, hand) = Clock::manual();
        let pool = Arc::new(
            Builder::new()
                .min(0)
                .max(1)
                .keep_alive(Duration::from_secs(1))
                .clock(clock)
                .fast()
                .unwrap(),
        );
        pool.start().unwrap();
        pool.grow(1);
        let ticker = thread::spawn(move || hand.advance(Duration::from_secs(1)));
        let_others_run();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let h = pool
            .submit(move || {
                r.fetch_add(1, SeqCst);
            })
            .unwrap();
        ticker.join().unwrap();
        h.join().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(report.completed, 1);
        assert!(pool.stats().peak_workers <= 1, "never above max");
    });
}

/// A put racing `start` on a pool with `min(0)`: `start` either counts the queued job (and
/// spawns a worker for it) or has started before the put decides (and the put spawns one); the
/// job runs once, and never more than `max` workers exist.
#[test]
fn a_put_racing_start_is_counted_by_start_or_spawns_its_own_worker() {
    loom::model(|| {
        let pool = Arc::new(fast(Builder::new().min(0).max(1)));
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || {
            p.execute(move || {
                r.fetch_add(1, SeqCst);
            })
            .unwrap();
        });
        let_others_run();
        assert!(pool.start().unwrap() <= 1);
        submitter.join().unwrap();
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(ran.load(SeqCst), 1);
        assert_eq!(report.completed, 1);
        assert!(pool.stats().peak_workers <= 1, "never above max");
    });
}
