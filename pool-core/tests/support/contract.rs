//! The contract every backend must meet, one function per behaviour of `docs/semantics.md`.
//! Tests wait on events (never sleep); anything that could hang is bounded by `T`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::{
    Builder, Clock, ConfigErrorKind, Event, EventLog, ExitReason, Job, JobEnd, JobId, JoinError,
    Outcome, PollError, Pool, PoolExt, PoolState, PutError, ResultQueue, StartError, WorkerId,
};

use super::{
    Gate, T, exited, exited_idle, finished, parked, started, wait_n, wait1, worker_started,
};

type Make<P> = fn(Builder) -> P;

/// A builder that records events into `log`.
fn logged(log: &EventLog) -> Builder {
    Builder::new().on_event(log.listener())
}

pub fn config_errors_name_the_values<P: Pool + 'static>(make: Make<P>) {
    let _ = make;
    let e = Builder::new().min(2).max(1).config().unwrap_err();
    assert_eq!(e.to_string(), "max=1 must be >= min=2");
    assert_eq!(e.kind(), ConfigErrorKind::MaxBelowMin { min: 2, max: 1 });
    assert_eq!(
        Builder::new().max(0).config().unwrap_err().to_string(),
        "max=0 must be >= 1 (or unbounded)"
    );
    assert_eq!(
        Builder::new().capacity(0).config().unwrap_err().to_string(),
        "capacity=0 must be >= 1 (or unbounded)"
    );
    assert!(Builder::new().min(5).unbounded().config().is_ok());
    assert!(Builder::new().min(0).max(1).config().is_ok());
}

pub fn work_queued_before_start_creates_exactly_min_backlog_max_workers<P: Pool + 'static>(
    make: Make<P>,
) {
    for (backlog, expect) in [(2, 2), (5, 3), (0, 1)] {
        let log = EventLog::new();
        let pool = make(logged(&log).min(1).max(3).queue_before_start());
        let gate = Gate::new();
        for _ in 0..backlog {
            pool.execute(gate.job()).unwrap();
        }
        assert_eq!(pool.stats().workers, 0, "no worker before start");
        assert_eq!(pool.stats().queued, backlog);
        assert_eq!(pool.start().unwrap(), expect, "backlog {backlog}");
        wait_n(&log, expect, worker_started);
        wait_n(&log, backlog.min(expect), |e| {
            matches!(e, Event::JobStarted { .. })
        });
        assert_eq!(pool.stats().workers, expect);
        assert_eq!(pool.stats().peak_workers, expect);
        gate.open();
        assert!(pool.stop(T).is_clean());
        assert_eq!(pool.stats().completed, backlog as u64);
    }
}

pub fn start_with_empty_backlog_creates_min_workers<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(2).max(5).queue_before_start());
    assert_eq!(pool.start().unwrap(), 2);
    wait_n(&log, 2, parked);
    let s = pool.stats();
    assert_eq!((s.workers, s.idle, s.busy), (2, 2, 0));
    assert_eq!(s.state, PoolState::Running);
}

pub fn absurd_sizes_are_config_errors_and_record_nothing<P: Pool + 'static>(make: Make<P>) {
    for queued in [true, false] {
        let b = Builder::new().min(1).max(2);
        let pool = make(if queued { b.queue_before_start() } else { b });
        let e = pool.resize(usize::MAX, None).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ConfigErrorKind::TooManyWorkers {
                    bound: "min",
                    value: usize::MAX,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("limit of 65535 workers"), "{e}");
        let e = pool.resize(0, Some(1 << 20)).unwrap_err();
        assert!(e.to_string().starts_with("max=1048576 is above the"), "{e}");
        let s = pool.stats();
        assert_eq!((s.min, s.max), (1, Some(2)), "nothing recorded");
        // A bounded grow asks for what it may: never more than max.
        if !queued {
            assert_eq!(pool.grow(usize::MAX), 1);
        }
        assert!(pool.stop(T).is_clean());
    }
}

pub fn a_worker_whose_start_hook_panics_runs_no_job_and_strands_none<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    // The first worker's hook panics; the next ones initialise.
    let fail = Arc::new(AtomicUsize::new(1));
    let f = fail.clone();
    let pool = make(
        logged(&log)
            .min(0)
            .max(2)
            .thread_name("init")
            .on_worker_start(move || {
                if f.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
                    panic!("init failed")
                }
            }),
    );
    let first = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap();
    wait1(&log, |e| {
        matches!(
            e,
            Event::WorkerSpawnFailed {
                worker: WorkerId(0),
                start_hook_panicked: true
            }
        )
    });
    let s = pool.stats();
    assert_eq!(
        (s.workers, s.queued, s.spawn_failures, s.hook_panics),
        (0, 1, 1, 1),
        "the uninitialised worker is gone, its job still queued: {s}"
    );
    // The next put creates a worker, which takes the queue head first.
    let second = pool.submit(|| 2).unwrap();
    assert_eq!(
        first.join().unwrap().as_deref(),
        Some("init-1"),
        "the job ran on the initialised worker"
    );
    assert_eq!(second.join().unwrap(), 2);
    assert!(pool.stop(T).is_clean());
    assert!(
        !log.events().iter().any(|e| matches!(
            e,
            Event::WorkerStarted {
                worker: WorkerId(0)
            }
        )),
        "the uninitialised worker never started its loop"
    );

    // A hook that always panics: nothing runs uninitialised, and stop hands the job back.
    let log = EventLog::new();
    let pool = make(
        logged(&log)
            .min(0)
            .max(1)
            .on_worker_start(|| panic!("never")),
    );
    let h = pool.submit(|| 3).unwrap();
    wait1(&log, |e| matches!(e, Event::WorkerSpawnFailed { .. }));
    let report = pool.stop(T);
    assert!(report.is_clean());
    assert_eq!(report.returned.len(), 1, "handed back, not stranded");
    assert_eq!(pool.stats().state, PoolState::Terminated);
    for j in report.returned {
        j.run();
    }
    assert_eq!(
        h.join().unwrap(),
        3,
        "running the returned job fills its handle"
    );
}

pub fn a_thread_the_os_refuses_is_counted_and_its_job_comes_back_from_stop<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    // No OS gives a thread a stack of isize::MAX bytes: every spawn is refused.
    let pool = make(logged(&log).min(0).max(2).stack_size(isize::MAX as usize));
    let h = pool.submit(|| 1).unwrap();
    let s = pool.stats();
    assert_eq!(
        (s.workers, s.queued, s.spawn_failures),
        (0, 1, 1),
        "a refused thread is no worker: {s}"
    );
    assert!(log.events().iter().any(|e| matches!(
        e,
        Event::WorkerSpawnFailed {
            start_hook_panicked: false,
            ..
        }
    )));
    assert_eq!(pool.grow(5), 0, "grow says how many really started");
    assert_eq!(pool.stats().workers, 0);
    let report = pool.stop(T);
    assert!(report.is_clean());
    assert_eq!(report.returned.len(), 1, "the job comes back, not stranded");
    drop(report);
    assert!(matches!(h.join(), Err(JoinError::Dropped)));
}

pub fn await_quiescence_waits_until_nothing_is_queued_and_every_worker_is_idle<
    P: Pool + 'static,
>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(2)));
    assert!(pool.await_quiescence(T), "idle workers, nothing queued");
    let gate = Gate::new();
    let a = pool.execute(gate.job()).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let d = done.clone();
        pool.execute(move || {
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    wait1(&log, started(a));
    assert!(!pool.await_quiescence(Duration::ZERO), "a job is running");
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.await_quiescence(T));
    gate.open();
    assert!(waiter.join().unwrap(), "quiet once every job ran");
    let s = pool.stats();
    assert_eq!((s.queued, s.busy, s.completed), (0, 0, 6), "{s}");
    assert_eq!(done.load(SeqCst), 5);
    assert_eq!(
        s.state,
        PoolState::Running,
        "quiescence does not stop the pool"
    );
    let created = make(Builder::new().fixed(1).queue_before_start());
    created.execute(|| ()).unwrap();
    assert!(
        !created.await_quiescence(Duration::from_millis(10)),
        "a job waiting for start is not quiet"
    );
}

pub fn terminated_is_emitted_once_when_the_pool_has_stopped<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(2));
    pool.execute(|| ()).unwrap();
    assert!(pool.stop(T).is_clean());
    wait1(&log, |e| matches!(e, Event::Terminated));
    pool.stop(T);
    let ev = log.events();
    assert_eq!(
        ev.iter().filter(|e| matches!(e, Event::Terminated)).count(),
        1
    );
    assert!(
        matches!(ev.last(), Some(Event::Terminated)),
        "after every worker's exit: {ev:?}"
    );
    let log = EventLog::new();
    let created = make(logged(&log).fixed(1).queue_before_start());
    created.stop_now();
    created.stop(T);
    let n = log
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Terminated))
        .count();
    assert_eq!(n, 1, "a stop of a pool never started terminates it at once");
}

pub fn a_panicking_before_job_vetoes_the_job_and_after_job_is_told_how_jobs_ended<
    P: Pool + 'static,
>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let ends = Arc::new(Mutex::new(Vec::new()));
    let e = ends.clone();
    let vetoed = Arc::new(Mutex::new(Vec::new()));
    let v = vetoed.clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let pool = make(
        logged(&log)
            .fixed(1)
            // Job 1 is vetoed by its hook.
            .before_job(|id| {
                if id == JobId(1) {
                    panic!("vetoed")
                }
            })
            .after_job(move |id, end| e.lock().unwrap().push((id.0, end)))
            .panic_handler(move |id, p| {
                v.lock()
                    .unwrap()
                    .push((id.0, p.message().map(str::to_owned)))
            }),
    );
    let r = ran.clone();
    let ok = pool.submit(move || r.fetch_add(1, SeqCst)).unwrap();
    let r = ran.clone();
    let veto = pool.submit(move || r.fetch_add(1, SeqCst)).unwrap();
    let r = ran.clone();
    let plain = pool.execute(move || {
        r.fetch_add(1, SeqCst);
    });
    let boom = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
    assert_eq!(ok.join().unwrap(), 0);
    match veto.join() {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("vetoed")),
        other => panic!("a vetoed job must end as panicked: {other:?}"),
    }
    assert!(plain.is_ok());
    assert!(boom.join().is_err());
    assert!(pool.stop(T).is_clean());
    assert_eq!(ran.load(SeqCst), 2, "the vetoed job never ran");
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.hook_panics), (2, 2, 0), "{s}");
    assert_eq!(
        *ends.lock().unwrap(),
        vec![
            (0, JobEnd::Completed),
            (1, JobEnd::Panicked),
            (2, JobEnd::Completed),
            (3, JobEnd::Panicked)
        ]
    );
    assert!(
        vetoed.lock().unwrap().is_empty(),
        "payloads went to the handles"
    );
    assert!(
        log.events()
            .iter()
            .any(|e| matches!(e, Event::JobPanicked { job: JobId(1), .. }))
    );
}

pub fn the_builder_returns_a_running_pool<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(1).max(2));
    assert_eq!(pool.stats().state, PoolState::Running, "no start() needed");
    wait1(&log, parked);
    assert_eq!(pool.stats().workers, 1, "min workers from the start");
    let h = pool.submit(|| 5).unwrap();
    assert_eq!(h.join().unwrap(), 5, "a job runs without start()");
    assert!(matches!(pool.start(), Err(StartError::AlreadyStarted)));
    let queued = make(logged(&EventLog::new()).min(1).max(2).queue_before_start());
    assert_eq!(queued.stats().state, PoolState::Created);
    assert_eq!(
        queued.stats().workers,
        0,
        "queue before start: no worker yet"
    );
}

pub fn join_on_a_pool_never_started_runs_the_job_on_the_joiner<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let (before, after) = (hooked.clone(), hooked.clone());
    let pool = make(
        logged(&log)
            .fixed(1)
            .queue_before_start()
            .before_job(move |id| before.lock().unwrap().push(("before", id)))
            .after_job(move |id, _| after.lock().unwrap().push(("after", id))),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let first = pool.execute(|| ()).unwrap();
    let h = pool
        .submit(move || {
            r.fetch_add(1, SeqCst);
            std::thread::current().id()
        })
        .unwrap();
    let id = h.id();
    let boom = pool.submit(|| -> u8 { panic!("boom") }).unwrap();
    let boom_id = boom.id();
    // Without start, a plain join would wait forever: it runs the job on the joiner instead.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((std::thread::current().id(), h.join().unwrap()));
    });
    let (joiner, ran_on) = rx
        .recv_timeout(T)
        .expect("join on a pool that never started hung");
    assert_eq!(ran_on, joiner, "ran on the joiner");
    assert!(matches!(boom.join(), Err(JoinError::Panicked(_))));
    let s = pool.stats();
    assert_eq!(
        s.state,
        PoolState::Created,
        "a join does not start the pool"
    );
    assert_eq!(
        (s.workers, s.queued),
        (0, 1),
        "only the joined jobs left the queue"
    );
    assert_eq!((s.caller_runs, s.completed, s.panicked), (2, 1, 1));
    assert_eq!(
        *hooked.lock().unwrap(),
        vec![
            ("before", id),
            ("after", id),
            ("before", boom_id),
            ("after", boom_id)
        ]
    );
    wait1(
        &log,
        |e| matches!(e, Event::JobRanByCaller { job, panicked: false } if *job == id),
    );
    // After a start, a join waits for the worker as usual.
    let later = pool.submit(|| std::thread::current().id()).unwrap();
    pool.start().unwrap();
    assert_ne!(
        later.join().unwrap(),
        std::thread::current().id(),
        "ran on the worker"
    );
    assert!(pool.stop(T).is_clean());
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.caller_runs), (3, 1, 2));
    assert_eq!(runs.load(SeqCst), 1, "the joined job ran once");
    assert!(
        log.events()
            .iter()
            .any(|e| matches!(e, Event::JobFinished { job, .. } if *job == first))
    );
}

pub fn second_start_is_an_error<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().fixed(1));
    assert!(matches!(pool.start(), Err(StartError::AlreadyStarted)));
    pool.stop(T);
    assert!(matches!(pool.start(), Err(StartError::ShutDown)));
}

pub fn finishing_worker_is_not_spare_capacity<P: Pool + 'static>(make: Make<P>) {
    // The only worker has finished job 0 but is held in the after-job hook, before it looks at
    // the queue: a new job must get a new worker, not wait for that one.
    let log = EventLog::new();
    let hold = Gate::new();
    let h = hold.clone();
    let in_hook = EventLog::new();
    let in_hook_l = in_hook.listener();
    let pool = make(logged(&log).min(0).max(2).after_job(move |id, _| {
        if id == JobId(0) {
            in_hook_l(&Event::JobStarted {
                job: id,
                worker: pool_core::WorkerId(99),
            });
            h.wait();
        }
    }));
    pool.execute(|| ()).unwrap();
    wait1(&in_hook, started(JobId(0)));
    assert_eq!(pool.stats().workers, 1);
    assert_eq!(pool.stats().idle, 0, "a finishing worker is not idle");
    let ran = pool.submit(|| 7).unwrap();
    assert_eq!(
        ran.join().unwrap(),
        7,
        "the second job ran while the first worker was held"
    );
    assert_eq!(pool.stats().peak_workers, 2);
    hold.open();
    pool.stop(T);
}

pub fn sequential_submit_and_join_reuses_the_idle_worker<P: Pool + 'static>(make: Make<P>) {
    // One job in flight at a time, on a pool that may grow far: the worker that ran the last
    // job is idle (or about to be) when the next comes, so the pool must not keep growing.
    // At most 2: the next submit may come while the last worker is still finishing its job.
    let pool = make(Builder::new().min(0).max(256));
    for i in 0..1000u32 {
        assert_eq!(pool.submit(move || i).unwrap().join().unwrap(), i);
    }
    let s = pool.stats();
    assert!(
        s.peak_workers <= 2,
        "1000 sequential submit+join grew the pool to {} workers ({s})",
        s.peak_workers
    );
    assert!(pool.stop(T).is_clean());
}

pub fn idle_worker_is_reused_instead_of_spawning<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(0).max(4));
    for i in 0..5 {
        let id = pool.execute(|| ()).unwrap();
        wait1(&log, finished(id));
        wait_n(&log, i + 1, parked);
    }
    assert_eq!(
        pool.stats().peak_workers,
        1,
        "each job found the parked worker"
    );
    assert_eq!(log.count(worker_started), 1);
}

pub fn max_bounds_the_workers_and_extra_jobs_queue<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(0).max(2));
    let gate = Gate::new();
    for _ in 0..5 {
        pool.execute(gate.job()).unwrap();
    }
    wait_n(&log, 2, |e| matches!(e, Event::JobStarted { .. }));
    let s = pool.stats();
    assert_eq!((s.workers, s.busy, s.queued), (2, 2, 3));
    gate.open();
    pool.stop(T);
    assert_eq!(pool.stats().completed, 5);
    assert_eq!(pool.stats().peak_workers, 2);
}

pub fn try_put_on_full_queue_hands_the_closure_back<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1).capacity(1));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    pool.try_execute(|| ()).unwrap();
    let hit = Arc::new(AtomicUsize::new(0));
    let h = hit.clone();
    let err = pool
        .try_execute(move || {
            h.fetch_add(1, SeqCst);
        })
        .unwrap_err();
    assert!(err.is_full());
    assert_eq!(pool.stats().rejected, 1);
    (err.into_inner())();
    assert_eq!(
        hit.load(SeqCst),
        1,
        "the handed-back closure is the one we submitted"
    );
    // The typed forms hand back too.
    let err = pool.try_submit(|| 5).unwrap_err();
    assert_eq!((err.into_inner())(), 5);
    let err = pool.try_put(Job::new(|| ())).unwrap_err();
    assert!(matches!(err.into_inner().run(), Outcome::Completed));
    gate.open();
    pool.stop(T);
}

pub fn put_timeout_gives_up_at_the_clock_deadline<P: Pool + 'static>(make: Make<P>) {
    let (clock, hand) = Clock::manual();
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(1).capacity(1).clock(clock)));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    pool.execute(|| ()).unwrap();
    let p = pool.clone();
    let c = hand.clone();
    let waiter = std::thread::spawn(move || {
        let r = p.execute_with(|| (), pool_core::Admission::Timeout(Duration::from_secs(3)));
        (r.map_err(|e| e.is_full()), c.now())
    });
    wait1(&log, |e| matches!(e, Event::PutWaiting));
    hand.advance(Duration::from_secs(2));
    hand.advance(Duration::from_secs(1));
    let (result, at) = waiter.join().unwrap();
    assert!(
        at >= Duration::from_secs(3),
        "gave up at {at:?}, before its deadline"
    );
    assert_eq!(result, Err(true), "Full at the deadline");
    gate.open();
    pool.stop(T);
}

pub fn put_waiting_for_room_is_admitted_when_room_appears<P: Pool + 'static>(make: Make<P>) {
    let (clock, _hand) = Clock::manual();
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(1).capacity(1).clock(clock)));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    pool.execute(|| ()).unwrap();
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.submit(|| 9).map(|h| h.join().unwrap()).is_ok());
    gate.open();
    assert!(
        waiter.join().unwrap(),
        "the waiting put got in once the queue moved"
    );
    pool.stop(T);
    assert_eq!(pool.stats().rejected, 0);
}

pub fn caller_runs_policy_runs_the_job_on_the_submitting_thread<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(
        logged(&log)
            .fixed(1)
            .capacity(1)
            .put_timeout(Duration::ZERO)
            .policy(pool_core::Policy::CallerRuns),
    );
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    pool.execute(|| ()).unwrap();
    let me = std::thread::current().id();
    let h = pool.submit(std::thread::current).unwrap();
    assert!(h.is_finished(), "ran before submit returned");
    assert_eq!(h.join().unwrap().id(), me);
    assert_eq!(pool.stats().caller_runs, 1);
    assert_eq!(pool.stats().rejected, 0);
    gate.open();
    pool.stop(T);
    assert_eq!(pool.stats().completed, 3);
}

pub fn discard_oldest_hands_the_evicted_job_to_the_handler<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let evicted = Arc::new(Mutex::new(Vec::new()));
    let ev = evicted.clone();
    let pool = make(
        logged(&log)
            .fixed(1)
            .capacity(2)
            .put_timeout(Duration::ZERO)
            .discard_oldest(move |job| ev.lock().unwrap().push(job)),
    );
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 1..=4 {
        let o = order.clone();
        pool.execute(move || o.lock().unwrap().push(i)).unwrap();
    }
    assert_eq!(pool.stats().queued, 2);
    assert_eq!(pool.stats().rejected, 2);
    gate.open();
    pool.stop(T);
    assert_eq!(*order.lock().unwrap(), vec![3, 4], "the newest jobs stayed");
    let jobs: Vec<Job> = std::mem::take(&mut *evicted.lock().unwrap());
    assert_eq!(jobs.len(), 2, "nothing dropped silently");
    for j in jobs {
        j.run();
    }
    assert_eq!(
        *order.lock().unwrap(),
        vec![3, 4, 1, 2],
        "the evicted were the oldest, in order"
    );
}

pub fn submit_join_returns_the_value<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().min(1).max(3));
    let hs: Vec<_> = (0..20u64)
        .map(|i| pool.submit(move || i * i).unwrap())
        .collect();
    let got: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
}

pub fn try_join_and_join_timeout_hand_the_handle_back_until_done<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1));
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .submit(move || {
            g.wait();
            3
        })
        .unwrap();
    wait1(&log, started(h.id()));
    let h = h.try_join().unwrap_err();
    let h = h.join_timeout(Duration::from_millis(5)).unwrap_err();
    assert!(!h.is_finished());
    gate.open();
    assert_eq!(h.join_timeout(T).unwrap().unwrap(), 3);
}

pub fn cancel_succeeds_only_before_the_job_starts<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1));
    let gate = Gate::new();
    let g = gate.clone();
    let running = pool.submit(move || g.wait()).unwrap();
    wait1(&log, started(running.id()));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let queued = pool
        .submit(move || {
            r.fetch_add(1, SeqCst);
        })
        .unwrap();
    assert!(!running.cancel(), "a started job cannot be cancelled");
    assert!(queued.cancel(), "a queued job can");
    assert!(!queued.cancel(), "only once");
    let s = pool.stats();
    assert_eq!((s.queued, s.cancelled), (0, 1));
    assert!(matches!(queued.join(), Err(JoinError::Cancelled)));
    gate.open();
    running.join().unwrap();
    pool.stop(T);
    assert_eq!(ran.load(SeqCst), 0, "a cancelled job never runs");
    assert_eq!(pool.stats().completed, 1);
}

/// Sets its flag when dropped (with the closure that owns it), and panics then if asked to.
struct DropFlag(Arc<AtomicUsize>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if self.1 {
            panic!("a closure that panics when dropped");
        }
    }
}

pub fn cancel_drops_the_closure_before_it_returns<P: Pool + 'static>(make: Make<P>) {
    // Queued on a pool that has not started, and on a started one behind a busy worker: either
    // way the winning `cancel` drops the closure (and what it captured) on the caller's thread.
    for started_pool in [false, true] {
        let log = EventLog::new();
        let pool = make(logged(&log).fixed(1).queue_before_start());
        let gate = Gate::new();
        if started_pool {
            pool.start().unwrap();
            let g = gate.clone();
            let busy = pool.submit(move || g.wait()).unwrap();
            wait1(&log, started(busy.id()));
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let flag = DropFlag(dropped.clone(), false);
        let h = pool
            .submit(move || {
                let _keep = &flag;
            })
            .unwrap();
        let panicky = DropFlag(dropped.clone(), true);
        let h2 = pool
            .submit(move || {
                let _keep = &panicky;
            })
            .unwrap();
        assert!(h.cancel());
        assert_eq!(dropped.load(SeqCst), 1, "started: {started_pool}");
        assert!(h2.cancel(), "a panicking drop still cancels");
        assert_eq!(dropped.load(SeqCst), 2, "started: {started_pool}");
        assert_eq!(pool.stats().hook_panics, 1, "the panicking drop is counted");
        assert!(matches!(h.join(), Err(JoinError::Cancelled)));
        assert!(matches!(h2.join(), Err(JoinError::Cancelled)));
        gate.open();
        drop(pool);
        assert_eq!(dropped.load(SeqCst), 2, "dropped exactly once");
    }
}

pub fn callback_runs_on_the_worker_right_after_the_job_exactly_once<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1).thread_name("cb"));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let id = pool
        .submit_with_callback(
            || std::thread::current().name().map(str::to_owned),
            move |r| {
                let job_thread = r.unwrap();
                let cb_thread = std::thread::current().name().map(str::to_owned);
                c.lock().unwrap().push((job_thread, cb_thread));
            },
        )
        .unwrap();
    let c = calls.clone();
    let pid = pool
        .submit_with_callback(
            || -> u8 { panic!("boom") },
            move |r| {
                let msg = r.unwrap_err().message().map(str::to_owned);
                c.lock().unwrap().push((msg, None));
            },
        )
        .unwrap();
    wait1(&log, finished(id));
    wait1(&log, finished(pid));
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "each callback exactly once");
    assert_eq!(calls[0].0, calls[0].1, "callback on the job's worker");
    assert!(calls[0].0.as_deref().unwrap().starts_with("cb-"));
    assert_eq!(
        calls[1].0.as_deref(),
        Some("boom"),
        "the panic goes to the callback"
    );
    assert_eq!(pool.stats().panicked, 1);
}

pub fn panicking_job_does_not_kill_its_worker<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let pool = make(logged(&log).fixed(1).panic_handler(move |id, p| {
        s.lock()
            .unwrap()
            .push((id, p.message().unwrap_or("").to_owned()));
    }));
    let id = pool.execute(|| panic!("job exploded")).unwrap();
    let h = pool.submit(|| -> u8 { panic!("handle gets it") }).unwrap();
    assert_eq!(
        pool.submit(|| 1).unwrap().join().unwrap(),
        1,
        "the same worker goes on"
    );
    let hid = h.id();
    match h.join() {
        Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("handle gets it")),
        other => panic!("expected a panic, got {other:?}"),
    }
    wait_n(&log, 3, |e| {
        matches!(e, Event::JobFinished { .. } | Event::JobPanicked { .. })
    });
    assert!(log.count(finished(hid)) == 1);
    let s = pool.stats();
    assert_eq!((s.workers, s.panicked, s.completed), (1, 2, 1));
    assert_eq!(
        log.count(worker_started),
        1,
        "no replacement worker was needed"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(id, "job exploded".to_owned())],
        "only the handle-less panic goes to the handler"
    );
}

pub fn panicking_callback_hook_and_handler_are_caught_and_counted<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = make(
        logged(&log)
            .fixed(1)
            .before_job(|id| {
                if id == JobId(1) {
                    panic!("before")
                }
            })
            .after_job(|id, _| {
                if id == JobId(2) {
                    panic!("after")
                }
            })
            .panic_handler(|_, _| panic!("handler")),
    );
    pool.submit_with_callback(|| (), |_| panic!("callback"))
        .unwrap();
    pool.execute(|| ()).unwrap();
    pool.execute(|| ()).unwrap();
    pool.execute(|| panic!("job")).unwrap();
    assert_eq!(pool.submit(|| 2).unwrap().join().unwrap(), 2);
    pool.stop(T);
    let s = pool.stats();
    // The panicking before_job vetoes job 1: it ends as panicked (its payload goes to the
    // handler, which panics too), it is not a hook panic.
    assert_eq!(s.hook_panics, 4, "callback, after, handler twice");
    assert_eq!((s.completed, s.panicked, s.workers), (3, 2, 0));
}

pub fn result_queue_runs_callbacks_in_the_polling_thread_in_completion_order<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(2));
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let mut rq = ResultQueue::new(&pool);
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let me = std::thread::current().id();
    let mut ids = Vec::new();
    for (i, g) in gates.iter().enumerate() {
        let g = g.clone();
        let o = order.clone();
        let o2 = order.clone();
        ids.push(
            rq.put_request_with(
                move || {
                    g.wait();
                    if i == 1 {
                        panic!("req 1")
                    }
                    i
                },
                move |_, v| {
                    assert_eq!(std::thread::current().id(), me);
                    o.borrow_mut().push(format!("ok{v}"))
                },
                move |_, e| o2.borrow_mut().push(format!("err:{e}")),
            )
            .unwrap(),
        );
    }
    // Complete in the order 1, 0, then 2.
    gates[1].open();
    wait1(&log, finished(ids[1]));
    gates[0].open();
    wait1(&log, finished(ids[0]));
    assert_eq!(rq.pending(), 3, "nothing is delivered until polled");
    assert!(rq.poll(false).unwrap().is_empty());
    assert_eq!(
        *order.borrow(),
        vec!["err:the job panicked: req 1".to_owned(), "ok0".to_owned()]
    );
    gates[2].open();
    assert!(rq.wait().unwrap().is_empty());
    assert_eq!(order.borrow().last().unwrap(), "ok2");
    assert_eq!(rq.poll(true).unwrap_err(), PollError::NoResultsPending);
}

pub fn result_queue_errors_no_results_pending_and_no_workers_available<P: Pool + 'static>(
    make: Make<P>,
) {
    let pool = make(Builder::new().fixed(1).queue_before_start());
    let mut rq = ResultQueue::new(&pool);
    assert_eq!(rq.poll(false).unwrap_err(), PollError::NoResultsPending);
    rq.put_request(|| 1).unwrap();
    assert_eq!(
        rq.poll(true).unwrap_err(),
        PollError::NoWorkersAvailable,
        "not started"
    );
    pool.start().unwrap();
    let got = rq.wait().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].result.as_ref().unwrap(), &1);
}

pub fn batch_results_come_back_in_input_order<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().min(0).max(4).fixed(3));
    let batch = pool.submit_batch((0..50u32).map(|i| {
        move || {
            // Later inputs finish sooner, so completion order differs from input order.
            std::thread::yield_now();
            if i == 7 {
                panic!("seven")
            }
            i * 2
        }
    }));
    assert_eq!(batch.len(), 50);
    let got = batch.join_all();
    for (i, r) in got.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(v, i as u32 * 2),
            Err(pool_core::BatchError::Join(JoinError::Panicked(_))) => assert_eq!(i, 7),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

pub fn grow_starts_at_most_max_minus_live<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(1).max(4).queue_before_start());
    assert_eq!(pool.grow(2), 0, "a pool that is not running does not grow");
    pool.start().unwrap();
    assert_eq!(pool.grow(2), 2);
    assert_eq!(pool.grow(5), 1);
    assert_eq!(pool.grow(1), 0);
    wait_n(&log, 4, parked);
    assert_eq!(pool.stats().idle, 4);
}

pub fn repeated_shrink_before_the_sentinels_are_consumed_stops_at_min<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(1).max(4));
    let gate = Gate::new();
    for _ in 0..4 {
        pool.execute(gate.job()).unwrap();
    }
    wait_n(&log, 4, |e| matches!(e, Event::JobStarted { .. }));
    assert_eq!(pool.shrink(2), 2);
    assert_eq!(pool.shrink(5), 1, "pending stops count toward the limit");
    assert_eq!(pool.shrink(1), 0);
    assert_eq!(pool.stats().pending_stops, 3);
    gate.open();
    wait_n(&log, 3, exited);
    // (Not "one WorkerParked": the min worker may have parked before the jobs came.)
    wait_n(&log, 4, |e| matches!(e, Event::JobFinished { .. }));
    let s = pool.stats();
    assert_eq!((s.workers, s.pending_stops, s.completed), (1, 0, 4));
}

pub fn a_job_submitted_behind_a_shrink_sentinel_still_runs<P: Pool + 'static>(make: Make<P>) {
    // min=0, max=1: the busy worker has a pending stop; the next job must not be stranded
    // behind the sentinel with nobody left to run it.
    let log = EventLog::new();
    let pool = make(logged(&log).min(0).max(1));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    assert_eq!(pool.shrink(1), 1);
    let h = pool.submit(|| "ran").unwrap();
    gate.open();
    assert_eq!(
        h.join_timeout(T).expect("the job was stranded").unwrap(),
        "ran"
    );
    assert!(pool.stop(T).is_clean());
}

pub fn result_queue_callback_panic_loses_no_result<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1));
    let mut rq = ResultQueue::new(&pool);
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut last = JobId(0);
    for i in 0..3 {
        let g = got.clone();
        last = rq
            .put_request_with(
                move || i,
                move |_, v| {
                    if v == 0 {
                        panic!("callback 0")
                    }
                    g.borrow_mut().push(v)
                },
                |_, _| (),
            )
            .unwrap();
    }
    wait1(&log, finished(last));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rq.poll(false)));
    assert!(caught.is_err(), "the callback's panic reaches the caller");
    assert_eq!(rq.pending(), 2);
    rq.wait().unwrap();
    assert_eq!(*got.borrow(), vec![1, 2], "the other results were kept");
}

pub fn shrink_never_interrupts_a_busy_worker<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(0).max(1));
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .submit(move || {
            g.wait();
            "done"
        })
        .unwrap();
    wait1(&log, started(h.id()));
    assert_eq!(pool.shrink(1), 1);
    assert_eq!(pool.stats().workers, 1, "still there while busy");
    gate.open();
    assert_eq!(h.join().unwrap(), "done");
    wait1(&log, exited);
    assert_eq!(pool.stats().workers, 0);
}

pub fn idle_excludes_workers_with_a_pending_stop<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let gate = Gate::new();
    let g = gate.clone();
    // Hold exiting workers in the exit hook so the stop stays observable.
    let pool = make(logged(&log).min(0).max(3).on_worker_exit(move || g.wait()));
    pool.grow(3);
    wait_n(&log, 3, parked);
    assert_eq!(pool.stats().idle, 3);
    assert_eq!(pool.shrink(1), 1);
    assert_eq!(
        pool.stats().idle,
        2,
        "the worker the stop is for is not idle"
    );
    gate.open();
    wait1(&log, exited);
    assert_eq!(pool.stats().workers, 2);
}

pub fn resize_grows_to_min_and_shrinks_to_max<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(1).max(8));
    pool.resize(4, Some(8)).unwrap();
    wait_n(&log, 4, parked);
    assert_eq!(pool.stats().workers, 4);
    pool.resize(0, Some(2)).unwrap();
    wait_n(&log, 2, exited);
    let s = pool.stats();
    assert_eq!((s.workers, s.min, s.max), (2, 0, Some(2)));
    pool.grow(5);
    assert_eq!(pool.stats().workers, 2, "the new max holds");
}

pub fn resize_validates_and_only_records_bounds_when_not_running<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().min(1).max(2).queue_before_start());
    assert_eq!(
        pool.resize(3, Some(2)).unwrap_err().to_string(),
        "max=2 must be >= min=3"
    );
    pool.resize(3, Some(5)).unwrap();
    let s = pool.stats();
    assert_eq!((s.workers, s.min, s.max), (0, 3, Some(5)), "only recorded");
    assert_eq!(pool.start().unwrap(), 3, "start uses the new bounds");
}

pub fn idle_timeout_retires_workers_above_min_on_a_clock_step<P: Pool + 'static>(make: Make<P>) {
    let (clock, hand) = Clock::manual();
    let log = EventLog::new();
    let pool = make(
        logged(&log)
            .min(1)
            .max(3)
            .keep_alive(Duration::from_secs(30))
            .clock(clock),
    );
    pool.grow(2);
    wait_n(&log, 3, parked);
    hand.advance(Duration::from_secs(29));
    assert_eq!(log.count(exited), 0, "not before the keep-alive");
    hand.advance(Duration::from_secs(1));
    wait_n(&log, 2, exited_idle);
    hand.advance(Duration::from_secs(300));
    // The last worker is at min: it stays, however long it idles. Prove it by using it.
    assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
    assert_eq!(pool.stats().workers, 1);
    assert_eq!(log.count(exited), 2);
}

pub fn stop_drains_queued_jobs_before_workers_exit<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(1)));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let d = done.clone();
        pool.execute(move || {
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let p = pool.clone();
    let stopper = std::thread::spawn(move || p.stop(T));
    gate.open();
    let report = stopper.join().unwrap();
    assert_eq!(done.load(SeqCst), 3, "queued work drained");
    assert_eq!(report.completed, 4);
    assert!(report.is_clean() && report.returned.is_empty());
    assert_eq!(pool.stats().state, PoolState::Terminated);
}

pub fn stop_deadline_detaches_a_stuck_worker<P: Pool + 'static>(make: Make<P>) {
    let (clock, hand) = Clock::manual();
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(1).clock(clock)));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    let p = pool.clone();
    let stopper = std::thread::spawn(move || p.stop(Duration::from_secs(5)));
    wait1(&log, |e| matches!(e, Event::StopRequested));
    hand.advance(Duration::from_secs(4));
    hand.advance(Duration::from_secs(1));
    let report = stopper.join().unwrap();
    assert_eq!(
        report.still_running, 1,
        "the stuck worker is reported, not joined"
    );
    assert_eq!(pool.stats().state, PoolState::Stopping);
    gate.open();
    wait1(&log, exited);
    assert!(pool.await_termination(Duration::ZERO));
}

pub fn stop_is_idempotent<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().fixed(2));
    pool.execute(|| ()).unwrap();
    let a = pool.stop(T);
    let b = pool.stop(T);
    assert!(a.is_clean() && b.is_clean());
    assert_eq!(a.completed, b.completed);
    assert_eq!(
        pool.stats().pending_stops,
        0,
        "the second stop queued no sentinels"
    );
    assert!(pool.stop_now().returned.is_empty());
}

pub fn stop_from_inside_a_job_neither_deadlocks_nor_waits_for_its_own_thread<P: Pool + 'static>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = Arc::new(make(logged(&log).fixed(1)));
    let slot: Arc<Mutex<Option<Arc<P>>>> = Arc::new(Mutex::new(Some(pool.clone())));
    let s = slot.clone();
    let queued_ran = Arc::new(AtomicUsize::new(0));
    let h = pool
        .submit(move || {
            let p = s.lock().unwrap().take().unwrap();
            let r = p.stop(T);
            r.still_running
        })
        .unwrap();
    let q = queued_ran.clone();
    // Queued behind the stopping job: the stop must still let it drain.
    let _ = pool.execute(move || {
        q.fetch_add(1, SeqCst);
    });
    assert_eq!(
        h.join().unwrap(),
        1,
        "the stop reports its own worker as still running"
    );
    assert!(pool.await_termination(T));
    assert_eq!(pool.stats().workers, 0);
    let _ = queued_ran.load(SeqCst);
}

pub fn stop_now_returns_exactly_the_never_started_jobs_in_order<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..4 {
        let o = order.clone();
        handles.push(
            pool.submit(move || {
                o.lock().unwrap().push(i);
                i
            })
            .unwrap(),
        );
    }
    assert!(handles[2].cancel());
    let report = pool.stop_now();
    assert_eq!(report.returned.len(), 3, "never-started, not cancelled");
    assert!(pool.execute(|| ()).unwrap_err().is_shut_down());
    gate.open();
    assert!(pool.await_termination(T));
    assert!(
        order.lock().unwrap().is_empty(),
        "returned jobs did not run in the pool"
    );
    for j in report.returned {
        j.run();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 3], "in queue order");
    let joined: Vec<_> = handles.into_iter().map(|h| h.join().ok()).collect();
    assert_eq!(
        joined,
        vec![Some(0), Some(1), None, Some(3)],
        "running a returned job fills its handle"
    );
    assert_eq!(pool.stats().completed, 1);
}

pub fn stop_before_start_hands_the_queued_jobs_back<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().fixed(1).queue_before_start());
    let h = pool.submit(|| 4).unwrap();
    pool.execute(|| ()).unwrap();
    let report = pool.stop(T);
    assert_eq!(report.returned.len(), 2);
    assert_eq!(pool.stats().state, PoolState::Terminated);
    drop(report);
    assert!(
        matches!(h.join(), Err(JoinError::Dropped)),
        "a dropped job answers its handle"
    );
}

pub fn put_after_stop_is_refused_with_the_job_handed_back<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().fixed(1));
    pool.stop(T);
    let err = pool.submit(|| 11).unwrap_err();
    assert!(err.is_shut_down());
    assert_eq!((err.into_inner())(), 11);
    assert!(matches!(
        pool.put(Job::new(|| ())),
        Err(PutError::ShutDown(_))
    ));
    assert_eq!(pool.stats().rejected, 2);
}

pub fn drop_waits_for_the_queued_jobs_within_the_drop_timeout<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1).drop_timeout(T));
    let gate = Gate::new();
    pool.execute(gate.job()).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let d = done.clone();
        pool.execute(move || {
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    // The gate opens only once the drop has begun: every queued job runs inside the drop.
    let (l, g) = (log.clone(), gate.clone());
    let opener = std::thread::spawn(move || {
        wait1(&l, |e| matches!(e, Event::StopRequested));
        g.open();
    });
    drop(pool);
    assert_eq!(
        done.load(SeqCst),
        100,
        "returning from main after the drop loses nothing"
    );
    opener.join().unwrap();
    assert!(
        !log.events()
            .iter()
            .any(|e| matches!(e, Event::DroppedWithWork { .. })),
        "nothing to report"
    );
}

pub fn drop_is_a_nonblocking_stop_that_still_runs_queued_jobs<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(2).drop_timeout(Duration::ZERO));
    let gate = Gate::new();
    let a = pool.execute(gate.job()).unwrap();
    let b = pool.execute(gate.job()).unwrap();
    wait1(&log, started(a));
    wait1(&log, started(b));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let d = done.clone();
        pool.execute(move || {
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    drop(pool); // Must return although both workers are blocked.
    assert!(
        log.events().iter().any(|e| matches!(
            e,
            Event::DroppedWithWork {
                unrun: 5,
                still_running: 2
            }
        )),
        "the drop reports what had not run"
    );
    gate.open();
    wait_n(&log, 2, exited);
    assert_eq!(done.load(SeqCst), 5, "queued jobs ran after the drop");
}

pub fn thread_names_use_the_prefix<P: Pool + 'static>(make: Make<P>) {
    let pool = make(Builder::new().fixed(2).thread_name("web"));
    let name = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    let name = name.unwrap();
    assert!(name == "web-0" || name == "web-1", "got {name}");
}

pub fn lifecycle_hooks_run_on_the_worker_threads<P: Pool + 'static>(make: Make<P>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c, d) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
    let name = || std::thread::current().name().unwrap_or("?").to_owned();
    let pool = make(
        Builder::new()
            .fixed(1)
            .thread_name("hk")
            .on_worker_start(move || a.lock().unwrap().push(format!("start@{}", name())))
            .before_job(move |id| {
                b.lock()
                    .unwrap()
                    .push(format!("before {}@{}", id.0, name()))
            })
            .after_job(move |id, _| c.lock().unwrap().push(format!("after {}@{}", id.0, name())))
            .on_worker_exit(move || d.lock().unwrap().push(format!("exit@{}", name()))),
    );
    pool.submit(|| ()).unwrap().join().unwrap();
    assert!(pool.stop(T).is_clean());
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["start@hk-0", "before 0@hk-0", "after 0@hk-0", "exit@hk-0"],
        "stop waits for the exit hook too"
    );
}

pub fn stats_display_like_dump_stats<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(1).max(3));
    let h = pool.submit(|| ()).unwrap();
    let id = h.id();
    h.join().unwrap();
    // Counters may lag `join` by the worker's bookkeeping: wait for the event that reports it.
    wait1(&log, finished(id));
    let text = pool.stats().to_string();
    for needle in [
        "workers:",
        "working:",
        "waiters:",
        "queue:",
        "completed:     1",
        "max 3",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

pub fn one_submitter_jobs_start_in_submission_order_and_one_worker_completes_in_order<
    P: Pool + 'static,
>(
    make: Make<P>,
) {
    let log = EventLog::new();
    let pool = make(logged(&log).fixed(1).queue_before_start());
    let order = Arc::new(Mutex::new(Vec::new()));
    let ids: Vec<JobId> = (0..50)
        .map(|i| {
            let o = order.clone();
            pool.execute(move || o.lock().unwrap().push(i)).unwrap()
        })
        .collect();
    assert_eq!(
        ids,
        (0..50).map(JobId).collect::<Vec<_>>(),
        "ids in acceptance order"
    );
    pool.start().unwrap();
    pool.stop(T);
    assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
    let starts: Vec<JobId> = log
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::JobStarted { job, .. } => Some(*job),
            _ => None,
        })
        .collect();
    assert_eq!(starts, ids);
}

pub fn stop_sentinel_never_overtakes_an_earlier_job<P: Pool + 'static>(make: Make<P>) {
    let log = EventLog::new();
    let pool = make(logged(&log).min(0).max(1));
    let gate = Gate::new();
    let first = pool.execute(gate.job()).unwrap();
    wait1(&log, started(first));
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let d = done.clone();
        pool.execute(move || {
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    assert_eq!(pool.shrink(1), 1);
    gate.open();
    wait1(&log, |e| {
        matches!(
            e,
            Event::WorkerExited {
                reason: ExitReason::Sentinel,
                ..
            }
        )
    });
    assert_eq!(
        done.load(SeqCst),
        3,
        "every job queued before the sentinel ran first"
    );
    let events = log.events();
    let last_finish = events
        .iter()
        .rposition(|e| matches!(e, Event::JobFinished { .. }))
        .unwrap();
    let sentinel = events
        .iter()
        .position(|e| matches!(e, Event::SentinelTaken { .. }))
        .unwrap();
    assert!(last_finish < sentinel);
}

pub fn await_termination_reports_whether_every_worker_exited<P: Pool + 'static>(make: Make<P>) {
    let (clock, _hand) = Clock::manual();
    let pool = make(Builder::new().fixed(2).clock(clock).queue_before_start());
    assert!(
        !pool.await_termination(Duration::ZERO),
        "a created pool has not terminated"
    );
    pool.start().unwrap();
    assert!(
        !pool.await_termination(Duration::ZERO),
        "a running pool has not terminated"
    );
    pool.stop(T);
    assert!(pool.await_termination(Duration::ZERO));
}

pub fn every_job_is_run_once_or_handed_back<P: Pool + 'static>(make: Make<P>) {
    // Several submitters race cancels and a stop_now against the workers; every job is counted
    // exactly once: completed + panicked + cancelled + returned + refused = submitted.
    let pool = Arc::new(make(Builder::new().min(0).max(3).capacity(8)));
    let runs = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    // Under miri (tens of thousands of times slower, a panic slower still) 4 x 40.
    let per = if cfg!(miri) { 40 } else { 200 };
    let submitted = 4 * per;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (pool, runs, refused) = (pool.clone(), runs.clone(), refused.clone());
            std::thread::spawn(move || {
                for i in 0..per {
                    let r = runs.clone();
                    let job = move || {
                        r.fetch_add(1, SeqCst);
                        if i % 17 == 0 {
                            panic!("x")
                        }
                    };
                    match pool.try_submit(job) {
                        Ok(h) => {
                            if (i + t) % 5 == 0 {
                                h.cancel();
                            }
                        }
                        Err(_) => {
                            refused.fetch_add(1, SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = pool.stop_now();
    let returned = report.returned.len();
    assert!(pool.await_termination(T));
    let s = pool.stats();
    assert_eq!(
        s.completed + s.panicked,
        runs.load(SeqCst) as u64,
        "counted runs = real runs"
    );
    assert_eq!(s.rejected, refused.load(SeqCst) as u64);
    assert_eq!(
        s.completed + s.panicked + s.cancelled + returned as u64 + s.rejected,
        submitted as u64,
        "{s}"
    );
}
