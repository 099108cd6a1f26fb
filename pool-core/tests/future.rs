//! Awaitable handles (issue 12 item 10): a `JobHandle` is a `Future`, woken when its job ends,
//! on any executor (futures-lite's `block_on`, tokio); dropping it detaches the job unless the
//! caller opted into `cancel_on_drop`.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use pool_core::{Builder, FastPool, Pool, PoolExt, StartError};

fn running(b: Builder) -> FastPool {
    let pool = b.fast().expect("valid configuration");
    assert_eq!(
        pool.start(),
        Err(StartError::AlreadyStarted),
        "built running"
    );
    pool
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn block_on_awaits_handles_and_their_panics() {
    let pool = running(Builder::new().fixed(2));
    let (sum, err) = futures_lite::future::block_on(async {
        let a = pool.submit(|| 40).unwrap();
        let b = pool.submit(|| 2).unwrap();
        let bad = pool.submit(|| -> u32 { panic!("awaited panic") }).unwrap();
        (a.await.unwrap() + b.await.unwrap(), bad.await.unwrap_err())
    });
    assert_eq!(sum, 42);
    assert_eq!(err.into_panic().message(), Some("awaited panic"));
}

#[test]
fn a_tokio_runtime_awaits_blocking_work_on_the_pool() {
    let pool = Arc::new(running(Builder::new().fixed(2)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..20u64 {
            handles.push(pool.submit(move || i * i).unwrap());
        }
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..20u64).map(|i| i * i).sum::<u64>());
}

/// Counts wakes and reports each on a channel.
struct Counting {
    wakes: AtomicUsize,
    tx: std::sync::Mutex<mpsc::Sender<()>>,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.lock().unwrap().send(());
    }
}

#[test]
fn a_pending_handle_is_woken_once_its_job_ends_and_then_ready() {
    let pool = running(Builder::new().fixed(1));
    let gate = Arc::new(Barrier::new(2));
    let g = Arc::clone(&gate);
    let mut handle = pool
        .submit(move || {
            g.wait();
            7
        })
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let counting = Arc::new(Counting {
        wakes: AtomicUsize::new(0),
        tx: std::sync::Mutex::new(tx),
    });
    let waker = Waker::from(Arc::clone(&counting));
    let mut cx = Context::from_waker(&waker);
    assert!(
        Pin::new(&mut handle).poll(&mut cx).is_pending(),
        "the job waits on the gate"
    );
    assert!(
        Pin::new(&mut handle).poll(&mut cx).is_pending(),
        "a re-poll too"
    );
    assert_eq!(counting.wakes.load(Ordering::SeqCst), 0);
    gate.wait();
    rx.recv_timeout(LONG).expect("the waker was woken");
    match Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(r) => assert_eq!(r.unwrap(), 7),
        Poll::Pending => panic!("woken but not ready"),
    }
    assert_eq!(
        counting.wakes.load(Ordering::SeqCst),
        1,
        "woken exactly once"
    );
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut handle).poll(&mut cx);
    }));
    assert!(again.is_err(), "a poll after Ready panics");
}

#[test]
fn dropping_an_awaited_handle_detaches_the_job_but_cancel_on_drop_cancels_it() {
    let pool = running(Builder::new().fixed(1));
    let gate = Arc::new(Barrier::new(2));
    let g = Arc::clone(&gate);
    let busy = pool.submit(move || g.wait()).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (r1, r2) = (Arc::clone(&ran), Arc::clone(&ran));
    let detached = pool
        .submit(move || r1.fetch_add(1, Ordering::SeqCst))
        .unwrap();
    let cancelled = pool
        .submit(move || r2.fetch_add(10, Ordering::SeqCst))
        .unwrap()
        .cancel_on_drop();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        // Both time out while the worker is held: the futures are dropped unfinished.
        let t = Duration::from_millis(1);
        assert!(tokio::time::timeout(t, detached).await.is_err());
        assert!(tokio::time::timeout(t, cancelled).await.is_err());
    });
    gate.wait();
    busy.join().unwrap();
    let report = pool.stop(LONG);
    assert!(report.is_clean());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the detached job ran, the other did not"
    );
    assert_eq!(report.cancelled, 1);
}

#[test]
fn cancel_on_drop_joins_awaits_and_hands_the_plain_handle_back() {
    let pool = running(Builder::new().fixed(1));
    let h = pool.submit(|| 5).unwrap().cancel_on_drop();
    assert_eq!(h.join().unwrap(), 5);
    let h = pool.submit(|| 6).unwrap().cancel_on_drop();
    assert_eq!(futures_lite::future::block_on(h).unwrap(), 6);
    let plain = pool.submit(|| 7).unwrap().cancel_on_drop().into_handle();
    drop(plain);
    let report = pool.stop(LONG);
    assert_eq!(report.completed, 3, "into_handle disarmed the cancel");
    assert_eq!(report.cancelled, 0);
    assert!(matches!(
        pool.submit(|| 8).map_err(|e| e.kind()),
        Err(pool_core::PutErrorKind::ShutDown)
    ));
}
