//! Scenarios: one short, deterministic check per semantic, through the `Pool` contract only,
//! so they also run on peers (through adapters that declare what they can express). Each
//! waits on what the jobs or the pool report (a job started, an event, a stop returned), never
//! on time, and ends with the conservation check.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pool_core as pc;
use pool_core::{Builder, Event, JoinError, Pool, PoolExt};

use crate::backend::{Backend, Caps};
use crate::kit::{self, Logs, Obs, Plan, Stream, T, Ticket, lock};
use crate::ledger::{Counters, Fate, Ledger};
use crate::report::{Row, Status, Work};

type Res<V = ()> = Result<V, String>;

/// Fails with `msg` unless `cond`.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Res {
    if cond { Ok(()) } else { Err(msg()) }
}

/// One scenario's pool and jobs.
struct Sc {
    pool: Option<Box<dyn Pool>>,
    caps: Caps,
    logs: Arc<Logs>,
    stream: Stream,
    prefix: Arc<str>,
    hand: Option<pc::ManualClock>,
    tickets: Vec<Ticket>,
    /// Fates the scenario knows (refused, handed back); the others come from the tickets.
    fates: BTreeMap<u64, Fate>,
    returned: u64,
}

impl Sc {
    /// A pool of `backend`, configured by `f` on top of the kit's instruments (events, a
    /// manual clock, an `after_job` hook that can hold a worker), as far as it can express.
    fn new(backend: &Backend, f: impl FnOnce(Builder) -> Builder) -> Res<Sc> {
        kit::quiet_kit_panics();
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix: Arc<str> = format!("sc{}", N.fetch_add(1, SeqCst)).into();
        let caps = backend.caps();
        let stream = Stream::new();
        // Not started: the scenarios call `start` themselves (peers started when built).
        let mut b = Builder::new()
            .queue_before_start()
            // Dropping is the model's non-blocking stop.
            .drop_timeout(Duration::ZERO)
            .thread_name(prefix.to_string())
            .on_event(stream.listener())
            .after_job(|id, _| {
                if let Some(t) = kit::take_last_ran() {
                    t.after_job(id);
                }
            });
        let mut hand = None;
        if caps.clock {
            let (clock, h) = pc::Clock::manual();
            b = b.clock(clock);
            hand = Some(h);
        }
        let pool = backend
            .build(f(b))
            .map_err(|e| format!("building the pool: {e}"))?;
        Ok(Sc {
            pool: Some(pool),
            caps,
            logs: Arc::new(Logs::default()),
            stream,
            prefix,
            hand,
            tickets: Vec::new(),
            fates: BTreeMap::new(),
            returned: 0,
        })
    }

    fn pool(&self) -> &dyn Pool {
        self.pool.as_deref().expect("the pool is not dropped")
    }

    /// Starts the pool (peers started when built: their `start` is a no-op).
    fn start(&self) -> Res<usize> {
        self.pool().start().map_err(|e| format!("start: {e}"))
    }

    fn ticket(&mut self) -> Ticket {
        let t = Ticket::new(
            self.tickets.len() as u64,
            &self.logs,
            &self.stream,
            &self.prefix,
        );
        self.tickets.push(t.clone());
        t
    }

    /// Submits a job that runs as soon as it starts (`plan`); its ticket.
    fn run(&mut self, plan: Plan) -> Res<Ticket> {
        let t = self.ticket();
        t.open(plan);
        self.pool()
            .execute(t.plain_job())
            .map_err(|e| format!("execute: {e}"))?;
        Ok(t)
    }

    /// Submits a gated job and waits until a worker runs it.
    fn running(&mut self) -> Res<Ticket> {
        let t = self.ticket();
        self.pool()
            .execute(t.plain_job())
            .map_err(|e| format!("execute: {e}"))?;
        ensure(t.wait_started(), || "a job never started".to_owned())?;
        Ok(t)
    }

    /// Submits a gated job (it may queue).
    fn gated(&mut self) -> Res<Ticket> {
        let t = self.ticket();
        self.pool()
            .execute(t.plain_job())
            .map_err(|e| format!("execute: {e}"))?;
        Ok(t)
    }

    /// Waits until `n` events match `pred` (the backend reports events).
    fn wait_events(&self, n: usize, pred: impl Fn(&Event) -> bool) -> Res {
        let ok = self.stream.wait_until(Instant::now() + T, |s| {
            s.iter()
                .filter(|o| matches!(o, Obs::Pool(e) if pred(e)))
                .count()
                >= n
        });
        ensure(ok, || format!("{n} awaited events never came"))
    }

    /// Opens every gate, stops the pool (draining), and checks the ledger.
    fn end(mut self) -> Res {
        for t in &self.tickets {
            t.unhold();
            if t.plan().is_none() {
                t.open(Plan::default());
            }
        }
        let (counters, clean) = match self.pool.take() {
            Some(pool) => {
                let r = pool.stop(if self.caps.clock { Duration::MAX } else { T });
                let s = pool.stats();
                let counters = Counters {
                    completed: s.completed,
                    panicked: s.panicked,
                    cancelled: s.cancelled,
                    rejected: s.rejected,
                    returned: self.returned,
                };
                (Some(counters), r.is_clean())
            }
            None => (None, true),
        };
        ensure(clean, || "the final stop left workers running".to_owned())?;
        let mut ledger = Ledger::default();
        for t in &self.tickets {
            let fate = match self.fates.get(&t.tag()) {
                Some(&f) => f,
                None if t.runs() == 1 && t.plan().is_some_and(|p| p.job_panics) => Fate::Panicked,
                None if t.runs() == 1 => Fate::Completed,
                None if t.dropped_unrun() => Fate::Cancelled,
                None => continue,
            };
            ledger.set(t.tag(), fate);
        }
        let refs: Vec<&Ticket> = self.tickets.iter().collect();
        ledger.check(&refs, counters)
    }
}

/// A scenario: a named check of one semantic.
struct Scenario {
    check: &'static str,
    section: &'static str,
    /// Why a backend with these caps cannot run it, if it cannot.
    needs: fn(Caps) -> Option<&'static str>,
    run: fn(&Backend) -> Res,
}

fn always(_: Caps) -> Option<&'static str> {
    None
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        check: "jobs.run_exactly_once",
        section: "§6 conservation",
        needs: always,
        run: jobs_run_exactly_once,
    },
    Scenario {
        check: "order.fifo_one_worker",
        section: "§5 one worker",
        needs: always,
        run: fifo_one_worker,
    },
    Scenario {
        check: "panic.worker_survives",
        section: "§4 panics",
        needs: always,
        run: panic_worker_survives,
    },
    Scenario {
        check: "handle.value_and_panic",
        section: "§3 submit",
        needs: always,
        run: handle_value_and_panic,
    },
    Scenario {
        check: "callback.once_on_the_job_thread",
        section: "§3 submit_with_callback",
        needs: always,
        run: callback_once_on_the_job_thread,
    },
    Scenario {
        check: "cancel.queued_job_never_runs",
        section: "§3 cancel",
        needs: always,
        run: cancel_queued_job_never_runs,
    },
    Scenario {
        check: "queue.full_hands_the_job_back",
        section: "§3 admission 5",
        needs: |c| (!c.bounded_queue).then_some("no bounded queue"),
        run: queue_full_hands_the_job_back,
    },
    Scenario {
        check: "stop.refuses_and_hands_back",
        section: "§3 admission 1",
        needs: always,
        run: stop_refuses_and_hands_back,
    },
    Scenario {
        check: "stop.drains_the_queue",
        section: "§3 stop",
        needs: always,
        run: stop_drains_the_queue,
    },
    Scenario {
        check: "stop.deadline_detaches",
        section: "§3 stop",
        needs: |c| (!(c.clock && c.events)).then_some("no stop deadline on a steppable clock"),
        run: stop_deadline_detaches,
    },
    Scenario {
        check: "stop_now.hands_back_in_order",
        section: "§3 stop_now",
        needs: |c| (!c.stop_now).then_some("cannot take queued jobs back"),
        run: stop_now_hands_back_in_order,
    },
    Scenario {
        check: "shrink.never_below_min",
        section: "§3 shrink",
        needs: |c| (!c.elastic).then_some("no min/max bounds"),
        run: shrink_never_below_min,
    },
    Scenario {
        check: "grow.never_above_max",
        section: "§3 grow",
        needs: |c| (!c.elastic).then_some("no min/max bounds"),
        run: grow_never_above_max,
    },
    Scenario {
        check: "idle.timeout_on_the_clock",
        section: "§1 workers",
        needs: |c| {
            (!(c.clock && c.events && c.elastic)).then_some("no keep-alive on a steppable clock")
        },
        run: idle_timeout_on_the_clock,
    },
    Scenario {
        check: "admission.finishing_worker_is_busy",
        section: "§3 admission 3",
        needs: |c| (!(c.hooks && c.elastic)).then_some("no after_job hook / elastic workers"),
        run: finishing_worker_is_busy,
    },
    Scenario {
        check: "start.min_backlog_max",
        section: "§3 start",
        needs: |c| (!(c.deferred_start && c.elastic)).then_some("starts its threads when built"),
        run: start_min_backlog_max,
    },
    Scenario {
        check: "drop.still_runs_queued_jobs",
        section: "§3 drop",
        needs: always,
        run: drop_still_runs_queued_jobs,
    },
];

/// Runs every scenario on `backend`, one row each.
pub(crate) fn check_all(backend: &Backend) -> Vec<Row> {
    SCENARIOS
        .iter()
        .map(|s| {
            let (status, runs) = match (s.needs)(backend.caps()) {
                Some(why) => (Status::Unsupported(why.to_owned()), 0),
                None => {
                    let r =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (s.run)(backend)));
                    let status = match r {
                        Ok(Ok(())) => Status::Pass,
                        Ok(Err(m)) => Status::Fail(m),
                        Err(_) => Status::Fail("the scenario panicked".to_owned()),
                    };
                    (status, 1)
                }
            };
            Row {
                check: s.check,
                section: s.section,
                status,
                work: Work {
                    scenarios: runs,
                    ..Work::default()
                },
            }
        })
        .collect()
}

fn jobs_run_exactly_once(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(0).max(3))?;
    sc.start()?;
    let tickets: Vec<Ticket> = (0..60).map(|_| sc.ticket()).collect();
    for t in &tickets {
        t.open(Plan::default());
    }
    let pool = sc.pool();
    std::thread::scope(|s| {
        for chunk in tickets.chunks(15) {
            s.spawn(move || {
                for t in chunk {
                    let _ = pool.execute(t.plain_job());
                }
            });
        }
    });
    let twice: Vec<u64> = tickets
        .iter()
        .filter(|t| t.runs() > 1)
        .map(Ticket::tag)
        .collect();
    ensure(twice.is_empty(), || format!("jobs ran twice: {twice:?}"))?;
    sc.end()
}

fn fifo_one_worker(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let first = sc.running()?;
    let queued: Vec<Ticket> = (0..8)
        .map(|_| sc.run(Plan::default()))
        .collect::<Res<_>>()?;
    first.open(Plan::default());
    sc.pool().stop(T);
    let got: Vec<u64> = lock(&sc.logs.ran).iter().map(|r| r.0).skip(1).collect();
    let want: Vec<u64> = queued.iter().map(Ticket::tag).collect();
    ensure(got == want, || {
        format!("one worker ran {want:?} in the order {got:?}")
    })?;
    sc.end()
}

fn panic_worker_survives(b: &Backend) -> Res {
    let handled = Arc::new(AtomicUsize::new(0));
    let h2 = Arc::clone(&handled);
    let mut sc = Sc::new(b, |b| {
        b.fixed(1).panic_handler(move |_, _| {
            h2.fetch_add(1, SeqCst);
        })
    })?;
    sc.start()?;
    let t = sc.run(Plan {
        job_panics: true,
        ..Plan::default()
    })?;
    ensure(t.wait_started(), || {
        "the panicking job never ran".to_owned()
    })?;
    let next = sc.ticket();
    next.open(Plan::default());
    let after = sc
        .pool()
        .submit(next.job())
        .map_err(|e| e.to_string())?
        .join_timeout(T)
        .map_err(|_| "no job ran after a panic".to_owned())?;
    ensure(after.is_ok(), || {
        format!("the job after a panic gave {after:?}")
    })?;
    let s = sc.pool().stats();
    ensure(s.panicked == 1, || {
        format!("stats.panicked = {}", s.panicked)
    })?;
    if sc.caps.hooks {
        ensure(handled.load(SeqCst) == 1, || {
            "the panic handler did not get the panic exactly once".to_owned()
        })?;
    }
    sc.end()
}

fn handle_value_and_panic(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(0).max(2))?;
    sc.start()?;
    let (tv, tp) = (sc.ticket(), sc.ticket());
    tv.open(Plan::default());
    tp.open(Plan {
        job_panics: true,
        ..Plan::default()
    });
    let v = sc.pool().submit(tv.job()).map_err(|e| e.to_string())?;
    let p = sc.pool().submit(tp.job()).map_err(|e| e.to_string())?;
    let v = v.join_timeout(T).map_err(|_| "join timed out")?;
    let p = p.join_timeout(T).map_err(|_| "join timed out")?;
    ensure(matches!(v, Ok(t) if t == tv.tag()), || {
        format!("submit gave {v:?}")
    })?;
    ensure(matches!(p, Err(JoinError::Panicked(_))), || {
        format!("a panicking submit gave {p:?}")
    })?;
    sc.end()
}

fn callback_once_on_the_job_thread(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(0).max(2))?;
    sc.start()?;
    let calls = Arc::new(Mutex::new(Vec::new()));
    for job_panics in [false, true] {
        let t = sc.ticket();
        t.open(Plan {
            job_panics,
            ..Plan::default()
        });
        let (c, tag) = (Arc::clone(&calls), t.tag());
        sc.pool()
            .submit_with_callback(t.job(), move |r| {
                lock(&c).push((tag, r.is_ok(), std::thread::current().id()));
            })
            .map_err(|e| e.to_string())?;
    }
    sc.pool().stop(T);
    let calls = lock(&calls).clone();
    let ran = lock(&sc.logs.ran).clone();
    ensure(calls.len() == 2, || {
        format!("{} callback runs for 2 jobs", calls.len())
    })?;
    ensure(calls.iter().any(|c| !c.1), || {
        "a panic did not reach its callback".to_owned()
    })?;
    ensure(
        calls
            .iter()
            .all(|(tag, _, at)| ran.iter().any(|r| r.0 == *tag && r.1 == *at)),
        || "a callback ran on another thread than its job".to_owned(),
    )?;
    sc.end()
}

fn cancel_queued_job_never_runs(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let first = sc.running()?;
    let t = sc.ticket();
    let queued = sc.pool().submit(t.job()).map_err(|e| e.to_string())?;
    // `first` blocks the only worker: both are queued; only `queued` is cancelled.
    let r = sc.ticket();
    r.open(Plan::default());
    let next = sc.pool().submit(r.job()).map_err(|e| e.to_string())?;
    ensure(queued.cancel(), || {
        "cancel of a queued job returned false".to_owned()
    })?;
    ensure(!queued.cancel(), || {
        "a second cancel returned true".to_owned()
    })?;
    first.open(Plan::default());
    let v = next.join_timeout(T).map_err(|_| "join timed out")?;
    ensure(v.is_ok(), || {
        format!("the job after a cancelled one gave {v:?}")
    })?;
    let q = queued.join_timeout(T).map_err(|_| "join timed out")?;
    ensure(matches!(q, Err(JoinError::Cancelled)), || {
        format!("the cancelled job's handle gave {q:?}")
    })?;
    sc.pool().stop(T);
    ensure(t.runs() == 0, || "a cancelled job ran".to_owned())?;
    let s = sc.pool().stats();
    ensure(s.cancelled == 1, || {
        format!("stats.cancelled = {}", s.cancelled)
    })?;
    sc.end()
}

fn queue_full_hands_the_job_back(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1).capacity(1))?;
    sc.start()?;
    let _first = sc.running()?;
    let _queued = sc.gated()?;
    let t = sc.ticket();
    let err = sc.pool().try_execute(t.plain_job());
    let Err(e) = err else {
        return Err("try_execute on a full queue was accepted".to_owned());
    };
    ensure(e.is_full(), || format!("refused with {e:?}, not Full"))?;
    drop(e.into_inner());
    ensure(t.dropped_unrun(), || {
        "the job handed back is not the one submitted".to_owned()
    })?;
    sc.fates.insert(t.tag(), Fate::Refused);
    let s = sc.pool().stats();
    ensure(s.rejected == 1, || {
        format!("stats.rejected = {}", s.rejected)
    })?;
    sc.end()
}

fn stop_refuses_and_hands_back(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(1).max(2))?;
    sc.start()?;
    sc.pool().stop(T);
    let t = sc.ticket();
    match sc.pool().execute(t.plain_job()) {
        Ok(_) => {
            t.open(Plan::default());
            Err("a job put after stop was accepted".to_owned())
        }
        Err(e) => {
            ensure(e.is_shut_down(), || {
                format!("refused with {e:?}, not ShutDown")
            })?;
            drop(e.into_inner());
            ensure(t.dropped_unrun(), || {
                "the job handed back is not ours".to_owned()
            })?;
            sc.fates.insert(t.tag(), Fate::Refused);
            sc.end()
        }
    }
}

fn stop_drains_the_queue(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let first = sc.running()?;
    let queued: Vec<Ticket> = (0..5).map(|_| sc.gated()).collect::<Res<_>>()?;
    for t in &queued {
        t.open(Plan::default());
    }
    let stopped = std::thread::scope(|s| {
        let stop = s.spawn(|| sc.pool().stop(Duration::MAX));
        first.open(Plan::default());
        stop.join()
    })
    .map_err(|_| "stop panicked")?;
    ensure(stopped.is_clean(), || {
        "stop returned with workers left".to_owned()
    })?;
    ensure(queued.iter().all(|t| t.runs() == 1), || {
        "stop returned before the queued jobs ran".to_owned()
    })?;
    ensure(stopped.completed == 6, || {
        format!("the report counts {} completed", stopped.completed)
    })?;
    sc.end()
}

fn stop_deadline_detaches(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let stuck = sc.running()?;
    let hand = sc.hand.clone().expect("a manual clock");
    let report = std::thread::scope(|s| {
        let stop = s.spawn(|| sc.pool().stop(Duration::from_secs(5)));
        let begun = sc.wait_events(1, |e| matches!(e, Event::StopRequested));
        hand.advance(Duration::from_secs(4));
        hand.advance(Duration::from_secs(1));
        (begun, stop.join())
    });
    let (begun, report) = report;
    begun?;
    let report = report.map_err(|_| "stop panicked")?;
    ensure(report.still_running == 1, || {
        format!(
            "stop at its deadline reports {} still running",
            report.still_running
        )
    })?;
    stuck.open(Plan::default());
    ensure(sc.pool().await_termination(Duration::MAX), || {
        "the detached worker never exited".to_owned()
    })?;
    sc.end()
}

fn stop_now_hands_back_in_order(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let first = sc.running()?;
    let queued: Vec<Ticket> = (0..3).map(|_| sc.gated()).collect::<Res<_>>()?;
    let report = sc.pool().stop_now();
    ensure(report.still_running == 1, || {
        format!("stop_now reports {} still running", report.still_running)
    })?;
    let before = lock(&sc.logs.dropped).len();
    sc.returned += report.returned.len() as u64;
    drop(report);
    let got = lock(&sc.logs.dropped)[before..].to_vec();
    let want: Vec<u64> = queued.iter().map(Ticket::tag).collect();
    ensure(got == want, || {
        format!("stop_now handed back {got:?}, queued were {want:?}")
    })?;
    for t in &queued {
        sc.fates.insert(t.tag(), Fate::Returned);
    }
    first.open(Plan::default());
    sc.end()
}

fn shrink_never_below_min(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(1).max(3))?;
    sc.start()?;
    let busy: Vec<Ticket> = (0..3).map(|_| sc.running()).collect::<Res<_>>()?;
    let first = sc.pool().shrink(1);
    let second = sc.pool().shrink(5);
    let third = sc.pool().shrink(1);
    ensure((first, second, third) == (1, 1, 0), || {
        format!("shrinks of 3 busy workers above min 1 gave {first}, {second}, {third}")
    })?;
    for t in &busy {
        t.open(Plan::default());
    }
    sc.wait_events(2, |e| {
        matches!(
            e,
            Event::WorkerExited {
                reason: pc::ExitReason::Sentinel,
                ..
            }
        )
    })?;
    let s = sc.pool().stats();
    ensure(s.workers == 1, || {
        format!("{} workers left, min is 1", s.workers)
    })?;
    sc.end()
}

fn grow_never_above_max(b: &Backend) -> Res {
    let sc = Sc::new(b, |b| b.min(0).max(2))?;
    sc.start()?;
    let (a, b2) = (sc.pool().grow(5), sc.pool().grow(1));
    ensure((a, b2) == (2, 0), || {
        format!("grow(5), grow(1) gave {a}, {b2} with max 2")
    })?;
    sc.end()
}

fn idle_timeout_on_the_clock(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(1).max(3).keep_alive(Duration::from_secs(5)))?;
    sc.start()?;
    let busy: Vec<Ticket> = (0..3).map(|_| sc.running()).collect::<Res<_>>()?;
    for t in &busy {
        t.open(Plan::default());
    }
    sc.wait_events(3, |e| matches!(e, Event::WorkerParked { .. }))?;
    let hand = sc.hand.clone().expect("a manual clock");
    hand.advance(Duration::from_secs(4));
    ensure(sc.pool().stats().workers == 3, || {
        "a worker exited before its keep-alive".to_owned()
    })?;
    hand.advance(Duration::from_secs(1));
    sc.wait_events(2, |e| {
        matches!(
            e,
            Event::WorkerExited {
                reason: pc::ExitReason::IdleTimeout,
                ..
            }
        )
    })?;
    let s = sc.pool().stats();
    ensure(s.workers == 1, || {
        format!("{} workers after the keep-alive, min is 1", s.workers)
    })?;
    sc.end()
}

fn finishing_worker_is_busy(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(0).max(2))?;
    sc.start()?;
    let first = sc.running()?;
    first.open(Plan {
        hold_after: true,
        ..Plan::default()
    });
    let held = sc.stream.wait_until(Instant::now() + T, |s| {
        s.iter().any(|o| matches!(o, Obs::Held(_)))
    });
    ensure(held, || "the worker never reached after_job".to_owned())?;
    let s = sc.pool().stats();
    ensure(s.idle == 0, || {
        format!("a finishing worker counts as idle (idle = {})", s.idle)
    })?;
    let second = sc.run(Plan::default())?;
    ensure(second.wait_started(), || {
        "a job waited for the finishing worker instead of getting a new one".to_owned()
    })?;
    let s = sc.pool().stats();
    ensure(s.peak_workers == 2, || {
        format!("peak_workers = {}", s.peak_workers)
    })?;
    first.unhold();
    sc.end()
}

fn start_min_backlog_max(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.min(1).max(3))?;
    let queued: Vec<Ticket> = (0..5).map(|_| sc.gated()).collect::<Res<_>>()?;
    ensure(sc.pool().stats().workers == 0, || {
        "workers before start".to_owned()
    })?;
    let n = sc.start()?;
    ensure(n == 3, || {
        format!("start with 5 queued, min 1, max 3 created {n}")
    })?;
    for t in &queued[..3] {
        ensure(t.wait_started(), || {
            "a started worker did not take a queued job".to_owned()
        })?;
    }
    sc.end()
}

fn drop_still_runs_queued_jobs(b: &Backend) -> Res {
    let mut sc = Sc::new(b, |b| b.fixed(1))?;
    sc.start()?;
    let first = sc.running()?;
    let queued: Vec<Ticket> = (0..3).map(|_| sc.gated()).collect::<Res<_>>()?;
    let pool = sc.pool.take().expect("alive");
    let t0 = Instant::now();
    drop(pool);
    ensure(t0.elapsed() < T / 2, || "drop blocked".to_owned())?;
    first.open(Plan::default());
    for t in &queued {
        t.open(Plan::default());
    }
    for t in &queued {
        ensure(t.wait_started(), || {
            "a job queued at the drop never ran".to_owned()
        })?;
    }
    // The pool is gone: the ledger checks the jobs alone.
    sc.end()
}
