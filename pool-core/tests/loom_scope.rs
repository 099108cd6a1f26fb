//! Loom models of a scope's race: its waiting thread taking back a job while a worker takes the
//! same job from the queue, against the count of unfinished jobs the scope waits on.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-core --release --test loom_scope`
//!
//! A job run twice or never, or a scope that returns while a worker still runs its job, fails
//! the assertions; a waiter that misses the last job's finish is a loom deadlock.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use pool_core::{Builder, Clock, FastPool, Pool, PoolExt};

fn one_worker() -> FastPool {
    let (clock, _hand) = Clock::manual();
    let pool = Builder::new().fixed(1).clock(clock).fast().unwrap();
    pool
}

#[test]
fn a_scoped_job_runs_once_whether_a_worker_or_the_waiting_scope_takes_it() {
    loom::model(|| {
        let pool = one_worker();
        thread::yield_now();
        let runs = AtomicUsize::new(0);
        pool.scope(|s| {
            s.spawn(|| runs.fetch_add(1, Ordering::SeqCst));
        });
        // Read right after the scope returned: a worker still running the job would show 0.
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(report.completed + report.cancelled, 1);
    });
}

#[test]
fn a_scoped_join_racing_the_worker_gets_the_value_exactly_once() {
    loom::model(|| {
        let pool = one_worker();
        thread::yield_now();
        let runs = AtomicUsize::new(0);
        let v = pool.scope(|s| {
            let h = s.spawn(|| runs.fetch_add(1, Ordering::SeqCst) + 7);
            h.join().unwrap()
        });
        assert_eq!(v, 7);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        pool.stop(Duration::from_secs(1));
    });
}
