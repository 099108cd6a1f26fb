//! Loom models of the emulated port's rules, one per race, named for the property (run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-iocp --release --test
//! loom_port`; `.ci/loom.sh` runs them). Liveness is "block on it": a packet that reaches no
//! getter, or a slot never given back, is a deadlock loom reports.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use pool_iocp::{CompletionKey, CompletionPort, EmulatedPort, blocking};

const KEY: CompletionKey = CompletionKey(1);

#[test]
fn each_packet_reaches_exactly_one_getter() {
    loom::model(|| {
        let port = Arc::new(EmulatedPort::new(2));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let port = Arc::clone(&port);
                thread::spawn(move || {
                    let p = port
                        .get(None)
                        .unwrap()
                        .expect("an untimed get returns a packet");
                    port.detach();
                    p.payload
                })
            })
            .collect();
        port.post(KEY, 1u32).unwrap();
        port.post(KEY, 2u32).unwrap();
        let mut got: Vec<u32> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2], "a packet was lost or delivered twice");
        assert_eq!(port.running(), 0);
    });
}

#[test]
fn waiters_are_released_last_in_first_out() {
    loom::model(|| {
        let port = Arc::new(EmulatedPort::new(2));
        let first = {
            let port = Arc::clone(&port);
            thread::spawn(move || {
                let p = port.get(None).unwrap().unwrap().payload;
                port.detach();
                p
            })
        };
        while port.waiters() < 1 {
            thread::yield_now();
        }
        let second = {
            let port = Arc::clone(&port);
            thread::spawn(move || {
                let p = port.get(None).unwrap().unwrap().payload;
                port.detach();
                p
            })
        };
        while port.waiters() < 2 {
            thread::yield_now();
        }
        port.post(KEY, "newest waiter").unwrap();
        port.post(KEY, "oldest waiter").unwrap();
        assert_eq!(second.join().unwrap(), "newest waiter");
        assert_eq!(first.join().unwrap(), "oldest waiter");
    });
}

#[test]
fn no_more_than_concurrency_threads_are_released_from_the_port() {
    loom::model(|| {
        let port = Arc::new(EmulatedPort::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (port, inside) = (Arc::clone(&port), Arc::clone(&inside));
                thread::spawn(move || {
                    port.get(None).unwrap().unwrap();
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two threads ran at once");
                    inside.fetch_sub(1, SeqCst);
                    port.detach();
                })
            })
            .collect();
        port.post(KEY, ()).unwrap();
        port.post(KEY, ()).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(port.running(), 0);
    });
}

#[test]
fn a_blocking_region_releases_its_slot_to_a_waiter() {
    loom::model(|| {
        // Concurrency 1: the attached thread waits inside `blocking` for the getter, which can
        // only run if the region gave the slot up (otherwise: deadlock).
        let port = Arc::new(EmulatedPort::new(1));
        let got = Arc::new(AtomicUsize::new(0));
        let getter = {
            let (port, got) = (Arc::clone(&port), Arc::clone(&got));
            thread::spawn(move || {
                port.get(None).unwrap().unwrap();
                got.store(1, SeqCst);
                port.detach();
            })
        };
        port.attach();
        port.post(KEY, ()).unwrap();
        blocking(|| {
            while got.load(SeqCst) == 0 {
                thread::yield_now();
            }
        });
        getter.join().unwrap();
        assert_eq!(
            port.running(),
            1,
            "back out of the region, it holds its slot again"
        );
        port.detach();
    });
}

#[test]
fn leaving_a_blocking_region_runs_at_once_even_above_the_limit() {
    loom::model(|| {
        // Concurrency 1: the getter takes the slot the region freed and holds it until this
        // thread is back out of the region. Leaving must not wait for a slot (the kernel lets a
        // thread whose wait ended run); if it did, both would wait for each other: deadlock.
        let port = Arc::new(EmulatedPort::new(1));
        let got = Arc::new(AtomicUsize::new(0));
        let back = Arc::new(AtomicBool::new(false));
        let getter = {
            let (port, got, back) = (Arc::clone(&port), Arc::clone(&got), Arc::clone(&back));
            thread::spawn(move || {
                port.get(None).unwrap().unwrap();
                got.store(1, SeqCst);
                while !back.load(SeqCst) {
                    thread::yield_now();
                }
                port.detach();
            })
        };
        port.attach();
        port.post(KEY, ()).unwrap();
        blocking(|| {
            while got.load(SeqCst) == 0 {
                thread::yield_now();
            }
        });
        back.store(true, SeqCst);
        port.detach();
        getter.join().unwrap();
        assert_eq!(port.running(), 0);
    });
}

#[test]
fn no_waiter_is_released_while_running_is_at_or_above_concurrency() {
    loom::model(|| {
        // Concurrency 1. `a` takes the slot this thread's region frees; this thread comes back
        // (2 of 1 run). A packet posted now may reach the waiter `b` only once both have given
        // their slots up: `b`, released, finds both flags set (each is set before its
        // thread's `detach`, so a release before either detach could find it unset).
        let port = Arc::new(EmulatedPort::new(1));
        let got = Arc::new(AtomicUsize::new(0));
        let main_back = Arc::new(AtomicBool::new(false));
        let a_done = Arc::new(AtomicBool::new(false));
        let main_done = Arc::new(AtomicBool::new(false));
        port.attach();
        port.post(KEY, 1u8).unwrap();
        let a = {
            let (port, got, main_back, a_done) = (
                Arc::clone(&port),
                Arc::clone(&got),
                Arc::clone(&main_back),
                Arc::clone(&a_done),
            );
            thread::spawn(move || {
                port.get(None).unwrap().unwrap();
                got.store(1, SeqCst);
                while !main_back.load(SeqCst) {
                    thread::yield_now();
                }
                a_done.store(true, SeqCst);
                port.detach();
            })
        };
        blocking(|| {
            while got.load(SeqCst) == 0 {
                thread::yield_now();
            }
        });
        main_back.store(true, SeqCst);
        let b = {
            let (port, a_done, main_done) = (
                Arc::clone(&port),
                Arc::clone(&a_done),
                Arc::clone(&main_done),
            );
            thread::spawn(move || {
                let p = port.get(None).unwrap().unwrap();
                assert!(
                    a_done.load(SeqCst) && main_done.load(SeqCst),
                    "a waiter was released while the port was full"
                );
                port.detach();
                p.payload
            })
        };
        port.post(KEY, 2u8).unwrap();
        main_done.store(true, SeqCst);
        port.detach();
        a.join().unwrap();
        assert_eq!(b.join().unwrap(), 2);
        assert_eq!(port.running(), 0);
    });
}
