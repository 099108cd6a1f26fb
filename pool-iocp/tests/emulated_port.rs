//! The emulated port keeps the kernel's rules: FIFO packets each to one getter, LIFO release of
//! waiters, no release while `concurrency` threads run (threads back from a wait may run above
//! it, as in the kernel), blocking regions that free their slot, checkpoints, and
//! payloads that are handed back or dropped, never leaked.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use pool_iocp::{CompletionKey, CompletionPort, EmulatedPort, blocking};
use support::{T, wait_for};

#[test]
fn packets_come_out_first_in_first_out_with_their_keys() {
    let port = EmulatedPort::new(1);
    for i in 0..3 {
        port.post(CompletionKey(10 + i), i).unwrap();
    }
    for i in 0..3 {
        let p = port.get(Some(Duration::ZERO)).unwrap().expect("a packet");
        assert_eq!((p.key, p.payload), (CompletionKey(10 + i), i));
    }
    port.detach();
}

#[test]
fn a_get_that_times_out_is_nothing_yet() {
    let port = EmulatedPort::<u8>::new(1);
    assert!(port.get(Some(Duration::from_millis(5))).unwrap().is_none());
    assert!(port.get_many(4, Some(Duration::ZERO)).unwrap().is_empty());
    port.detach();
}

#[test]
fn get_many_takes_what_is_queued_up_to_its_max() {
    let port = EmulatedPort::new(1);
    for i in 0..5 {
        port.post(CompletionKey(1), i).unwrap();
    }
    let got: Vec<_> = port
        .get_many(3, None)
        .unwrap()
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(got, [0, 1, 2]);
    let got: Vec<_> = port
        .get_many(8, None)
        .unwrap()
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(got, [3, 4]);
    port.detach();
}

/// Starts a thread that waits on `port` for one packet and sends back (its name, the payload).
fn getter(
    port: &Arc<EmulatedPort<u32>>,
    name: &'static str,
    tx: &mpsc::Sender<(&'static str, u32)>,
) -> thread::JoinHandle<()> {
    let (port, tx) = (Arc::clone(port), tx.clone());
    thread::spawn(move || {
        let p = port
            .get(None)
            .unwrap()
            .expect("an untimed get returns a packet");
        tx.send((name, p.payload)).unwrap();
        port.detach();
    })
}

#[test]
fn waiting_threads_are_released_last_in_first_out() {
    let port = Arc::new(EmulatedPort::new(4));
    let (tx, rx) = mpsc::channel();
    let a = getter(&port, "first waiter", &tx);
    wait_for("the first waiter", || port.waiters() == 1);
    let b = getter(&port, "second waiter", &tx);
    wait_for("the second waiter", || port.waiters() == 2);
    port.post(CompletionKey(1), 1).unwrap();
    assert_eq!(
        rx.recv_timeout(T).unwrap(),
        ("second waiter", 1),
        "LIFO: the hot thread first"
    );
    port.post(CompletionKey(1), 2).unwrap();
    assert_eq!(rx.recv_timeout(T).unwrap(), ("first waiter", 2));
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn no_waiter_is_released_while_concurrency_threads_run() {
    let port = Arc::new(EmulatedPort::new(1));
    // This thread takes the only slot.
    port.post(CompletionKey(1), 0).unwrap();
    assert!(port.get(None).unwrap().is_some());
    assert_eq!(port.running(), 1);
    let (tx, rx) = mpsc::channel();
    let w = getter(&port, "waiter", &tx);
    wait_for("the waiter", || port.waiters() == 1);
    port.post(CompletionKey(1), 1).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "a waiter was released while the only slot was taken"
    );
    assert_eq!(port.queued(), 1, "the packet waits for a slot");
    // A running thread that asks again takes a queued packet at once, keeping its slot.
    port.post(CompletionKey(1), 2).unwrap();
    let mine = port
        .get(Some(Duration::ZERO))
        .unwrap()
        .expect("the hot thread takes it");
    assert_eq!(mine.payload, 1, "FIFO: the oldest packet");
    // Giving the slot up releases the waiter with the next packet.
    port.detach();
    assert_eq!(rx.recv_timeout(T).unwrap(), ("waiter", 2));
    w.join().unwrap();
}

#[test]
fn at_most_concurrency_threads_run_at_once() {
    const THREADS: usize = 6;
    const PACKETS: usize = 300;
    let port = Arc::new(EmulatedPort::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (port, inside, most) = (Arc::clone(&port), Arc::clone(&inside), Arc::clone(&most));
            thread::spawn(move || {
                loop {
                    let p = port.get(None).unwrap().expect("a packet");
                    if p.key == CompletionKey(2) {
                        break;
                    }
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    for _ in 0..2_000 {
                        std::hint::spin_loop();
                    }
                    inside.fetch_sub(1, SeqCst);
                }
                port.detach();
            })
        })
        .collect();
    for i in 0..PACKETS {
        port.post(CompletionKey(1), i).unwrap();
    }
    for _ in 0..THREADS {
        port.post(CompletionKey(2), 0).unwrap();
    }
    for w in workers {
        w.join().unwrap();
    }
    let most = most.load(SeqCst);
    assert!(
        most <= 2,
        "{most} threads ran at once on a port of concurrency 2"
    );
    assert_eq!(
        port.running(),
        0,
        "every slot is free after the threads left"
    );
}

#[test]
fn a_blocking_region_frees_the_slot_and_counts_again_when_it_ends() {
    let port = Arc::new(EmulatedPort::new(1));
    port.attach();
    assert_eq!(port.running(), 1);
    let (tx, rx) = mpsc::channel();
    let w = getter(&port, "waiter", &tx);
    wait_for("the waiter", || port.waiters() == 1);
    port.post(CompletionKey(1), 7).unwrap();
    // Inside the region this thread does not count: the waiter is released.
    let got = blocking(|| rx.recv_timeout(T));
    assert_eq!(
        got.unwrap(),
        ("waiter", 7),
        "the blocking region kept its slot"
    );
    // Back out of the region, it counts again (the waiter has detached by now or will).
    w.join().unwrap();
    assert_eq!(port.running(), 1);
    port.detach();
    assert_eq!(port.running(), 0);
}

#[test]
fn leaving_a_blocking_region_runs_at_once_and_nobody_is_released_until_below_the_limit() {
    let port = Arc::new(EmulatedPort::<u32>::new(1));
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (out_tx, out_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let p2 = Arc::clone(&port);
    let a = thread::spawn(move || {
        p2.attach();
        blocking(|| {
            inside_tx.send(()).unwrap();
            go_rx.recv_timeout(T).unwrap();
        });
        out_tx.send(()).unwrap();
        done_rx.recv_timeout(T).unwrap();
        p2.detach();
    });
    inside_rx.recv_timeout(T).unwrap();
    assert_eq!(port.running(), 0, "the region freed its slot");
    // This thread takes the slot while the other is in its region, then lets it out.
    port.attach();
    go_tx.send(()).unwrap();
    out_rx
        .recv_timeout(T)
        .expect("a thread whose wait ended runs at once, as the kernel lets it");
    assert_eq!(port.running(), 2, "briefly above the limit");
    // Over the limit, a packet reaches no waiter: not with two running, not with one.
    let (tx, rx) = mpsc::channel();
    let w = getter(&port, "waiter", &tx);
    wait_for("the waiter", || port.waiters() == 1);
    port.post(CompletionKey(1), 9).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "a waiter was released while 2 of 1 ran"
    );
    port.detach();
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "a waiter was released while 1 of 1 ran"
    );
    assert_eq!(port.queued(), 1);
    done_tx.send(()).unwrap();
    assert_eq!(
        rx.recv_timeout(T).unwrap(),
        ("waiter", 9),
        "below the limit, the waiter is released"
    );
    a.join().unwrap();
    w.join().unwrap();
}

#[test]
fn a_checkpoint_over_the_limit_waits_for_a_slot_and_one_within_it_does_not() {
    let port = Arc::new(EmulatedPort::<u8>::new(1));
    // Within the limit: a no-op.
    port.attach();
    port.checkpoint();
    assert_eq!(port.running(), 1);
    // Over it: another thread back from a region makes two; its checkpoint waits.
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (passed_tx, passed_rx) = mpsc::channel::<()>();
    let p2 = Arc::clone(&port);
    let a = thread::spawn(move || {
        // Its slot comes once the main thread's region frees it.
        p2.attach();
        blocking(|| {
            inside_tx.send(()).unwrap();
            go_rx.recv_timeout(T).unwrap();
        });
        p2.checkpoint();
        passed_tx.send(()).unwrap();
        p2.detach();
    });
    blocking(|| inside_rx.recv_timeout(T).unwrap());
    // Both are back: 2 of 1.
    go_tx.send(()).unwrap();
    assert!(
        passed_rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "a checkpoint over the limit went on"
    );
    wait_for("the checkpoint to give its slot up", || port.running() == 1);
    port.detach();
    passed_rx
        .recv_timeout(T)
        .expect("the checkpoint gets the freed slot");
    a.join().unwrap();
    assert_eq!(port.running(), 0);
}

/// Counts drops of its payloads.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn drain_hands_back_every_queued_payload_and_drop_drops_the_rest() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let port = EmulatedPort::new(1);
    for i in 0..3 {
        port.post(CompletionKey(i), Counted(Arc::clone(&dropped)))
            .unwrap();
    }
    let back = port.drain();
    assert_eq!(back.iter().map(|p| p.key.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(dropped.load(SeqCst), 0, "drained payloads are the caller's");
    drop(back);
    assert_eq!(dropped.load(SeqCst), 3);
    for i in 0..2 {
        port.post(CompletionKey(i), Counted(Arc::clone(&dropped)))
            .unwrap();
    }
    drop(port);
    assert_eq!(
        dropped.load(SeqCst),
        5,
        "packets left in a dropped port are dropped, once"
    );
}

#[test]
fn concurrency_zero_means_the_machine_parallelism() {
    let port = EmulatedPort::<()>::new(0);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(port.concurrency(), cores);
}
