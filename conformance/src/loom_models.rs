//! Loom models, one per race, named for the property it checks (built only with
//! `--cfg loom`; run them with `conformance/loom.sh`).
//!
//! Under `--cfg loom` `pool-core`'s sync shim gives every backend loom's mutexes, condvars,
//! atomics and threads, so loom explores the interleavings of the pool's own workers with the
//! model's callers. Each model blocks where it waits, so loom's deadlock detection is the
//! liveness assertion, and ends by stopping the pool with no deadline (or waiting for it to
//! terminate), so every worker exits, and then checks what became of every job.
//!
//! Every model explores its whole space within `LOOM_MAX_PREEMPTIONS=2` (each says so:
//! "exhaustive"). To keep that tractable on the fast backend, whose lock-free put and parking
//! protocol make every step several atomic operations, a model races one thing at a time: it
//! first puts the pool's worker in the state the race needs and waits for it there (busy on a
//! gated job it waits to see start, or parked, seen through its `WorkerParked` event), starts the
//! racing caller only then, and lets the worker go on only once the race is decided. A race whose
//! outcome depends on the worker's state is split into one model per state (put ‖ stop: no
//! worker yet, a busy worker, an idle one). The races of a worker on its way to park are
//! `put_racing_a_parking_worker_never_loses_the_wakeup`'s (and pool-core's own loom models').
//!
//! Instantiate them for a backend with [`loom_suite!`](crate::loom_suite).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use pool_core::{Builder, Clock, Event, JoinError, Pool, PoolExt};

use crate::kit;

/// Builds a pool of the backend under test (panicking on a configuration error).
pub type Make = fn(Builder) -> Box<dyn Pool>;

/// Interleavings explored by the models run in this process so far.
pub static EXPLORED: AtomicUsize = AtomicUsize::new(0);

/// Runs `body` under loom (the bounds come from `LOOM_MAX_PREEMPTIONS` and the other `LOOM_*`
/// variables) and reports how many interleavings it explored, and whether that was the whole
/// space within the bounds ("exhaustive") or loom stopped at its `LOOM_MAX_DURATION` /
/// `LOOM_MAX_PERMUTATIONS` cap and the model passed on part of it ("stopped at cap";
/// `conformance/loom.sh` fails the run then).
fn explore(name: &str, body: impl Fn() + Sync + Send + 'static) {
    kit::quiet_kit_panics();
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&n);
    let started = Instant::now();
    let builder = loom::model::Builder::new();
    let (cap, permutations, interval) = (
        builder.max_duration,
        builder.max_permutations,
        builder.checkpoint_interval,
    );
    builder.check(move || {
        count.fetch_add(1, SeqCst);
        body();
    });
    let n = n.load(SeqCst);
    let elapsed = started.elapsed();
    EXPLORED.fetch_add(n, SeqCst);
    // loom gives up only at a checkpoint, after `k * interval - 1` interleavings, once the
    // time or the count is spent. (A model that ends on its own there, past the cap, is
    // reported as stopped: the safe side.)
    let at_checkpoint = interval > 0 && (n + 1) % interval == 0;
    let spent = cap.is_some_and(|d| elapsed >= d) || permutations.is_some_and(|p| n + 1 >= p);
    let status = if at_checkpoint && spent {
        "stopped at cap"
    } else {
        "exhaustive"
    };
    use std::io::Write as _;
    let line = format!("loom: {name}: {n} interleavings in {elapsed:.1?}: {status}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Offers the scheduler a switch right after a spawn. Loom's DPOR weighs a thread's *pending*
/// operation against past accesses only, so a spawned thread whose first access is a plain load
/// is never run ahead of a parent that only loads too; yielding makes loom explore those
/// schedules (without it, some models explore a single interleaving).
fn let_others_run() {
    thread::yield_now();
}

/// Counts its drops (with the closure that owns it).
struct DropCount(std::sync::Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A panic the kit provokes, quietly.
fn boom() {
    kit::kit_panic();
}

/// A one-way flag a loom thread can block on (loom's own mutex and condvar, so loom sees the
/// wait).
#[derive(Clone, Default)]
struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    fn set(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let mut set = self.0.0.lock().unwrap();
        while !*set {
            set = self.0.1.wait(set).unwrap();
        }
    }
}

/// A job that sets `started` when a worker runs it, then waits for `gate` before it does `f`:
/// the worker is busy, at a known point, until the model opens the gate.
fn gated(
    started: &Latch,
    gate: &Latch,
    f: impl FnOnce() + Send + 'static,
) -> impl FnOnce() + Send + 'static {
    let (started, gate) = (started.clone(), gate.clone());
    move || {
        started.set();
        gate.wait();
        f();
    }
}

/// `b` with a listener that sets `parked` at the first `WorkerParked`, so a model can wait for
/// its worker to be idle before it starts the race. (With a listener the backends order their
/// workers' events under their state lock; the callers' paths are unchanged.)
fn parked_latch(b: Builder, parked: &Latch) -> Builder {
    let parked = parked.clone();
    b.on_event(move |e| {
        if matches!(e, Event::WorkerParked { .. }) {
            parked.set();
        }
    })
}

/// What a put racing a stop returned: accepted, or refused (true if with `ShutDown`).
type Raced = Result<pool_core::JobId, bool>;

/// Spawns a thread that puts a job counting its runs into `ran`.
fn racing_put(
    pool: &Arc<Box<dyn Pool>>,
    ran: &std::sync::Arc<AtomicUsize>,
) -> thread::JoinHandle<Raced> {
    let (p, r) = (Arc::clone(pool), std::sync::Arc::clone(ran));
    thread::spawn(move || {
        p.execute(move || {
            r.fetch_add(1, SeqCst);
        })
        .map_err(|e| e.is_shut_down())
    })
}

/// A put that raced a stop was refused with `ShutDown` and never ran, or accepted and ran once
/// (the pool has terminated).
fn check_raced_put(put: Raced, ran: usize) {
    match put {
        Ok(_) => assert_eq!(ran, 1, "an accepted job ran {ran} times"),
        Err(shut_down) => {
            assert!(shut_down, "refused with Full on an unbounded queue");
            assert_eq!(ran, 0, "a refused job ran");
        }
    }
}

/// put ‖ stop, the worker busy: a put racing a stop while the only worker runs a job is either
/// refused with the job handed back, or accepted and run before the pool terminates; no job
/// lands behind the last sentinel, none is lost.
pub fn stop_never_strands_or_loses_a_racing_put(make: Make) {
    explore("stop_never_strands_or_loses_a_racing_put", move || {
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(Builder::new().queue_before_start().fixed(1)));
        let (started, gate) = (Latch::default(), Latch::default());
        pool.execute(gated(&started, &gate, || ())).unwrap();
        pool.start().unwrap();
        started.wait();
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let put = racing_put(&pool, &ran);
        let_others_run();
        let _ = pool.stop(Duration::ZERO);
        let put = put.join().unwrap();
        gate.set();
        assert!(
            pool.await_termination(Duration::MAX),
            "the pool never terminated"
        );
        let refused = put.is_err();
        check_raced_put(put, ran.load(SeqCst));
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected),
            (1 + ran.load(SeqCst) as u64, u64::from(refused)),
            "the job is lost or counted twice: {s:?}"
        );
        assert_eq!(s.queued, 0, "a job is left in the queue: {s:?}");
    });
}

/// put ‖ stop, no worker yet: a put racing a stop on a running pool with no worker (`min 0`) is
/// refused, or accepted and run by the worker it starts before the stop returns.
pub fn stop_racing_the_put_that_starts_a_worker_runs_or_refuses_it(make: Make) {
    explore(
        "stop_racing_the_put_that_starts_a_worker_runs_or_refuses_it",
        move || {
            let pool: Arc<Box<dyn Pool>> =
                Arc::new(make(Builder::new().queue_before_start().min(0).max(1)));
            assert_eq!(pool.start().unwrap(), 0);
            let ran = std::sync::Arc::new(AtomicUsize::new(0));
            let put = racing_put(&pool, &ran);
            let_others_run();
            let report = pool.stop(Duration::MAX);
            let put = put.join().unwrap();
            assert!(report.is_clean(), "stop returned with workers left");
            check_raced_put(put, ran.load(SeqCst));
            assert_eq!(pool.stats().queued, 0, "a job is left in the queue");
        },
    );
}

/// put ‖ stop, the worker idle: a put racing a stop for the only, parked, worker (both claim
/// it) is refused, or accepted and run before the stop returns.
pub fn stop_and_put_claiming_the_idle_worker_run_or_refuse_the_job(make: Make) {
    explore(
        "stop_and_put_claiming_the_idle_worker_run_or_refuse_the_job",
        move || {
            let parked = Latch::default();
            let pool: Arc<Box<dyn Pool>> = Arc::new(make(parked_latch(
                Builder::new().queue_before_start().fixed(1),
                &parked,
            )));
            pool.start().unwrap();
            parked.wait();
            let ran = std::sync::Arc::new(AtomicUsize::new(0));
            let put = racing_put(&pool, &ran);
            let_others_run();
            let report = pool.stop(Duration::MAX);
            let put = put.join().unwrap();
            assert!(report.is_clean(), "stop returned with workers left");
            check_raced_put(put, ran.load(SeqCst));
            assert_eq!(pool.stats().queued, 0, "a job is left in the queue");
        },
    );
}

/// put ‖ parking: a put racing the only worker on its way to park (it found the queue empty)
/// is seen by the worker's re-check after registering as idle, or sees the worker idle and
/// wakes it: the job runs and `join` returns (a lost wakeup is a deadlock here).
pub fn put_racing_a_parking_worker_never_loses_the_wakeup(make: Make) {
    explore(
        "put_racing_a_parking_worker_never_loses_the_wakeup",
        move || {
            let pool: Arc<Box<dyn Pool>> =
                Arc::new(make(Builder::new().queue_before_start().fixed(1)));
            pool.start().unwrap();
            let_others_run();
            let h = pool.submit(|| 7).unwrap();
            assert_eq!(h.join().unwrap(), 7, "the job's value");
            assert!(pool.stop(Duration::MAX).is_clean());
            assert_eq!(pool.stats().completed, 1);
        },
    );
}

/// put ‖ shrink: a job put while a shrink's sentinel waits for the only worker (busy on a job)
/// still runs: a new worker is started for it when every live worker is leaving. (The pool is
/// told to stop once the race is decided, so the workers' way out is a sentinel; a stranded
/// job is a pool that terminates with it unrun.)
pub fn shrink_never_strands_a_racing_put(make: Make) {
    explore("shrink_never_strands_a_racing_put", move || {
        let pool: Arc<Box<dyn Pool>> =
            Arc::new(make(Builder::new().queue_before_start().min(0).max(1)));
        let (started, gate) = (Latch::default(), Latch::default());
        pool.execute(gated(&started, &gate, || ())).unwrap();
        assert_eq!(pool.start().unwrap(), 1);
        started.wait();
        let p = Arc::clone(&pool);
        let shrink = thread::spawn(move || p.shrink(1));
        let_others_run();
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let r = std::sync::Arc::clone(&ran);
        pool.execute(move || {
            r.fetch_add(1, SeqCst);
        })
        .unwrap();
        let k = shrink.join().unwrap();
        assert!(k <= 1, "shrink(1) queued {k} sentinels");
        let _ = pool.stop(Duration::ZERO);
        gate.set();
        assert!(
            pool.await_termination(Duration::MAX),
            "the pool never terminated"
        );
        assert_eq!(ran.load(SeqCst), 1, "a job put beside a shrink never ran");
    });
}

/// shrink ‖ shrink: two shrinks racing before any sentinel is taken count each other's
/// sentinels and never aim below `min` (one worker above `min = 0`: one sentinel in all).
pub fn concurrent_shrinks_never_go_below_min(make: Make) {
    explore("concurrent_shrinks_never_go_below_min", move || {
        let pool: Arc<Box<dyn Pool>> =
            Arc::new(make(Builder::new().queue_before_start().min(0).max(1)));
        pool.start().unwrap();
        assert_eq!(pool.grow(1), 1);
        let p = Arc::clone(&pool);
        let other = thread::spawn(move || p.shrink(1));
        let_others_run();
        let mine = pool.shrink(1);
        let theirs = other.join().unwrap();
        assert_eq!(
            mine + theirs,
            1,
            "two shrinks of 1 worker above min 0 queued {mine} + {theirs} sentinels"
        );
        let s = pool.stats();
        assert!(
            s.pending_stops <= s.workers,
            "more sentinels than workers: {s:?}"
        );
        assert!(pool.stop(Duration::MAX).is_clean());
    });
}

/// stop ‖ stop: two stops racing (the worker busy on a job) queue one sentinel per worker
/// between them, none left over; the one with no deadline returns only once the queue drained
/// and the worker exited, the zero-timeout one at once.
pub fn concurrent_stops_queue_one_sentinel_per_worker(make: Make) {
    explore(
        "concurrent_stops_queue_one_sentinel_per_worker",
        move || {
            let pool: Arc<Box<dyn Pool>> =
                Arc::new(make(Builder::new().queue_before_start().fixed(1)));
            let (started, gate) = (Latch::default(), Latch::default());
            pool.execute(gated(&started, &gate, || ())).unwrap();
            pool.start().unwrap();
            started.wait();
            let p = Arc::clone(&pool);
            let other = thread::spawn(move || {
                let r = p.stop(Duration::MAX);
                (r.is_clean(), r.completed)
            });
            let_others_run();
            let mine = pool.stop(Duration::ZERO);
            assert_eq!(mine.completed, 0, "the job is still held: {mine:?}");
            gate.set();
            assert_eq!(other.join().unwrap(), (true, 1), "the waiting stop");
            let s = pool.stats();
            assert_eq!(
                (s.pending_stops, s.workers),
                (0, 0),
                "a sentinel was left: {s:?}"
            );
        },
    );
}

/// cancel ‖ dequeue: exactly one of a cancel and the worker taking the job wins. (The job waits
/// behind a gated one; the pool is told to stop first, so after the race the worker leaves on
/// its sentinel instead of parking.)
pub fn cancel_and_dequeue_exactly_one_wins(make: Make) {
    explore("cancel_and_dequeue_exactly_one_wins", move || {
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(Builder::new().queue_before_start().fixed(1)));
        let (started, gate) = (Latch::default(), Latch::default());
        pool.execute(gated(&started, &gate, || ())).unwrap();
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let r = std::sync::Arc::clone(&ran);
        let h = pool
            .submit(move || {
                r.fetch_add(1, SeqCst);
                7
            })
            .unwrap();
        pool.start().unwrap();
        started.wait();
        let _ = pool.stop(Duration::ZERO);
        let canceller = thread::spawn(move || {
            let won = h.cancel();
            (won, h)
        });
        let_others_run();
        gate.set();
        let (won, h) = canceller.join().unwrap();
        assert!(
            pool.await_termination(Duration::MAX),
            "the pool never terminated"
        );
        let ran = ran.load(SeqCst);
        assert_eq!(
            usize::from(won) + ran,
            1,
            "cancel won: {won}, the job ran {ran} times"
        );
        match h.join() {
            Ok(7) => assert!(!won, "a cancelled job gave its value"),
            Err(JoinError::Cancelled) => assert!(won, "cancelled, but cancel lost"),
            other => panic!("join gave {other:?}"),
        }
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.cancelled),
            (1 + ran as u64, u64::from(won)),
            "counted {s:?}"
        );
    });
}

/// cancel ‖ stop_now: a cancel is atomic with `stop_now` handing the job back. A cancel made
/// after the stop took effect (the canceller saw a put refused first) finds the job handed back
/// and cancels it there; either way the job is cancelled or handed back exactly once, and its
/// closure is dropped exactly once, never run.
pub fn cancel_racing_stop_now_is_handed_back_or_cancelled_once(make: Make) {
    explore(
        "cancel_racing_stop_now_is_handed_back_or_cancelled_once",
        move || {
            // Not started: no workers, so the race is the caller's and the canceller's alone.
            let pool: Arc<Box<dyn Pool>> =
                Arc::new(make(Builder::new().queue_before_start().fixed(1)));
            let dropped = std::sync::Arc::new(AtomicUsize::new(0));
            let ran = std::sync::Arc::new(AtomicUsize::new(0));
            let guard = DropCount(std::sync::Arc::clone(&dropped));
            let r = std::sync::Arc::clone(&ran);
            let h = pool
                .submit(move || {
                    let _keep = &guard;
                    r.fetch_add(1, SeqCst);
                })
                .unwrap();
            let p = Arc::clone(&pool);
            let canceller = thread::spawn(move || {
                let stopped_first = p.try_put(pool_core::Job::new(|| ())).is_err();
                (stopped_first, h.cancel(), h)
            });
            let_others_run();
            let report = pool.stop_now();
            let (stopped_first, won, h) = canceller.join().unwrap();
            assert!(won, "a job that never started could not be cancelled");
            // The canceller's own put is handed back too if it came before the stop: the
            // submitted job is the one its handle cancelled (a plain job cannot be).
            let handed_back = report.returned.iter().filter(|j| j.is_cancelled()).count();
            let cancelled = pool.stats().cancelled;
            assert_eq!(
                handed_back as u64 + cancelled,
                1,
                "handed back {handed_back}, cancelled in the pool {cancelled}"
            );
            if stopped_first {
                assert_eq!(
                    handed_back, 1,
                    "cancelled in the queue after the stop took effect"
                );
            }
            drop(report);
            assert!(matches!(h.join(), Err(JoinError::Cancelled)));
            assert_eq!(dropped.load(SeqCst), 1, "the closure was dropped once");
            assert_eq!(ran.load(SeqCst), 0, "a cancelled job ran");
        },
    );
}

/// callback ‖ stop: the callback of a job (for a fire-and-forget job that panics, the panic
/// handler) runs exactly once, however the job's end races the stop (the job is released once
/// the stop is on its way).
pub fn callback_runs_exactly_once_across_a_stop(make: Make) {
    explore("callback_runs_exactly_once_across_a_stop", move || {
        let handled = std::sync::Arc::new(AtomicUsize::new(0));
        let h = std::sync::Arc::clone(&handled);
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(
            Builder::new()
                .queue_before_start()
                .fixed(1)
                .panic_handler(move |_, _| {
                    h.fetch_add(1, SeqCst);
                }),
        ));
        let (started, gate) = (Latch::default(), Latch::default());
        pool.execute(gated(&started, &gate, boom)).unwrap();
        pool.start().unwrap();
        started.wait();
        let p = Arc::clone(&pool);
        let stop = thread::spawn(move || p.stop(Duration::MAX).is_clean());
        let_others_run();
        gate.set();
        assert!(stop.join().unwrap());
        assert_eq!(
            handled.load(SeqCst),
            1,
            "the panic handler did not run exactly once"
        );
        assert_eq!(pool.stats().panicked, 1);
    });
}

/// idle timeout ‖ put: a put racing the idle timeout of the only worker (parked; the manual
/// clock steps past its keep-alive) is run, by that worker or by a new one.
pub fn idle_timeout_never_strands_a_racing_put(make: Make) {
    explore("idle_timeout_never_strands_a_racing_put", move || {
        let (clock, hand) = Clock::manual();
        let parked = Latch::default();
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(parked_latch(
            Builder::new()
                .queue_before_start()
                .min(0)
                .max(1)
                .keep_alive(Duration::from_secs(1))
                .clock(clock),
            &parked,
        )));
        pool.start().unwrap();
        assert_eq!(pool.grow(1), 1);
        parked.wait();
        let step = thread::spawn(move || hand.advance(Duration::from_secs(1)));
        let_others_run();
        let ran = Latch::default();
        let r = ran.clone();
        pool.execute(move || r.set()).unwrap();
        step.join().unwrap();
        // Blocks for good (a deadlock loom reports) if the job was stranded.
        ran.wait();
        assert!(pool.stop(Duration::MAX).is_clean());
    });
}

/// start ‖ put: a put racing `start` is queued for the new workers or claimed by them, and
/// runs exactly once.
pub fn put_racing_start_runs_exactly_once(make: Make) {
    explore("put_racing_start_runs_exactly_once", move || {
        let pool: Arc<Box<dyn Pool>> =
            Arc::new(make(Builder::new().queue_before_start().min(0).max(1)));
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let (p, r) = (Arc::clone(&pool), std::sync::Arc::clone(&ran));
        let put = thread::spawn(move || {
            p.execute(move || {
                r.fetch_add(1, SeqCst);
            })
            .is_ok()
        });
        let_others_run();
        let n = pool.start().unwrap();
        assert!(n <= 1, "start created {n} workers with max 1");
        assert!(put.join().unwrap(), "a put racing start was refused");
        assert!(pool.stop(Duration::MAX).is_clean());
        assert_eq!(
            ran.load(SeqCst),
            1,
            "the job ran {} times",
            ran.load(SeqCst)
        );
    });
}

/// join ‖ start: a `join` on a job queued before `start` runs it on the joiner if the pool is
/// still not started, else waits for the worker: either way the job runs exactly once, and the
/// join returns its value (a lost wakeup or a job lost between the two is a deadlock here).
pub fn join_racing_start_runs_the_job_exactly_once(make: Make) {
    explore("join_racing_start_runs_the_job_exactly_once", move || {
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(Builder::new().queue_before_start().fixed(1)));
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let r = std::sync::Arc::clone(&ran);
        let h = pool
            .submit(move || {
                r.fetch_add(1, SeqCst);
                7
            })
            .unwrap();
        let p = Arc::clone(&pool);
        let start = thread::spawn(move || p.start().unwrap());
        let_others_run();
        assert_eq!(h.join().unwrap(), 7);
        assert_eq!(start.join().unwrap(), 1);
        assert!(pool.stop(Duration::MAX).is_clean());
        assert_eq!(
            ran.load(SeqCst),
            1,
            "the job ran {} times",
            ran.load(SeqCst)
        );
        let s = pool.stats();
        assert_eq!((s.completed, s.queued), (1, 0), "{s:?}");
    });
}

/// panic ‖ stop: a job that panics while the pool stops is counted once as panicked, its
/// worker survives it, and the stop still drains and returns.
pub fn panicking_job_racing_stop_is_counted_once(make: Make) {
    explore("panicking_job_racing_stop_is_counted_once", move || {
        let pool: Arc<Box<dyn Pool>> = Arc::new(make(Builder::new().queue_before_start().fixed(1)));
        let (started, gate) = (Latch::default(), Latch::default());
        pool.execute(gated(&started, &gate, boom)).unwrap();
        pool.start().unwrap();
        started.wait();
        let p = Arc::clone(&pool);
        let stop = thread::spawn(move || {
            let r = p.stop(Duration::MAX);
            (r.is_clean(), r.panicked, r.completed)
        });
        let_others_run();
        gate.set();
        let (clean, panicked, completed) = stop.join().unwrap();
        assert!(clean, "stop returned with workers left");
        assert_eq!((panicked, completed), (1, 0), "the stop report");
        let s = pool.stats();
        assert_eq!((s.panicked, s.completed, s.workers), (1, 0, 0), "{s:?}");
    });
}

/// Instantiates every loom model for a backend, one `#[test]` per model named for its
/// property (build with `RUSTFLAGS="--cfg loom"`; see `conformance/loom.sh`):
///
/// ```ignore
/// conformance::loom_suite!(pool_core::Builder::classic);
/// ```
#[macro_export]
macro_rules! loom_suite {
    ($factory:expr) => {
        $crate::loom_suite!(@models $factory;
            stop_never_strands_or_loses_a_racing_put,
            stop_racing_the_put_that_starts_a_worker_runs_or_refuses_it,
            stop_and_put_claiming_the_idle_worker_run_or_refuse_the_job,
            put_racing_a_parking_worker_never_loses_the_wakeup,
            shrink_never_strands_a_racing_put,
            concurrent_shrinks_never_go_below_min,
            concurrent_stops_queue_one_sentinel_per_worker,
            cancel_and_dequeue_exactly_one_wins,
            cancel_racing_stop_now_is_handed_back_or_cancelled_once,
            callback_runs_exactly_once_across_a_stop,
            idle_timeout_never_strands_a_racing_put,
            put_racing_start_runs_exactly_once,
            panicking_job_racing_stop_is_counted_once,
            join_racing_start_runs_the_job_exactly_once,
        );
    };
    (@models $factory:expr; $($model:ident,)*) => {
        $(
            #[test]
            fn $model() {
                $crate::loom_models::$model(|b| {
                    Box::new(($factory)(b).expect("a valid configuration"))
                        as Box<dyn pool_core::Pool>
                });
            }
        )*
    };
}

/// cancel ‖ stop_now, then the job into a second pool: `stop_now` may hand a job back while a
/// cancel that won it out of the queue is still finishing, and its new holder may put it into
/// another pool at once. The canceller's use of the first pool's tie to the job (its sink) comes
/// before the second pool ties the job to itself (loom sees no concurrent access to it), and the
/// job is cancelled exactly once, wherever the cancel finds it: counted cancelled by one pool or
/// handed back cancelled by the second, never run, its closure dropped once.
///
/// Registered per backend in `tests/loom_classic.rs` and `tests/loom_fast.rs`.
pub fn a_job_handed_back_mid_cancel_can_be_queued_again(make: Make) {
    explore(
        "a_job_handed_back_mid_cancel_can_be_queued_again",
        move || {
            // Neither pool is started: no workers, so the race is the canceller's and the stopper's.
            let first = make(Builder::new().queue_before_start().fixed(1));
            let second = make(Builder::new().queue_before_start().fixed(1));
            let dropped = std::sync::Arc::new(AtomicUsize::new(0));
            let ran = std::sync::Arc::new(AtomicUsize::new(0));
            let guard = DropCount(std::sync::Arc::clone(&dropped));
            let r = std::sync::Arc::clone(&ran);
            let h = first
                .submit(move || {
                    let _keep = &guard;
                    r.fetch_add(1, SeqCst);
                })
                .unwrap();
            let canceller = thread::spawn(move || (h.cancel(), h));
            let_others_run();
            let handed_back = first.stop_now().returned;
            let from_first = handed_back.len();
            for job in handed_back {
                second
                    .put(job)
                    .expect("a pool that is not stopped takes a handed-back job");
            }
            let report = second.stop_now();
            // Join before dropping the jobs handed back: dropping one retires it, after which a
            // cancel (rightly) fails.
            let (won, h) = canceller.join().unwrap();
            assert!(won, "a job that never started could not be cancelled");
            let (in_first, in_second) = (first.stats().cancelled, second.stats().cancelled);
            let from_second = report.returned.len();
            assert!(
                report.returned.iter().all(pool_core::Job::is_cancelled),
                "the second pool handed back a job that is not cancelled"
            );
            assert_eq!(
                (in_first, from_first),
                if in_first == 1 { (1, 0) } else { (0, 1) },
                "the first pool cancelled the job {in_first} times and handed it back {from_first}"
            );
            assert_eq!(
                in_first + in_second + from_second as u64,
                1,
                "cancelled in the first pool {in_first}, in the second {in_second}, handed back \
             by the second {from_second}"
            );
            drop(report);
            assert!(matches!(h.join(), Err(JoinError::Cancelled)));
            assert_eq!(dropped.load(SeqCst), 1, "the closure was not dropped once");
            assert_eq!(ran.load(SeqCst), 0, "a cancelled job ran");
        },
    );
}
