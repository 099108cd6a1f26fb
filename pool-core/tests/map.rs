//! `PoolExt::map` (issue 12 item 9): results in input order whatever the completion order, lazily,
//! with at most `buffer` items in flight, a panic surfaced on its own item, and the input of every
//! job that did not run handed back.
#![cfg(not(loom))]

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pool_core::prelude::*;

const LONG: Duration = Duration::from_secs(60);

fn running(n: usize) -> FastPool {
    let pool = Builder::new().fixed(n).fast().expect("valid configuration");
    assert_eq!(
        pool.start(),
        Err(StartError::AlreadyStarted),
        "built running"
    );
    pool
}

/// A set of finished items others wait on, with a deadline.
#[derive(Default)]
struct Done {
    items: Mutex<Vec<u32>>,
    cv: Condvar,
}

impl Done {
    fn add(&self, i: u32) {
        self.items.lock().unwrap().push(i);
        self.cv.notify_all();
    }
    fn wait_for(&self, i: u32) {
        let deadline = Instant::now() + LONG;
        let mut g = self.items.lock().unwrap();
        while !g.contains(&i) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "item {i} never finished");
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }
}

#[test]
fn map_yields_in_input_order_when_jobs_finish_in_reverse() {
    let pool = running(4);
    let done = Arc::new(Done::default());
    let d = Arc::clone(&done);
    // Item i waits for item i + 1, so the jobs finish 3, 2, 1, 0.
    let out: Vec<u32> = pool
        .map(0..4u32, move |i| {
            if i < 3 {
                d.wait_for(i + 1);
            }
            d.add(i);
            i * 10
        })
        .buffer(NonZeroUsize::new(4).unwrap())
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, [0, 10, 20, 30]);
    assert_eq!(
        *done.items.lock().unwrap(),
        [3, 2, 1, 0],
        "they finished in reverse"
    );
}

#[test]
fn map_is_lazy_and_keeps_at_most_buffer_items_in_flight() {
    let pool = running(8);
    let submitted = Arc::new(AtomicUsize::new(0));
    let yielded = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (s, y, m) = (
        Arc::clone(&submitted),
        Arc::clone(&yielded),
        Arc::clone(&most),
    );
    let inputs = (0..50u32).inspect(move |_| {
        let in_flight = s.fetch_add(1, Ordering::SeqCst) + 1 - y.load(Ordering::SeqCst);
        m.fetch_max(in_flight, Ordering::SeqCst);
    });
    let map = pool
        .map(inputs, |i| i + 1)
        .buffer(NonZeroUsize::new(3).unwrap());
    assert_eq!(
        submitted.load(Ordering::SeqCst),
        0,
        "nothing before the first next"
    );
    let mut got = Vec::new();
    for r in map {
        yielded.fetch_add(1, Ordering::SeqCst);
        got.push(r.unwrap());
    }
    assert_eq!(got, (1..=50).collect::<Vec<_>>());
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "never more than the buffer in flight"
    );
}

#[test]
fn map_surfaces_a_panic_on_its_own_item() {
    let pool = running(2);
    let out: Vec<_> = pool
        .map(0..5u32, |i| {
            assert!(i != 2, "item two is bad");
            i
        })
        .collect();
    assert_eq!(out.len(), 5);
    for (i, r) in out.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(v as usize, i),
            Err(MapError::Panicked(p)) => {
                assert_eq!(i, 2);
                assert_eq!(p.message(), Some("item two is bad"));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

#[test]
fn map_hands_back_the_inputs_of_refused_jobs() {
    let pool = running(1);
    pool.stop(LONG);
    let out: Vec<_> = pool
        .map(vec![String::from("a"), String::from("b")], |s| s.len())
        .collect();
    let inputs: Vec<String> = out
        .into_iter()
        .map(|r| match r {
            Err(MapError::Refused(e)) => {
                assert_eq!(e.kind(), PutErrorKind::ShutDown);
                e.into_inner()
            }
            other => panic!("expected a refusal, got {other:?}"),
        })
        .collect();
    assert_eq!(inputs, ["a", "b"]);
}

#[test]
fn map_hands_back_the_inputs_of_jobs_stop_now_took_and_dropped() {
    let pool = running(1);
    let gate = Arc::new(Done::default());
    let g = Arc::clone(&gate);
    let blocker = pool
        .submit(move || {
            g.add(0); // the worker holds the blocker now
            g.wait_for(99);
        })
        .unwrap();
    gate.wait_for(0);
    let mut map = pool
        .map(vec![1u8, 2, 3], |x| x * 2)
        .buffer(NonZeroUsize::new(3).unwrap());
    // The one worker is busy: the first item is taken back and run here; the others stay queued.
    assert_eq!(map.next().unwrap().unwrap(), 2);
    let report = pool.stop_now();
    assert_eq!(report.returned.len(), 2, "the two queued items come back");
    drop(report);
    let rest: Vec<_> = map.map(|r| r.unwrap_err().into_input()).collect();
    assert_eq!(
        rest,
        [Some(2), Some(3)],
        "their inputs are handed back, in order"
    );
    gate.add(99);
    blocker.join().unwrap();
}

#[test]
fn map_inside_a_job_of_a_one_worker_pool_completes() {
    for pool in [
        Arc::new(running(1)) as Arc<dyn Pool>,
        Arc::new(
            Builder::new()
                .fixed(1)
                .classic()
                .expect("valid configuration"),
        ),
    ] {
        let inner = Arc::clone(&pool);
        let handle = pool
            .submit(move || {
                inner
                    .map(1..=4u32, |x| x * 3)
                    .map(Result::unwrap)
                    .collect::<Vec<_>>()
            })
            .unwrap();
        let out = handle
            .join_timeout(LONG)
            .expect("the nested map completed (its items ran on the waiting worker)")
            .unwrap();
        assert_eq!(out, [3, 6, 9, 12]);
        let report = pool.stop(LONG);
        assert!(report.is_clean());
        assert_eq!(report.cancelled, 4, "every item was taken back by the map");
    }
}
