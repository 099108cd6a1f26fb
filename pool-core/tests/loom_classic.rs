//! Loom models of the classic backend's races, one per race, named for the property.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-core --release --test loom_classic`
//! Under loom the pool's primitives come from loom (pool-core's sync shim) and time is a manual
//! clock, so a `stop` waits untimed: a lost job or a lost wakeup shows up as a failed assertion or
//! as loom's deadlock detection.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use pool_core::{Builder, ClassicPool, Clock, JoinError, Pool, PoolExt};

fn classic(b: Builder) -> ClassicPool {
    let (clock, _hand) = Clock::manual();
    b.clock(clock).classic().unwrap()
}

/// A job racing `stop` is either refused (and handed back) or runs before the workers exit: it
/// never lands behind the last sentinel, and `stop` never hangs.
#[test]
fn put_racing_stop_never_strands_a_job() {
    loom::model(|| {
        let pool = Arc::new(classic(Builder::new().fixed(1)));
        pool.start().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || {
            p.execute(move || {
                r.fetch_add(1, SeqCst);
            })
            .is_ok()
        });
        let report = pool.stop(Duration::from_secs(1));
        let accepted = submitter.join().unwrap();
        assert!(report.is_clean());
        assert_eq!(
            ran.load(SeqCst),
            usize::from(accepted),
            "accepted jobs run, refused ones do not"
        );
        assert_eq!(report.completed, u64::from(accepted));
        assert_eq!(pool.stats().rejected, u64::from(!accepted));
    });
}

/// A job put while a shrink retires the only worker still runs: the shrink's sentinel never
/// strands it, and the pool never goes below `min`.
#[test]
fn shrink_racing_put_never_strands_a_job() {
    loom::model(|| {
        let pool = Arc::new(classic(Builder::new().min(0).max(1)));
        pool.start().unwrap();
        pool.grow(1);
        let p = pool.clone();
        let shrinker = thread::spawn(move || p.shrink(1));
        let h = pool.submit(|| 7).unwrap();
        let shrunk = shrinker.join().unwrap();
        assert!(shrunk <= 1);
        assert_eq!(h.join().unwrap(), 7, "the job ran");
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(report.completed, 1);
    });
}

/// `cancel` racing a worker taking the job: exactly one wins. Either the job ran and `cancel`
/// said false, or it never ran, `cancel` said true, and the pool counted it cancelled.
#[test]
fn cancel_racing_dequeue_has_exactly_one_winner() {
    loom::model(|| {
        let pool = Arc::new(classic(Builder::new().fixed(1)));
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
        let cancelled = canceller.join().unwrap();
        let report = pool.stop(Duration::from_secs(1));
        assert!(report.is_clean());
        assert_eq!(
            ran.load(SeqCst) + usize::from(cancelled),
            1,
            "exactly one of run / cancel"
        );
        assert_eq!(report.cancelled, u64::from(cancelled));
        assert_eq!(report.completed, u64::from(!cancelled));
        let h = Arc::try_unwrap(h).unwrap();
        match h.join() {
            Ok(()) => assert!(!cancelled),
            Err(JoinError::Cancelled) => assert!(cancelled),
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}
