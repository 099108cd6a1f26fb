//! Loom models of a `JobHandle` awaited as a future: the waker a poll stores is never missed by
//! the thread that completes the job.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-core --release --test loom_handle`
//!
//! The awaiting thread parks on a loom condvar until its waker is woken: a lost wakeup leaves it
//! parked forever, which loom reports as a deadlock.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::{Condvar, Mutex};
use loom::thread;
use pool_core::__handle_loom::detached;

/// A waker that sets a flag under a loom mutex and signals a loom condvar.
struct Flag {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

impl Flag {
    fn wait(&self) {
        let mut w = self.woken.lock().unwrap();
        while !*w {
            w = self.cv.wait(w).unwrap();
        }
        *w = false;
    }
}

/// Polls `f` until ready, parking on `flag` after every `Pending`.
fn block_on<F: Future + Unpin>(mut f: F, flag: std::sync::Arc<Flag>) -> F::Output {
    let waker = Waker::from(std::sync::Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    loop {
        match Pin::new(&mut f).poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => flag.wait(),
        }
    }
}

fn flag() -> std::sync::Arc<Flag> {
    std::sync::Arc::new(Flag {
        woken: Mutex::new(false),
        cv: Condvar::new(),
    })
}

#[test]
fn an_awaited_handle_never_misses_the_wakeup_of_its_completion() {
    loom::model(|| {
        let (job, handle) = detached(|| 7u8);
        let worker = thread::spawn(move || {
            job.run();
        });
        assert_eq!(block_on(handle, flag()).unwrap(), 7);
        worker.join().unwrap();
    });
}

#[test]
fn a_handle_repolled_with_a_new_waker_wakes_the_new_one() {
    loom::model(|| {
        let (job, mut handle) = detached(|| 9u8);
        // A first poll with a waker nobody waits on, then the real wait with another one.
        let first = flag();
        let waker = Waker::from(std::sync::Arc::clone(&first));
        let early = Pin::new(&mut handle).poll(&mut Context::from_waker(&waker));
        let worker = thread::spawn(move || {
            job.run();
        });
        let v = match early {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => block_on(handle, flag()).unwrap(),
        };
        assert_eq!(v, 9);
        worker.join().unwrap();
    });
}
