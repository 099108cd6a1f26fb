//! Stress test of a race loom models in `conformance` (`a_job_handed_back_mid_cancel_can_be_queued_again`):
//! a cancel wins a job out of pool A's queue while `A.stop_now()` hands it back, and the job's
//! new holder puts it into pool B at once. Before the fix (issue 11), B's enqueue wrote the job's
//! cancel sink while the canceller was still taking A's out of it: a data race ThreadSanitizer
//! reports (`.ci/tsan.sh` runs this file), and natively a cancel that could take B's sink and
//! then find none. Every round checks that the job is cancelled exactly once and never runs.
//!
//! Bounded (a fixed number of rounds), no sleeps: the two sides start each round together on a
//! spin flag, so their steps overlap as often as the machine lets them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;

use pool_core::{Builder, JobHandle, JoinError, Pool, PoolExt};

/// Rounds per backend unless `REQUEUE_ROUNDS` says otherwise (`.ci/tsan.sh` runs fewer: each
/// round is ~10x slower there, and TSan needs no exact overlap, only the hand-back landing
/// between the canceller's win and its finish, to see the unordered accesses). About 1 in
/// 10,000 native rounds hit the window before the fix.
fn rounds() -> usize {
    let default = if cfg!(miri) { 20 } else { 10_000 };
    std::env::var("REQUEUE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts its drops (with the closure that owns it).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// What the canceller thread is given each round, and gives back.
#[derive(Default)]
struct Exchange {
    handle: Mutex<Option<JobHandle<()>>>,
    go: AtomicUsize,
    done: AtomicUsize,
    won: Mutex<Option<(bool, JobHandle<()>)>>,
    quit: AtomicBool,
}

/// Waits until `cond` holds, spinning a little and then yielding (the other side is a few steps
/// away; the machine may have fewer cores than busy threads).
fn spin_until(cond: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        if spins < 64 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            thread::yield_now();
        }
    }
}

fn stress(make: fn(Builder) -> Box<dyn Pool>) {
    let ex = Arc::new(Exchange::default());
    let canceller = {
        let ex = Arc::clone(&ex);
        thread::spawn(move || {
            for round in 1.. {
                spin_until(|| ex.go.load(SeqCst) == round || ex.quit.load(SeqCst));
                if ex.quit.load(SeqCst) {
                    return;
                }
                let h = ex
                    .handle
                    .lock()
                    .unwrap()
                    .take()
                    .expect("a handle per round");
                let won = h.cancel();
                *ex.won.lock().unwrap() = Some((won, h));
                ex.done.store(round, SeqCst);
            }
        })
    };
    for round in 1..=rounds() {
        // Neither pool is started: no workers, so the race is the canceller's and ours.
        let first = make(Builder::new().queue_before_start().fixed(1));
        let second = make(Builder::new().queue_before_start().fixed(1));
        let dropped = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(Arc::clone(&dropped));
        let r = Arc::clone(&ran);
        let h = first
            .submit(move || {
                let _keep = &guard;
                r.fetch_add(1, SeqCst);
            })
            .unwrap();
        *ex.handle.lock().unwrap() = Some(h);
        ex.go.store(round, SeqCst);
        let handed_back = first.stop_now().returned;
        let from_first = handed_back.len();
        for job in handed_back {
            second
                .put(job)
                .expect("a pool that is not stopped takes a handed-back job");
        }
        let report = second.stop_now();
        spin_until(|| ex.done.load(SeqCst) == round);
        // Only now drop what was handed back: dropping a job retires it, and a cancel after
        // that (rightly) fails.
        let (won, h) = ex
            .won
            .lock()
            .unwrap()
            .take()
            .expect("the canceller's answer");
        assert!(
            won,
            "round {round}: a job that never started was not cancelled"
        );
        let (in_first, in_second) = (first.stats().cancelled, second.stats().cancelled);
        let from_second = report.returned.len();
        assert!(
            report.returned.iter().all(pool_core::Job::is_cancelled),
            "round {round}: the second pool handed back a job that is not cancelled"
        );
        assert_eq!(
            in_first + from_first as u64,
            1,
            "round {round}: the first pool cancelled the job {in_first} times and handed it \
             back {from_first}"
        );
        assert_eq!(
            in_first + in_second + from_second as u64,
            1,
            "round {round}: cancelled in the first pool {in_first}, in the second {in_second}, \
             handed back by the second {from_second}"
        );
        drop(report);
        assert!(matches!(h.join(), Err(JoinError::Cancelled)));
        assert_eq!(
            dropped.load(SeqCst),
            1,
            "round {round}: the closure was not dropped once"
        );
        assert_eq!(ran.load(SeqCst), 0, "round {round}: a cancelled job ran");
    }
    ex.quit.store(true, SeqCst);
    canceller.join().unwrap();
}

#[test]
fn classic_a_job_handed_back_mid_cancel_can_be_queued_again() {
    stress(|b| Box::new(b.classic().unwrap()));
}

#[test]
fn fast_a_job_handed_back_mid_cancel_can_be_queued_again() {
    stress(|b| Box::new(b.fast().unwrap()));
}
