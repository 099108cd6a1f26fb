//! Loom models of the fast backend's own races, one per race, named for the property.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-core --release --test loom_fast`
//!
//! The queue models drive the lock-free job queue directly (through `pool_core::__fast_loom`,
//! which exists only under loom); under loom a block holds two slots, so three pushes cross a
//! block boundary. The pool models drive a `FastPool` with a manual clock, so a lost wakeup shows
//! up as loom's deadlock detection (a `join` or a `stop` that never returns) and a lost or
//! duplicated job as a failed assertion.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use pool_core::__fast_loom::{Popped, Queue};
use pool_core::{Builder, Clock, FastPool, Job, Pool, PoolExt};

/// Offers the scheduler a switch. Loom 0.7's DPOR only weighs a thread's *pending* operation
/// against past accesses, so a spawned thread whose first access is a plain load is never run
/// ahead of a parent that only loads too; yielding after a spawn makes loom explore those
/// schedules (without it, some of these models explore a single interleaving).
fn let_others_run() {
    thread::yield_now();
}

/// Runs `body` under loom (bounds from the `LOOM_*` variables) and prints, as the kit's models
/// do, how many interleavings it explored and whether that was its whole space ("exhaustive")
/// or loom stopped at its time or count cap ("stopped at cap"; `.ci/loom.sh` fails then).
fn explore(name: &str, body: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&n);
    let started = std::time::Instant::now();
    let builder = loom::model::Builder::new();
    let (cap, permutations, interval) = (
        builder.max_duration,
        builder.max_permutations,
        builder.checkpoint_interval,
    );
    builder.check(move || {
        count.fetch_add(1, SeqCst);
        body();
    });
    let n = n.load(SeqCst);
    let elapsed = started.elapsed();
    // loom gives up only at a checkpoint, after `k * interval - 1` interleavings.
    let at_checkpoint = interval > 0 && (n + 1) % interval == 0;
    let spent = cap.is_some_and(|d| elapsed >= d) || permutations.is_some_and(|p| n + 1 >= p);
    let status = if at_checkpoint && spent {
        "stopped at cap"
    } else {
        "exhaustive"
    };
    use std::io::Write as _;
    let line = format!("loom: {name}: {n} interleavings in {elapsed:.1?}: {status}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
    explore(
        "concurrent_pushes_get_dense_positions_across_a_block",
        || {
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
        },
    );
}

/// A consumer racing a producer across a block boundary (the consumer may take the block's last
/// slot while the producer is still linking the next block): every item is taken exactly once,
/// in order, and the blocks are freed by whoever reads their last slot.
#[test]
fn a_consumer_racing_a_producer_takes_each_item_once_in_order() {
    explore(
        "a_consumer_racing_a_producer_takes_each_item_once_in_order",
        || {
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
        },
    );
}

/// A stop registered while a job is being pushed and a consumer is popping: the job lands either
/// before the stop's boundary (and is taken before the stop) or at/after it (and the stop is
/// taken first). A consumer never takes a job from behind a stop that is due, even when it pops
/// on a tail it saw before the stop was registered (`pop_seen`, as workers do).
#[test]
fn a_job_pushed_after_a_stop_never_overtakes_it() {
    fn take(q: &Queue, seen_tail: &mut u64) -> Option<Option<u64>> {
        match q.pop_seen(true, seen_tail) {
            Popped::Job(pos, _) => Some(Some(pos)),
            Popped::StopDue => {
                q.take_stop();
                Some(None)
            }
            Popped::Empty => None,
            Popped::Dead(_) => panic!("nothing dead was pushed"),
        }
    }
    explore("a_job_pushed_after_a_stop_never_overtakes_it", || {
        let q = Arc::new(Queue::default());
        assert_eq!(q.push(Job::new(|| ())), 0);
        let p = q.clone();
        let producer = thread::spawn(move || p.push(Job::new(|| ())));
        let c = q.clone();
        let consumer = thread::spawn(move || {
            // The first pop reads (and remembers) the tail; the second may pop on it.
            let mut seen_tail = 0;
            let got: Vec<_> = (0..2).filter_map(|_| take(&c, &mut seen_tail)).collect();
            (got, seen_tail)
        });
        let_others_run();
        // As `shrink` does, under the pool's lock: behind everything reserved so far.
        let stop_at = q.register_stop();
        let pos = producer.join().unwrap();
        let (mut order, mut seen_tail) = consumer.join().unwrap();
        while order.len() < 3 {
            order.push(take(&q, &mut seen_tail).expect("a job or the stop is missing"));
        }
        let expected = if pos < stop_at {
            vec![Some(0), Some(pos), None]
        } else {
            vec![Some(0), None, Some(pos)]
        };
        assert_eq!(order, expected, "stop at {stop_at}, job at {pos}");
    });
}

/// A put racing the only worker on its way to park: the worker either sees the job when it
/// re-checks the queue after registering as idle, or the put sees the worker idle and wakes it.
/// Either way the job runs and `join` returns (a lost wakeup is a deadlock here).
#[test]
fn a_put_racing_a_parking_worker_never_loses_the_wakeup() {
    explore(
        "a_put_racing_a_parking_worker_never_loses_the_wakeup",
        || {
            let pool = fast(Builder::new().fixed(1));
            let_others_run();
            let h = pool.submit(|| 7).unwrap();
            assert_eq!(h.join().unwrap(), 7);
            let report = pool.stop(Duration::from_secs(1));
            assert!(report.is_clean());
            assert_eq!(report.completed, 1);
        },
    );
}
