//! IocpPool's own behaviour beyond the conformance kit: pywin32's defaults, the port's
//! concurrency limit under real jobs, blocking regions, unknown completion keys (an event, a live worker), and one
//! shutdown packet per worker behind the queued requests.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use pool_core::{Event, EventLog, ExitReason, Pool, PoolExt, WorkerId};
use pool_iocp::{CompletionKey, CompletionPort, DEFAULT_MAX_WORKERS, IocpBuilder, PortError};
use support::T;

#[test]
fn defaults_are_twenty_workers_and_one_running_per_core() {
    let pool = IocpBuilder::new().build().unwrap();
    assert_eq!(DEFAULT_MAX_WORKERS, 20);
    assert_eq!(pool.stats().max, Some(20));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(pool.port().concurrency(), cores);
    assert_eq!(pool.backend(), "iocp");
}

#[test]
fn jobs_that_compute_never_run_more_than_concurrency_at_once() {
    let pool = IocpBuilder::new()
        .max_workers(8)
        .concurrency(2)
        .build_emulated()
        .unwrap();
    let _ = pool.start();
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let (inside, most) = (Arc::clone(&inside), Arc::clone(&most));
            pool.submit(move || {
                let now = inside.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(200) {
                    std::hint::spin_loop();
                }
                inside.fetch_sub(1, SeqCst);
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let most = most.load(SeqCst);
    assert!(most <= 2, "{most} jobs ran at once with concurrency 2");
    assert!(
        pool.stats().peak_workers > 2,
        "more workers than the limit exist"
    );
    assert!(pool.stop(T).is_clean());
}

/// Blocks until `n` callers have arrived (or [`T`] passed); whether they all did.
struct Rendezvous {
    count: Mutex<usize>,
    cv: Condvar,
}

impl Rendezvous {
    fn arrive_and_wait(&self, n: usize) -> bool {
        let deadline = Instant::now() + T;
        let mut c = self.count.lock().unwrap();
        *c += 1;
        self.cv.notify_all();
        while *c < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            c = self.cv.wait_timeout(c, left).unwrap().0;
        }
        true
    }
}

#[test]
fn jobs_blocking_in_a_blocking_region_let_the_others_run() {
    // Concurrency 1, four jobs that all wait for each other inside `blocking`: only possible if
    // each region frees the one slot.
    let pool = IocpBuilder::new()
        .max_workers(4)
        .concurrency(1)
        .configure(|b| b.min(4))
        .build_emulated()
        .unwrap();
    let _ = pool.start();
    let meet = Arc::new(Rendezvous {
        count: Mutex::new(0),
        cv: Condvar::new(),
    });
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let meet = Arc::clone(&meet);
            pool.submit(move || pool_iocp::blocking(|| meet.arrive_and_wait(4)))
                .unwrap()
        })
        .collect();
    for h in handles {
        assert!(
            h.join().unwrap(),
            "a job waited in vain: a region kept its slot"
        );
    }
    assert!(pool.stop(T).is_clean());
}

#[test]
fn an_unknown_key_is_an_event_and_the_worker_serves_the_next_job() {
    let log = EventLog::new();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let pool = IocpBuilder::new()
        .configure(|b| b.fixed(1).on_event(log.listener()))
        .on_port_error(move |e| {
            if let PortError::UnknownKey { key, .. } = e {
                tx.lock().unwrap().send(*key).unwrap();
            }
        })
        .build()
        .unwrap();
    let _ = pool.start();
    log.wait_for(T, |e| matches!(e, Event::WorkerParked { .. }))
        .unwrap();
    pool.port().post(CompletionKey(7), ()).unwrap();
    // Reported through the pool's event stream, naming the worker and the key.
    log.wait_for(T, |e| {
        matches!(
            e,
            Event::UnknownWakeup {
                worker: WorkerId(0),
                key: 7
            }
        )
    })
    .expect("the unknown key is reported as an event");
    assert_eq!(rx.recv_timeout(T).unwrap(), CompletionKey(7));
    assert_eq!(pool.port_errors(), 1);
    // The same worker, alive, serves the next job.
    let id = pool.submit(|| 42).unwrap();
    let job = id.id();
    assert_eq!(id.join().unwrap(), 42, "the worker lives");
    assert!(log.events().iter().any(|e| matches!(
        e,
        Event::JobStarted { job: j, worker: WorkerId(0) } if *j == job
    )));
    assert_eq!(pool.stats().workers, 1);
    assert_eq!(log.count(|e| matches!(e, Event::WorkerExited { .. })), 0);
    assert_eq!(
        log.count(|e| matches!(e, Event::UnknownWakeup { .. })),
        1,
        "one packet, one report"
    );
    assert!(pool.stop(T).is_clean());
}

#[test]
fn shutdown_packets_queue_behind_requests_and_each_stops_one_worker() {
    let log = EventLog::new();
    // Concurrency 3: the three held jobs run at once (with the default, cores, they would not).
    let pool = IocpBuilder::new()
        .concurrency(3)
        .configure(|b| b.fixed(3).on_event(log.listener()))
        .build()
        .unwrap();
    let _ = pool.start();
    log.wait_count(T, 3, |e| matches!(e, Event::WorkerParked { .. }))
        .unwrap();
    // Hold all three workers, queue more work behind them, then stop.
    let gate = Arc::new(Rendezvous {
        count: Mutex::new(0),
        cv: Condvar::new(),
    });
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (gate, ran) = (Arc::clone(&gate), Arc::clone(&ran));
        pool.execute(move || {
            // The three held jobs and the opener meet here.
            assert!(gate.arrive_and_wait(4));
            ran.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    log.wait_count(T, 3, |e| matches!(e, Event::JobStarted { .. }))
        .unwrap();
    for _ in 0..5 {
        let ran = Arc::clone(&ran);
        pool.execute(move || {
            ran.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let stopper = {
        let log = log.clone();
        std::thread::spawn(move || log.wait_for(T, |e| matches!(e, Event::StopRequested)))
    };
    let opener = std::thread::spawn(move || {
        stopper.join().unwrap().unwrap();
        assert!(gate.arrive_and_wait(4));
    });
    let report = pool.stop(T);
    opener.join().unwrap();
    assert!(report.is_clean());
    assert_eq!(
        ran.load(SeqCst),
        8,
        "every request queued before the stop ran"
    );
    assert_eq!(report.completed, 8);
    assert_eq!(
        log.count(|e| matches!(
            e,
            Event::WorkerExited {
                reason: ExitReason::Sentinel,
                ..
            }
        )),
        3,
        "one shutdown per worker, each taken by exactly one"
    );
    assert_eq!(log.count(|e| matches!(e, Event::SentinelTaken { .. })), 3);
}

/// `await_quiescence` on the port's pool waits (on the pool's own state, not by polling) until
/// nothing is queued and every worker is idle, within its deadline.
#[test]
fn await_quiescence_waits_for_the_queue_and_the_workers() {
    let pool = IocpBuilder::new()
        .max_workers(2)
        .concurrency(2)
        .configure(|b| b.min(1))
        .build_emulated()
        .unwrap();
    let _ = pool.start();
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        let _ = rx.recv_timeout(T);
    })
    .unwrap();
    pool.execute(|| {}).unwrap();
    started_rx.recv_timeout(T).expect("the first job starts");
    assert!(
        !pool.await_quiescence(Duration::from_millis(20)),
        "a job is running: not quiescent ({})",
        pool.stats()
    );
    tx.send(()).unwrap();
    assert!(pool.await_quiescence(T), "{}", pool.stats());
    let s = pool.stats();
    assert_eq!((s.queued, s.idle), (0, s.workers), "{s}");
    assert_eq!(s.completed, 2, "{s}");
}
