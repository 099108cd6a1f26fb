//! Scoped jobs (issue 12 item 8): jobs that borrow from the caller's stack, all finished before
//! `scope` returns, panics re-raised after every job ended, refused jobs run on the spawner, and
//! jobs no worker started taken back by the waiting thread, so a scope inside a job of a
//! one-worker pool completes. Every test name contains "scope" (miri runs them:
//! `cargo +nightly miri test -p pool-core --test scope`).
#![cfg(not(loom))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pool_core::prelude::*;
use pool_core::{Stats, StopReport};

/// Generous deadlines (miri's clock runs with the instructions it interprets, much faster).
const LONG: Duration = Duration::from_secs(if cfg!(miri) { 3600 } else { 60 });

fn running_fast(n: usize) -> FastPool {
    let pool = Builder::new().fixed(n).fast().expect("valid configuration");
    assert_eq!(
        pool.start(),
        Err(StartError::AlreadyStarted),
        "built running"
    );
    pool
}

fn running_classic(n: usize) -> ClassicPool {
    let pool = Builder::new()
        .fixed(n)
        .classic()
        .expect("valid configuration");
    assert_eq!(
        pool.start(),
        Err(StartError::AlreadyStarted),
        "built running"
    );
    pool
}

fn stop(pool: &dyn Pool) -> (StopReport, Stats) {
    let report = pool.stop(LONG);
    assert!(report.is_clean(), "the pool stopped cleanly");
    (report, pool.stats())
}

/// A count others wait on, with a deadline (no sleeping).
#[derive(Default)]
struct Count {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Count {
    fn add(&self) {
        *self.n.lock().unwrap() += 1;
        self.cv.notify_all();
    }
    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + LONG;
        let mut g = self.n.lock().unwrap();
        while *g < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "waited {LONG:?} for {n}, saw {}", *g);
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }
}

const JOBS: usize = if cfg!(miri) { 8 } else { 200 };

#[test]
fn scope_jobs_borrow_from_the_stack_and_all_finish_before_scope_returns() {
    for pool in [
        Box::new(running_fast(3)) as Box<dyn Pool>,
        Box::new(running_classic(3)),
    ] {
        let inputs: Vec<usize> = (0..JOBS).collect();
        let mut outputs = vec![0; JOBS];
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for (i, out) in inputs.iter().zip(outputs.iter_mut()) {
                let ran = &ran;
                s.spawn(move || {
                    *out = i * 2;
                    ran.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(ran.load(Ordering::SeqCst), JOBS, "every job ran once");
        assert!(outputs.iter().enumerate().all(|(i, &o)| o == i * 2));
        let (report, _) = stop(&*pool);
        assert_eq!(
            report.completed + report.cancelled,
            JOBS as u64,
            "each job ran on a worker or was taken back"
        );
    }
}

#[test]
fn scope_jobs_may_spawn_more_jobs_and_join_them() {
    let pool = running_fast(2);
    let total = AtomicUsize::new(0);
    pool.scope(|s| {
        for i in 0..4 {
            let total = &total;
            s.spawn(move || {
                let inner = s.spawn(move || i * 10);
                total.fetch_add(inner.join().unwrap(), Ordering::SeqCst);
            });
        }
    });
    assert_eq!(total.load(Ordering::SeqCst), 60);
}

#[test]
fn scope_join_returns_the_value_or_the_panic_and_a_joined_panic_is_not_re_raised() {
    let pool = running_fast(2);
    let data = [1, 2, 3];
    let (sum, err) = pool.scope(|s| {
        let sum = s.spawn(|| data.iter().sum::<i32>());
        let bad = s.spawn(|| -> i32 { panic!("joined panic") });
        (sum.join().unwrap(), bad.join().unwrap_err())
    });
    assert_eq!(sum, 6);
    assert_eq!(err.into_panic().message(), Some("joined panic"));
}

#[test]
fn scope_re_raises_a_job_panic_after_every_job_ended() {
    let pool = running_fast(2);
    let panicked = Count::default();
    let after = AtomicUsize::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.spawn(|| {
                panicked.add();
                panic!("scoped job panic");
            });
            s.spawn(|| {
                // Ends only after the other job has panicked.
                panicked.wait_for(1);
                after.fetch_add(1, Ordering::SeqCst);
            });
        });
    }));
    let payload = caught.expect_err("the scope re-raised the job's panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"scoped job panic"));
    assert_eq!(
        after.load(Ordering::SeqCst),
        1,
        "the other job ended before the panic was re-raised"
    );
}

#[test]
fn scope_whose_closure_panics_still_finishes_its_jobs_then_re_raises() {
    let pool = running_fast(1);
    let ran = AtomicUsize::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..3 {
                s.spawn(|| ran.fetch_add(1, Ordering::SeqCst));
            }
            panic!("scope closure panic");
        })
    }));
    let payload = caught.expect_err("the closure's panic is re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"scope closure panic"));
    assert_eq!(ran.load(Ordering::SeqCst), 3, "every job ran first");
}

#[test]
fn scope_inside_a_job_of_a_one_worker_pool_completes() {
    for pool in [
        Arc::new(running_fast(1)) as Arc<dyn Pool>,
        Arc::new(running_classic(1)),
    ] {
        let inner = Arc::clone(&pool);
        let handle = pool
            .submit(move || {
                let words = ["nested", "scope", "on", "one", "worker"];
                let mut lens = [0; 5];
                let one = inner.scope(|s| {
                    for (w, l) in words.iter().zip(lens.iter_mut()) {
                        s.spawn(move || *l = w.len());
                    }
                    // A join inside the scope too: its job is taken back and run here.
                    s.spawn(|| 1).join().unwrap()
                });
                assert_eq!(one, 1);
                lens
            })
            .unwrap();
        let lens = handle
            .join_timeout(LONG)
            .expect("the nested scope completed (no deadlock on the one worker)")
            .unwrap();
        assert_eq!(lens, [6, 5, 2, 3, 6]);
        let (_, stats) = stop(&*pool);
        assert_eq!(stats.cancelled, 6, "all six scoped jobs were taken back");
    }
}

#[test]
fn scope_takes_back_jobs_no_worker_started_and_runs_them_on_the_waiting_thread() {
    let pool = running_fast(1);
    let scoped_done = Count::default();
    let me = std::thread::current().id();
    let ran_on = Mutex::new(Vec::new());
    pool.scope(|s| {
        // Holds the one worker until the three scoped jobs below have run: only the waiting
        // thread can run them.
        s.spawn(|| scoped_done.wait_for(3));
        // Make sure the worker holds the blocker before the others are queued.
        while pool.stats().queued > 0 {
            std::thread::yield_now();
        }
        for _ in 0..3 {
            s.spawn(|| {
                ran_on.lock().unwrap().push(std::thread::current().id());
                scoped_done.add();
            });
        }
    });
    assert_eq!(*ran_on.lock().unwrap(), vec![me; 3]);
    let (_, stats) = stop(&pool);
    assert_eq!(
        stats.cancelled, 3,
        "the pool counts a taken-back job as cancelled"
    );
    assert_eq!(stats.completed, 1);
}

#[test]
fn scope_runs_a_refused_job_on_the_spawning_thread() {
    let pool = running_fast(1);
    pool.stop(LONG);
    let me = std::thread::current().id();
    let mut ran_on = None;
    pool.scope(|s| {
        let h = s.spawn(|| ran_on = Some(std::thread::current().id()));
        assert_eq!(h.id(), None, "the pool refused it");
        assert!(h.is_finished(), "it already ran");
    });
    assert_eq!(ran_on, Some(me));
}

#[test]
fn scope_job_handed_back_by_stop_now_still_runs_before_the_scope_returns() {
    let pool = running_fast(1);
    let gate = Count::default();
    let ran = AtomicUsize::new(0);
    let mut report = None;
    pool.scope(|s| {
        s.spawn(|| gate.wait_for(1));
        while pool.stats().queued > 0 {
            std::thread::yield_now();
        }
        s.spawn(|| ran.fetch_add(1, Ordering::SeqCst));
        // The queued job comes back in the report; holding its shell does not lose the job.
        report = Some(pool.stop_now());
        gate.add();
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the scope ran the handed-back job"
    );
    let mut report = report.unwrap();
    assert_eq!(report.returned.len(), 1);
    let shell = report.returned.pop().unwrap();
    assert!(
        matches!(shell.run(), pool_core::Outcome::Cancelled),
        "the shell is empty"
    );
}
